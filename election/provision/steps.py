"""What a diff says: one Step per resource (an Action and the fields that change), gathered in a PlanResult.

Plain data, no boto3: `election plan` renders it, `election up` applies exactly it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from election.provision.resources import Change


class Action(StrEnum):
    """What happens to one resource. A StrEnum, so its JSON and its text are the plain words."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


class _Unknown:
    """A value known only after apply (an output of a resource not created yet)."""

    def __repr__(self) -> str:
        return "(known after apply)"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Step:
    """One line of a plan: what happens to one resource, and which fields change."""

    key: str
    kind: str
    region: str
    name: str
    action: Action
    changes: tuple[Change, ...] = ()
    note: str = ""


@dataclass
class PlanResult:
    """The diff of a plan against AWS: steps in apply order, then deletions."""

    steps: list[Step] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action == action)

    @property
    def changed(self) -> bool:
        return any(s.action != Action.NOOP for s in self.steps)

    def by_region(self) -> dict[str, list[Step]]:
        out: dict[str, list[Step]] = {}
        for s in self.steps:
            out.setdefault(s.region, []).append(s)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [{"key": s.key, "kind": s.kind, "region": s.region, "name": s.name, "action": str(s.action),
                 "changes": [{"field": c.field, "old": plain(c.old), "new": plain(c.new)} for c in s.changes],
                 **({"note": s.note} if s.note else {})} for s in self.steps]


def plain(value: Any) -> Any:
    """A value as the plan shows it: unknown outputs and bytes in words."""
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
