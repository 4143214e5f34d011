"""The model's IAM documents with concrete ARNs, for tests that check or install them.

`resolve` replaces the model's Refs and Joins by the ARNs AWS would give each
resource (the account and partition of moto's default account), so a test can
evaluate a policy against the resources a handler names, or put it on a role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from election.provision.resources import Join, Ref

ACCOUNT = "123456789012"
PARTITION = "aws"


def arn_of(ref: Ref, stream_arn: Callable[[str, str], str] | None = None) -> str:
    """The ARN AWS gives the resource behind `ref` (key "<region>/<kind>/<name>")."""
    if ref.key == "@ctx":
        return {"account_id": ACCOUNT, "partition": PARTITION}[ref.attr]
    region, kind, name = ref.key.split("/", 2)
    if kind == "table":
        if ref.attr == "stream_arn":
            return stream_arn(region, name) if stream_arn else \
                f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}/stream/2026-01-01T00:00:00.000"
        return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"
    if kind == "queue":
        return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"
    if kind == "kms_key":
        return f"arn:aws:kms:{region}:{ACCOUNT}:key/00000000-0000-0000-0000-{region.replace('-', '')[:12]:0>12}"
    if kind == "log_group":
        return f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}"
    if kind == "iam_role":
        return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    if kind == "secret":
        return f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-AbCdEf"
    raise KeyError(f"no ARN shape for {ref.key}")


def resolve(value: Any, stream_arn: Callable[[str, str], str] | None = None) -> Any:
    """`value` with every Ref and Join replaced by concrete strings."""
    if isinstance(value, Ref):
        return arn_of(value, stream_arn)
    if isinstance(value, Join):
        return value.sep.join(str(resolve(p, stream_arn)) for p in value.parts)
    if isinstance(value, Mapping):
        return {k: resolve(v, stream_arn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, stream_arn) for v in value]
    return value


def without(doc: Mapping[str, Any], action: str) -> dict[str, Any]:
    """`doc` with `action` removed from every statement (statements left with no action dropped)."""
    out = []
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        kept = [a for a in actions if a != action]
        if kept:
            out.append({**st, "Action": kept})
    return {**doc, "Statement": out}


def actions_of(doc: Mapping[str, Any]) -> list[str]:
    """Every action a document allows, in order, once."""
    seen: dict[str, None] = {}
    for st in doc["Statement"]:
        for a in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
            seen[a] = None
    return list(seen)
