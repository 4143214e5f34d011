"""Where an ops command points: the plan, AWS clients and, for the local stack, its endpoints.

Every ops command (seed-voters, loadtest, results, audit, recount, dlq, open,
close) resolves its target here so they all find AWS or the local stack the
same way: with an explicit --plan they talk to what that plan describes; with
no --plan and a running local stack (.election/local.json) they use it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from election.errors import ElectionError
from election.ops.names import Names
from election.plan import Plan, load_plan, parse_plan
from election.provision.clients import ClientProvider

LOCAL_ENDPOINTS = Path(".election") / "local.json"


@dataclass
class Target:
    """A plan plus the clients to reach it; `endpoints` is set only for the local stack."""

    plan: Plan
    provider: ClientProvider
    endpoints: Mapping[str, Any] | None = None
    _queue_urls: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def names(self) -> Names:
        return Names(self.plan.name)

    @property
    def is_local(self) -> bool:
        return self.endpoints is not None

    def client(self, service: str, region: str) -> Any:
        return self.provider.client(service, region)

    def queue_url(self, region: str, name: str) -> str:
        """The URL of queue `name` in `region`, looked up once (names are deterministic)."""
        key = (region, name)
        with self._lock:
            if key in self._queue_urls:
                return self._queue_urls[key]
        sqs = self.client("sqs", region)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            raise ElectionError(f"The queue {name} does not exist in {region}; "
                                f"is the plan '{self.plan.name}' deployed (election up)?") from None
        with self._lock:
            self._queue_urls[key] = url
        return url

    def api_urls(self) -> dict[str, str]:
        """Base URL of each region's HTTP API (local stack: from local.json; AWS: discovered)."""
        if self.endpoints is not None:
            return dict(self.endpoints.get("regions") or {})
        urls = {}
        for region in self.plan.region_names:
            apis = self.client("apigatewayv2", region).get_apis().get("Items", [])
            for api in apis:
                if api.get("Name", "").startswith(self.plan.name) and api.get("ApiEndpoint"):
                    urls[region] = api["ApiEndpoint"]
                    break
        return urls

    def entry_url(self) -> str:
        """Where voters' requests go: the router (local) or the first region's API (AWS, no domain)."""
        if self.endpoints is not None and self.endpoints.get("router"):
            return str(self.endpoints["router"]).rstrip("/")
        if self.plan.domain:
            return f"https://api.{self.plan.domain}"
        urls = self.api_urls()
        if not urls:
            raise ElectionError(f"No HTTP API of plan '{self.plan.name}' was found; deploy it (election up) "
                                "or pass --url.")
        return urls.get(self.plan.primary_region, next(iter(urls.values()))).rstrip("/")


def read_local_endpoints(path: Path = LOCAL_ENDPOINTS) -> dict[str, Any] | None:
    """The running local stack's endpoints, or None when there is no local stack file."""
    try:
        from election.local.endpoints import read_endpoints  # the local stack's own reader, once it exists
    except ImportError:
        read_endpoints = None
    if read_endpoints is not None and path == LOCAL_ENDPOINTS:
        try:
            found = read_endpoints()
        except ElectionError:
            raise
        except Exception:  # noqa: BLE001 - fall back to reading the file ourselves
            found = None
        if found:
            return dict(found)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ElectionError(f"{path} is not readable JSON ({exc}); restart the local stack (election dev).") from None


def _plan_from_endpoints(endpoints: Mapping[str, Any]) -> Plan:
    plan = endpoints.get("plan")
    if isinstance(plan, Mapping):
        return parse_plan(dict(plan), "<local stack plan>")
    if isinstance(plan, str) and plan:
        return load_plan(plan)
    return load_plan("config/local.yaml")


def _plan_given_explicitly() -> bool:
    """True when --plan came from the command line or ELECTION_PLAN (not the default)."""
    try:
        import click
        ctx = click.get_current_context(silent=True)
        if ctx is None:
            return False
        source = ctx.get_parameter_source("plan")
        return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
    except Exception:  # noqa: BLE001 - outside click: treat as not explicit
        return False


def resolve_target(opts: Any, explicit_plan: bool | None = None,
                   endpoints_path: Path = LOCAL_ENDPOINTS) -> Target:
    """The target of an ops command: the local stack when no --plan was given and it runs, else the plan."""
    explicit = _plan_given_explicitly() if explicit_plan is None else explicit_plan
    endpoint_url = getattr(opts, "endpoint_url", None)
    profile = getattr(opts, "profile", None)
    if not explicit:
        endpoints = read_local_endpoints(endpoints_path)
        if endpoints:
            plan = _plan_from_endpoints(endpoints)
            url = endpoint_url or endpoints.get("endpoint_url")
            return Target(plan=plan, provider=ClientProvider(endpoint_url=url, profile=profile),
                          endpoints=endpoints)
    plan = load_plan(opts.plan_path)
    if plan.target == "local" and not endpoint_url:
        raise ElectionError(f"{opts.plan_path} is a local plan but no local stack is running; "
                            "start one with `election dev` (or pass --endpoint-url).")
    return Target(plan=plan, provider=ClientProvider(endpoint_url=endpoint_url, profile=profile))
