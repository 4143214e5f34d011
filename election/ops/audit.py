"""Reconcile the whole election: roll, ballots, counters, queues, dead letters, accepted receipts.

Every check that fails adds one sentence to `discrepancies`, naming where and
by how much; the verdict is clean only when there are none. The optional
receipt ledger (written by `loadtest`, or any list of receipts voters were
given) proves the strongest invariant: every vote answered 202 is a ballot
or sits visibly in a dead-letter queue.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from election.errors import ElectionError
from election.lambdas.common import plain
from election.lambdas.contract import BALLOTS_KEY, RECEIPT_RE
from election.ops import dlq, integrity, polls, state
from election.ops.target import Target
from election.plan import STATES


@dataclass
class Audit:
    """Everything the audit looked at, and what it found wrong."""

    roll: dict[str, int]
    ballots_held: dict[str, int]
    ballots_own: dict[str, int]
    counted: dict[str, int]
    queues: dict[str, dict[str, int]]
    tally_lag: dict[str, int]
    receipts_checked: int = 0
    tags_checked: int = 0
    left_out: int = 0
    discrepancies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def load_receipts(path: Path) -> list[dict[str, str]]:
    """Accepted votes from a ledger: one JSON object per line with receipt and state (and candidate).

    A file that is not a ledger is one sentence naming the line, before anything is looked up.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ElectionError(f"{path} is not text; is it a receipts ledger from loadtest?") from None
    except OSError as exc:
        raise ElectionError(f"The receipts file {path} cannot be read ({exc.strerror or exc}).") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("receipt"), str) \
                or not isinstance(entry.get("state"), str):
            raise ElectionError(f"{path} line {number} is not a receipt entry "
                                '({"receipt": ..., "state": ...} as loadtest writes).')
        if not RECEIPT_RE.match(entry["receipt"]):
            raise ElectionError(f"{path} line {number}: {entry['receipt'][:40]!r} is not a receipt "
                                "(32 hex digits).")
        if entry["state"] not in STATES:
            raise ElectionError(f"{path} line {number}: {entry['state'][:8]!r} is not a US state or DC postal code.")
        out.append(entry)
    return out


def missing_receipts(target: Target, receipts: list[dict[str, str]]) -> list[dict[str, str]]:
    """The ledger entries with no ballot in their home region (BatchGetItem, 100 keys a call)."""
    homes = target.plan.state_regions()
    by_region: dict[str, dict[str, dict[str, str]]] = {}
    for r in receipts:
        by_region.setdefault(homes.get(r["state"], target.plan.primary_region), {})[r["receipt"]] = r
    missing: list[dict[str, str]] = []
    for region, wanted in by_region.items():
        found = fetch_ballots(target, region, list(wanted))
        missing.extend(v for k, v in wanted.items() if k not in found)
    return missing


def fetch_ballots(target: Target, region: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Ballots by key from `region`'s table (consistent reads; unprocessed keys asked again)."""
    ddb = target.client("dynamodb", region)
    table = target.names.ballots
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": [{BALLOTS_KEY: {"S": k}} for k in keys[i:i + 100]],
                                           "ConsistentRead": True}}
        while request:
            resp = ddb.batch_get_item(RequestItems=request)
            for item in resp.get("Responses", {}).get(table, []):
                p = {k: plain(v) for k, v in item.items()}
                out[p[BALLOTS_KEY]] = p
            request = resp.get("UnprocessedKeys") or {}
    return out


def audit(target: Target, receipts: list[dict[str, str]] | None = None) -> Audit:
    """Run every check and return the findings (no writes anywhere).

    Beyond the counts: every ballot's tag is verified and ballots per state are held against the
    roll per state (election/ops/integrity.py); votes `close --force` left out are reported.
    Each step below appends its sentences in this order, so a report reads the same every time.
    """
    plan, names = target.plan, target.names
    regions = plan.region_names
    roll = {r: state.count_items(target, r, names.voters) for r in regions}
    ballots = state.count_all_ballots(target)
    counters = state.read_counters(target)
    queues = state.queue_depths(target)
    a = Audit(roll=roll, ballots_held={r: ballots[r].held for r in regions},
              ballots_own={r: sum(ballots[r].own.values()) for r in regions},
              counted={r: sum(counters[r].values()) for r in regions}, queues=queues,
              tally_lag={r: sum(ballots[r].own.values()) - sum(counters[r].values()) for r in regions})
    d = a.discrepancies
    d.extend(_replication_findings(a))
    for r in regions:
        d.extend(_ballot_findings(target, r, ballots[r].own))
        d.extend(_count_findings(r, ballots[r].own, counters[r]))
    d.extend(_tag_findings(target, a))
    a.left_out = _left_out(target)
    if a.left_out:
        d.append(f"{a.left_out} accepted vote(s) were left out of the final result: `election close --force` "
                 "closed while they sat in a dead-letter queue.")
    d.extend(_queue_findings(target, queues))
    if receipts:
        a.receipts_checked = len(receipts)
        d.extend(_receipt_findings(target, receipts, queues, a.left_out))
    return a


