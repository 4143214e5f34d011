"""What the audit checks against ballot stuffing: ballot tags, and ballots per state against the roll.

Every ballot item carries `tag` = HMAC(ballot subkey of the plan's queue key, bk|state|candidate|region),
written by `process` (election/lambdas/logic.py). An item planted with PutItem by anyone who cannot
read the queue key has no tag that verifies, and the audit names it. The roll per state bounds the
ballots per state (a stuffed state shows more ballots than voters).
"""

from __future__ import annotations

import hmac
from collections import Counter
from dataclasses import dataclass, field

from election.errors import ElectionError
from election.lambdas import logic
from election.lambdas.contract import BALLOTS_KEY
from election.ops.state import scan
from election.ops.target import Target

NAMED = 10   # bad ballots named one by one in the audit; the rest are counted


def ballot_tag_key(target: Target) -> bytes:
    """The ballot subkey of the plan's queue key (the operator's identity must be allowed to read it)."""
    region = target.plan.primary_region
    sm = target.client("secretsmanager", region)
    try:
        value = sm.get_secret_value(SecretId=target.names.queue_key)["SecretString"]
    except Exception as exc:  # noqa: BLE001 - say which secret and why, in one sentence
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ElectionError(f"The queue key {target.names.queue_key} cannot be read in {region} ({code}), "
                            "so ballot tags cannot be verified.") from None
    return logic.subkey(bytes.fromhex(value.strip()), "ballot")


def roll_by_state(target: Target, region: str) -> Counter:
    """Voters on the roll per state (a Scan of `state` only)."""
    out: Counter = Counter()
    for item in scan(target, region, target.names.voters, ProjectionExpression="#s",
                     ExpressionAttributeNames={"#s": "state"}):
        out[item.get("state")] += 1
    return out


@dataclass
class Tags:
    """Ballots a region wrote, checked: per state, and those whose tag does not verify."""

    by_state: Counter = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)     # "<bk> (<state>, '<candidate>')"
    checked: int = 0


def check_tags(target: Target, region: str, key: bytes) -> Tags:
    """Verify the tag of every ballot `region` wrote (attribute region == its own)."""
    out = Tags()
    for item in scan(target, region, target.names.ballots):
        if item.get("region") != region:
            continue
        out.checked += 1
        st, cand, bk = str(item.get("state")), str(item.get("candidate")), str(item.get(BALLOTS_KEY))
        out.by_state[st] += 1
        want = logic.ballot_tag(key, bk, st, cand, region)
        if not hmac.compare_digest(want, str(item.get(logic.BALLOT_TAG_ATTR, ""))):
            out.bad.append(f"{bk} ({st}, '{cand[:64]}')")
    return out


def findings(target: Target, key: bytes | None) -> tuple[list[str], int]:
    """Discrepancy sentences about stuffing, and how many ballot tags were verified."""
    out: list[str] = []
    plan = target.plan
    if key is None:
        return out, 0
    roll = roll_by_state(target, plan.primary_region)
    by_state: Counter = Counter()
    checked = 0
    for region in plan.region_names:
        tags = check_tags(target, region, key)
        checked += tags.checked
        by_state.update(tags.by_state)
        if tags.bad:
            named = ", ".join(tags.bad[:NAMED]) + (f" and {len(tags.bad) - NAMED} more" if len(tags.bad) > NAMED else "")
            out.append(f"{len(tags.bad)} ballot(s) in {region} carry no valid tag, so the pipeline did not write "
                       f"them: {named}.")
    for st in sorted(by_state):
        if by_state[st] > roll.get(st, 0):
            out.append(f"{st} has {by_state[st]} ballot(s) but only {roll.get(st, 0)} voter(s) on its roll.")
    return out, checked
