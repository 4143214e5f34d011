"""The interface every resource kind implements, and the values the engine passes around.

A kind knows how to read, create, update and delete one sort of AWS resource
and how to find the ones tagged for a plan. It never decides *whether* to act:
the engine diffs and decides; the kind only talks to AWS.
"""

from __future__ import annotations

from typing import Any, Protocol

from election.provision.resources import (  # noqa: F401  (re-exported: kinds import them from here)
    TAG_PLAN,
    TAG_REGIONS,
    Actual,
    Change,
    Found,
    Join,
    Ref,
    Resource,
    diff_props,
)


class Context(Protocol):
    """What a kind may use: clients per region, the account, a sleep it must use for waits."""

    plan_name: str

    @property
    def account_id(self) -> str: ...

    @property
    def partition(self) -> str: ...

    def client(self, service: str, region: str) -> Any: ...

    def sleep(self, seconds: float) -> None: ...


class Kind(Protocol):
    """Read / create / update / delete one resource kind. Props passed in are resolved (no Refs)."""

    name: str

    def read(self, ctx: Context, res: Resource) -> Actual | None: ...

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]: ...

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]: ...

    def delete(self, ctx: Context, found: Found) -> None: ...

    def discover(self, ctx: Context, region: str) -> list[Found]: ...