def _replication_findings(a: Audit) -> list[str]:
    """Roll and ballots compared across regions: global tables must converge to the same counts."""
    out: list[str] = []
    roll = a.roll
    if len(set(roll.values())) > 1:
        out.append("The voter roll differs between regions (" + ", ".join(f"{r}: {n}" for r, n in roll.items())
                   + "): replication is behind or a write was lost.")
    total_ballots = sum(a.ballots_own.values())
    if total_ballots > max(roll.values(), default=0):
        out.append(f"There are {total_ballots} ballots but only {max(roll.values())} voters on the roll.")
    if len(set(a.ballots_held.values())) > 1 or (a.ballots_held and max(a.ballots_held.values()) != total_ballots):
        out.append("The ballots tables disagree between regions (" + ", ".join(
            f"{r} holds {n}" for r, n in a.ballots_held.items()) + f", {total_ballots} written in all): "
            "replication is behind.")
    return out


def _ballot_findings(target: Target, region: str, own: Counter[tuple[str, str]]) -> list[str]:
    """Ballots written in `region`: each must be in its state's home region and for a candidate on that ballot."""
    plan = target.plan
    homes = plan.state_regions()
    out: list[str] = []
    for (st, cand), n in sorted(own.items()):
        if homes.get(st) != region:
            out.append(f"{n} ballot(s) of {st} were written in {region}, which is not {st}'s home region "
                       f"({homes.get(st)}).")
        if cand not in plan.ballot.for_state(st):
            out.append(f"{n} ballot(s) in {st} are for '{cand}', who is not on {st}'s ballot.")
    return out


def _count_findings(region: str, own: Counter[tuple[str, str]], shard: Counter[tuple[str, str]]) -> list[str]:
    """The results counters of `region` held against its own ballots, per state and candidate (the tally's job)."""
    out: list[str] = []
    for counted in sorted(set(own) | set(shard)):
        if own[counted] != shard[counted]:
            st, cand = counted
            diff = shard[counted] - own[counted]
            what = f"{diff} more" if diff > 0 else f"{-diff} fewer"
            out.append(f"{st} / {cand} in {region}: the results count {shard[counted]} but there are "
                       f"{own[counted]} ballot(s) ({what} counted than cast).")
    return out


def _tag_findings(target: Target, a: Audit) -> list[str]:
    """Every ballot's tag verified (sets a.tags_checked); a missing tag key is itself a finding, not a crash."""
    out: list[str] = []
    try:
        key: bytes | None = integrity.ballot_tag_key(target)
    except ElectionError as exc:
        key = None
        out.append(str(exc))
    found, a.tags_checked = integrity.findings(target, key)
    out.extend(found)
    return out


def _left_out(target: Target) -> int:
    """Votes `close --force` left out of the result, as recorded on the polls (the largest over regions)."""
    return max((int(p.get("left_out") or 0) for p in polls.read_polls(target.provider, target.plan).values()),
               default=0)


def _queue_findings(target: Target, queues: dict[str, dict[str, int]]) -> list[str]:
    """Anything still queued, parked in a dead-letter queue or given up by the tally: not yet (or never) counted."""
    names = target.names
    out: list[str] = []
    for r, qs in queues.items():
        for q in names.work_queues:
            if qs[q]:
                out.append(f"{qs[q]} vote(s) are still queued in {q} ({r}): not yet ballots.")
        for q in names.dead_letter_queues:
            if qs[q]:
                out.append(f"{qs[q]} message(s) sit in the dead-letter queue {q} ({r}); inspect with "
                           f"`election dlq list` and replay with `election dlq redrive`.")
        if qs.get(names.tally_failures):
            out.append(f"The tally in {r} gave up on {qs[names.tally_failures]} stream batch(es) (listed by "
                       f"`election dlq list`): their ballots are not counted; fix the cause, then run "
                       f"`election recount`.")
    return out


def _receipt_findings(target: Target, receipts: list[dict[str, str]], queues: dict[str, dict[str, int]],
                      left_out: int) -> list[str]:
    """Every accepted receipt is a ballot, or parked in a dead-letter queue, or left out at close; else lost.

    Lost votes are only named as lost when no work queue still holds votes (otherwise: audit again later).
    """
    missing = missing_receipts(target, receipts)
    if not missing:
        return []
    names = target.names
    dead = {x.receipt for x in dlq.list_dead_letters(target)} if any(
        qs[q] for qs in queues.values() for q in names.dead_letter_queues) else set()
    lost = [m for m in missing if m["receipt"] not in dead]
    parked = len(missing) - len(lost)
    excused = min(len(lost), left_out)   # named above as left out at close, not lost
    lost = lost[excused:]
    queued = sum(qs[q] for qs in queues.values() for q in names.work_queues)
    out: list[str] = []
    if parked:
        out.append(f"{parked} accepted vote(s) are not ballots yet but sit in a dead-letter queue.")
    if lost and queued:
        out.append(f"{len(lost)} accepted vote(s) have no ballot yet while {queued} vote(s) are still "
                   "queued; audit again once the queues drain.")
    elif lost:
        out.append(_lost_sentence(lost))
    return out


def _lost_sentence(lost: list[dict[str, str]]) -> str:
    """One sentence naming lost votes by state / candidate and the first five receipts (to look them up)."""
    by = Counter(f"{m['state']} / {m['candidate']}" for m in lost)
    return (f"{len(lost)} accepted vote(s) have no ballot and are in no queue (lost): "
            + ", ".join(f"{k} x{n}" for k, n in sorted(by.items())) + "; receipts "
            + ", ".join(m["receipt"] for m in lost[:5]) + (" ..." if len(lost) > 5 else "") + ".")
