"""What every part of the model shares: the engine's context values, tags, ARNs, JSON with Refs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from election.plan import Plan
from election.provision.model.names import Names
from election.provision.resources import TAG_PLAN, Join, Ref, Resource, ref_keys

CTX_ACCOUNT = Ref("@ctx", "account_id")     # resolved by the engine from the caller's identity
CTX_PARTITION = Ref("@ctx", "partition")
TAG_REGION = "election:region"


def names(plan: Plan) -> Names:
    return Names(plan.name)


def plan_tags(plan: Plan) -> dict[str, str]:
    """Tags on every resource: the operator's tags plus the plan tag discovery relies on.

    (The plan refuses operator tags under `election:`, so the plan tag cannot be overridden.)
    """
    return {**dict(plan.tags), TAG_PLAN: plan.name}


def arn(service: str, region: str, rest: str) -> Join:
    """arn:<partition>:<service>:<region>:<account>:<rest>, resolved by the engine."""
    return Join(("arn:", CTX_PARTITION, f":{service}:{region}:", CTX_ACCOUNT, f":{rest}"))


def res(kind: str, region: str, name: str, props: dict[str, Any], tags: Mapping[str, str],
        depends_on: tuple[str, ...] = ()) -> Resource:
    """A Resource whose depends_on also lists every resource its props refer to."""
    deps = tuple(dict.fromkeys(ref_keys(props) + depends_on))
    return Resource(kind=kind, region=region, name=name, props=props, depends_on=deps, tags=dict(tags))


def interleave(items: list[Any], sep: str) -> list[Any]:
    out: list[Any] = []
    for i, item in enumerate(items):
        if i:
            out.append(sep)
        out.append(item)
    return out


def json_join(mapping: Mapping[str, Any]) -> Any:
    """A compact JSON object whose string values may be Refs, as a Join (or plain text without Refs)."""
    if not any(isinstance(v, Ref) for v in mapping.values()):
        return json.dumps(dict(mapping), separators=(",", ":"))
    parts: list[Any] = ["{"]
    for i, (k, v) in enumerate(mapping.items()):
        parts.append(("," if i else "") + json.dumps(k) + ':"')
        parts.append(v)
        parts.append('"')
    parts.append("}")
    return Join(tuple(parts))
