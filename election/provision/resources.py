"""The values the model builds and the engine passes around: plain data, no boto3.

`Resource` is one desired resource; `Ref` / `Join` are values known only once another
resource exists; `Actual` is what AWS reports, `Found` what discovery finds by the plan tag,
`Change` one differing field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TAG_PLAN = "election:plan"          # every resource carries it: the plan name
TAG_REGIONS = "election:regions"    # on the KMS keys: the plan's regions, to find removed regions


@dataclass(frozen=True)
class Ref:
    """A value known only once another resource exists: output `attr` of resource `key`."""

    key: str
    attr: str


@dataclass(frozen=True)
class Join:
    """A string built from literals and Refs (e.g. a CORS origin list); the engine resolves and joins it."""

    parts: tuple[Any, ...]
    sep: str = ""


@dataclass(frozen=True)
class Resource:
    """One desired resource. `props` holds the fields the engine diffs (may contain Refs and Joins).

    Props whose name starts with "_" are inputs for the kind (e.g. the zip bytes), never diffed or shown.
    One is the engine's: `_after`, keys of `depends_on` that only order the work (a resource that exists
    is read and diffed even while such a dependency is still to be created).
    """

    kind: str
    region: str
    name: str
    props: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.region}/{self.kind}/{self.name}"


@dataclass
class Actual:
    """What AWS reports: `props` in the same shape as Resource.props; `outputs` (arn, url, id...)."""

    props: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Found:
    """A resource discovered in AWS by its plan tag (for deletions of what left the plan)."""

    kind: str
    region: str
    name: str
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.region}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class Change:
    """One differing field; `old` is None for a field AWS does not have yet."""

    field: str
    old: Any
    new: Any


def ref_keys(value: Any) -> tuple[str, ...]:
    """Keys of every Ref in a value, at any depth (in order, repeats kept)."""
    if isinstance(value, Ref):
        return (value.key,)
    if isinstance(value, Join):
        return ref_keys(value.parts)
    if isinstance(value, Mapping):
        return tuple(k for v in value.values() for k in ref_keys(v))
    if isinstance(value, (list, tuple)):
        return tuple(k for v in value for k in ref_keys(v))
    return ()


def diff_props(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[Change]:
    """Field-by-field differences; only fields present in `desired` are compared."""
    return [Change(k, actual.get(k), v) for k, v in desired.items()
            if not k.startswith("_") and _norm(actual.get(k)) != _norm(v)]


def _norm(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value
