"""A small evaluator of IAM policy documents: pure data in, a decision out.

moto checks a request's action against the caller's identity policies but
neither resource ARNs (except SQS queues and STS roles), nor conditions, nor
resource-based policies (secret, key and queue policies). This module is what
the local stack and the tests use instead, following AWS's documented logic
(IAM User Guide, "Policy evaluation logic"): an explicit Deny in any policy
wins; otherwise an Allow is needed; otherwise the request is implicitly
denied. Wildcards follow IAM: `*` any run of characters, `?` one character;
actions compare case-insensitively, ARNs case-sensitively.

Supported condition operators are the ones this project's documents use
(String*/Arn* equality and Like, their Not forms, Bool); an unsupported
operator raises, so a document never silently passes a check it was not
checked against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALLOW, DENY, IMPLICIT = "Allow", "Deny", "ImplicitDeny"


@lru_cache(maxsize=4096)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard match of one pattern against one value."""
    return _regex(pattern, ignore_case).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(frozen=True)
class Request:
    """What a policy is evaluated against: who asks, for what, on which resources, in what context.

    `principal` is the caller's ARN as IAM sees it for Principal matching and aws:PrincipalArn
    (for a role session: the role's ARN); `service` is set when an AWS service principal asks
    (e.g. "logs.us-east-1.amazonaws.com"). `resources` empty means "no resource known": then the
    Resource element is not checked (action-only, as moto does).
    """

    action: str
    resources: tuple[str, ...] = ()
    principal: str | None = None
    service: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    def context_values(self, key: str) -> list[str] | None:
        if key.lower() == "aws:principalarn" and self.principal:
            return [self.principal]
        for k, v in self.context.items():
            if k.lower() == key.lower():
                return [str(x) for x in _as_list(v)]
        return None


def _principal_matches(element: Any, req: Request) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        raise TypeError(f"unsupported Principal element {element!r}")
    for kind, values in element.items():
        for v in _as_list(values):
            if kind == "AWS":
                if v == "*" or (req.principal and v == req.principal):
                    return True
                # The account root as principal means every principal of that account (the
                # resource owner delegates to IAM policies).
                if req.principal and v.endswith(":root") and req.principal.split(":")[4] == v.split(":")[4]:
                    return True
            elif kind == "Service" and req.service and v == req.service:
                return True
    return False


_STRING_OPS = {
    "StringEquals": (False, False, False), "StringNotEquals": (True, False, False),
    "StringEqualsIgnoreCase": (False, False, True), "StringNotEqualsIgnoreCase": (True, False, True),
    "StringLike": (False, True, False), "StringNotLike": (True, True, False),
    "ArnEquals": (False, False, False), "ArnNotEquals": (True, False, False),
    "ArnLike": (False, True, False), "ArnNotLike": (True, True, False),
}


def _condition_holds(op: str, key: str, wanted: Any, req: Request) -> bool:
    present = req.context_values(key)
    if op == "Null":
        return (present is None) == (str(_as_list(wanted)[0]).lower() == "true")
    if_exists = op.endswith("IfExists")
    base = op[:-len("IfExists")] if if_exists else op
    if base == "Bool":
        if present is None:
            return if_exists
        return any(p.lower() == str(w).lower() for p in present for w in _as_list(wanted))
    if base not in _STRING_OPS:
        raise ValueError(f"unsupported condition operator {op}")
    negated, like, ignore_case = _STRING_OPS[base]
    if present is None:
        # AWS: a missing key makes the positive operators false and the negated ones true.
        return True if if_exists else negated
    hit = any((matches(str(w), p, ignore_case) if like else
               (p.lower() == str(w).lower() if ignore_case else p == str(w)))
              for p in present for w in _as_list(wanted))
    return not hit if negated else hit


def _statement_applies(st: Mapping[str, Any], req: Request) -> bool:
    """Action, principal, resource and condition all match (each element or its Not* form)."""
    return (_action_applies(st, req) and _principal_applies(st, req) and _resource_applies(st, req)
            and all(_condition_holds(op, key, wanted, req)
                    for op, block in (st.get("Condition") or {}).items() for key, wanted in block.items()))


def _action_applies(st: Mapping[str, Any], req: Request) -> bool:
    if "Action" in st and not any(matches(a, req.action, ignore_case=True) for a in _as_list(st["Action"])):
        return False
    return not ("NotAction" in st and any(matches(a, req.action, ignore_case=True) for a in _as_list(st["NotAction"])))


def _principal_applies(st: Mapping[str, Any], req: Request) -> bool:
    if "Principal" in st and not _principal_matches(st["Principal"], req):
        return False
    return not ("NotPrincipal" in st and _principal_matches(st["NotPrincipal"], req))


def _resource_applies(st: Mapping[str, Any], req: Request) -> bool:
    """Every requested resource matches Resource (or none matches NotResource); no resources: applies."""
    if not req.resources:
        return True
    if "Resource" in st:
        pats = _as_list(st["Resource"])
        return all(any(matches(p, r) for p in pats) for r in req.resources)
    if "NotResource" in st:
        pats = _as_list(st["NotResource"])
        return not any(matches(p, r) for p in pats for r in req.resources)
    return True


def evaluate(policies: Iterable[Mapping[str, Any]], req: Request) -> str:
    """ALLOW, DENY (an explicit Deny matched) or IMPLICIT (nothing allowed it) over all `policies`."""
    allowed = False
    for doc in policies:
        for st in _as_list(doc.get("Statement")):
            if _statement_applies(st, req):
                if st.get("Effect") == "Deny":
                    return DENY
                allowed = True
    return ALLOW if allowed else IMPLICIT


def allowed(policies: Sequence[Mapping[str, Any]], action: str, resources: Sequence[str] = (),
            principal: str | None = None, context: Mapping[str, Any] | None = None) -> bool:
    """Shorthand: whether `policies` allow `action` on every one of `resources`."""
    return evaluate(policies, Request(action, tuple(resources), principal, context=context or {})) == ALLOW
