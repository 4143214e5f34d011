"""One boto3 client per (service, region), shared by threads, every call counted.

Counting happens in botocore's `before-call` hook so tests and benchmarks can
prove claims such as "a second `up` makes zero mutating calls".
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.session

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Query", "Scan", "BatchGet", "Lookup", "Search")


def is_read(operation: str) -> bool:
    """Reads never change anything; everything else counts as a mutating call."""
    return operation.startswith(READ_PREFIXES)


def is_loopback(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClientProvider:
    """Clients per (service, region) behind a lock; `calls` counts (service, operation)."""

    def __init__(self, endpoint_url: str | None = None, profile: str | None = None,
                 max_attempts: int = 8, credentials: dict[str, str] | None = None) -> None:
        """`credentials` (boto3 Session keyword arguments) win over the profile: the local stack's operator."""
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.calls: Counter[tuple[str, str]] = Counter()
        self._clients: dict[tuple[str, str], Any] = {}
        self._hooks: list[tuple[str, Callable[..., Any]]] = []
        self._lock = threading.Lock()
        self._config = botocore.config.Config(retries={"max_attempts": max_attempts, "mode": "adaptive"},
                                              max_pool_connections=32)
        self._session = (boto3.Session(aws_access_key_id=credentials.get("aws_access_key_id"),
                                       aws_secret_access_key=credentials.get("aws_secret_access_key"),
                                       aws_session_token=credentials.get("aws_session_token"))
                         if credentials else boto3.Session(profile_name=profile))
        if is_loopback(endpoint_url) and self._session.get_credentials() is None:
            # A local moto server accepts any credentials; don't make newcomers invent some.
            self._session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                          aws_session_token="testing")

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self.raw_client(service, region)
                found.meta.events.register("before-call", self._count)
                for event, handler in self._hooks:
                    found.meta.events.register(event, handler)
                if self.emulated():
                    from election.provision import emulator

                    emulator.attach(found, self)
                self._clients[key] = found
            return found

    def register(self, event: str, handler: Callable[..., Any]) -> None:
        """A botocore event handler on every client, made or to be made (e.g. a test's fault injection)."""
        with self._lock:
            self._hooks.append((event, handler))
            for client in self._clients.values():
                client.meta.events.register(event, handler)

    def raw_client(self, service: str, region: str, config: botocore.config.Config | None = None) -> Any:
        """A client of the same account and endpoint that is neither counted nor hooked (for an emulator's own calls);
        `config` overrides the shared one (the load fleet's invocations must never be retried)."""
        # boto3-stubs types client() only for literal service names; ours are chosen at run time.
        make: Callable[..., Any] = self._session.client
        return make(service, region_name=region, endpoint_url=self._endpoint_for(service, region),
                    config=self._config.merge(config) if config else self._config)

    def emulated(self) -> bool:
        """True when an emulator answers: a loopback endpoint (a moto server) or moto in this process."""
        from election.provision import inprocess

        return is_loopback(self.endpoint_url) or (self.endpoint_url is None and inprocess.moto_loaded())

    def _endpoint_for(self, service: str, region: str) -> str | None:
        """The one place subclasses change where a client points (e.g. moto's streams host)."""
        return self.endpoint_url

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[(model.service_model.service_name, model.name)] += 1

    def counts(self) -> tuple[int, int]:
        """(read calls, mutating calls) made so far."""
        reads = sum(n for (_, op), n in self.calls.items() if is_read(op))
        return reads, sum(self.calls.values()) - reads

    def mutating_calls(self) -> dict[str, int]:
        return {f"{svc}:{op}": n for (svc, op), n in sorted(self.calls.items()) if not is_read(op)}

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
