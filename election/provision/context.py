"""What the engine hands every kind during one run: clients, the caller's account, an interruptible sleep,
and per-run memos so a region's listing is read once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from election.plan import Plan
from election.provision.clients import ClientProvider


class Cancelled(Exception):
    """Raised in a step's thread once the run was interrupted, so no new AWS call or wait starts."""


class RunContext:
    """Satisfies kinds.base.Context: clients per region, the account, the injected sleep."""

    def __init__(self, plan: Plan, provider: ClientProvider, sleep: Callable[[float], None] | None) -> None:
        self.plan_name = plan.name
        self._plan = plan
        self._provider = provider
        self._sleep = sleep
        self._identity: dict[str, str] | None = None
        self._lock = threading.Lock()
        self.cancelled = threading.Event()
        self._memo: dict[Any, Any] = {}
        self._memo_locks: dict[Any, threading.Lock] = {}

    def new_run(self) -> None:
        """Forget the listings of the previous diff/apply/destroy: each run reads AWS afresh."""
        with self._lock:
            self._memo.clear()
            self._memo_locks.clear()

    def memo(self, key: Any, fetch: Callable[[], Any]) -> Any:
        """One answer per key per run: a region's listing read once serves every resource's read and discover.

        Only what existed when the run started may be taken from it; kinds read what they just changed directly.
        """
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:   # one fetch per key even when several steps ask at once
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            value = fetch()
            with self._lock:
                self._memo[key] = value
            return value

    def client(self, service: str, region: str) -> Any:
        if self.cancelled.is_set():
            raise Cancelled("the run was interrupted")
        return self._provider.client(service, region)

    def sleep(self, seconds: float) -> None:
        """Wait (a bounded wait's backoff); ends at once with Cancelled when the run is interrupted."""
        if self._sleep is None:
            self.cancelled.wait(seconds)
        else:
            self._sleep(seconds)
        if self.cancelled.is_set():
            raise Cancelled("the run was interrupted")

    def _who(self) -> dict[str, str]:
        with self._lock:
            if self._identity is None:
                arn = self.client("sts", self._plan.primary_region).get_caller_identity()
                self._identity = {"account_id": arn["Account"], "partition": arn["Arn"].split(":")[1]}
            return self._identity

    @property
    def account_id(self) -> str:
        return self._who()["account_id"]

    @property
    def partition(self) -> str:
        return self._who()["partition"]
