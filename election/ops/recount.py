"""Rebuild the results counters from the ballots table (the ballots are the record; counters a cache).

Each region's shard is rebuilt from the ballots that region wrote, in that
region's results table. Each write is conditional on the counter still holding
the value read, so a tally write racing the recount is never overwritten; run
it once the queues have drained (`election recount` waits for that first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.lambdas import logic
from election.lambdas.common import now_iso
from election.lambdas.contract import RESULTS_KEY
from election.ops import state
from election.ops.target import Target


@dataclass
class Fix:
    """One counter that was wrong: where, who, what it said, what the ballots say."""

    region: str
    state: str
    candidate: str
    was: int
    now: int


@dataclass
class Recount:
    ballots: int
    fixes: list[Fix] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ballots": self.ballots, "fixes": [f.__dict__ for f in self.fixes]}


def recount(target: Target, attempts: int = 5) -> Recount:
    """Set every counter to the number of ballots behind it; returns what changed.

    Batches the tally gave up on before the recount began are counted by it (their ballots were in the
    table), so their reports in the tally-failures queue are then removed.
    """
    started_ms = int(time.time() * 1000)
    total = 0
    fixes: list[Fix] = []
    for region in target.plan.region_names:
        for attempt in range(attempts):
            try:
                total_r, fixes_r = _recount_region(target, region)
                break
            except _Raced:
                continue
        else:
            raise ElectionError(f"The tally in {region} kept changing the counters during the recount; "
                                "stop the traffic (election close) and run it again.")
        total += total_r
        fixes.extend(fixes_r)
        _clear_tally_failures(target, region, started_ms)
    return Recount(total, fixes)


def _clear_tally_failures(target: Target, region: str, before_ms: int) -> None:
    """Delete the tally-failure reports sent before `before_ms`; later ones stay for the next recount."""
    sqs = target.client("sqs", region)
    url = target.queue_url(region, target.names.tally_failures)
    newer: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                  AttributeNames=["SentTimestamp"]).get("Messages", [])
        if not got:
            break
        old = [m for m in got if int(m.get("Attributes", {}).get("SentTimestamp", 0)) < before_ms]
        newer += [m["ReceiptHandle"] for m in got if m not in old]
        if old:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(old)])
    for i in range(0, len(newer), 10):   # visible again at once, for `dlq list` and the next recount
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0} for j, h in enumerate(newer[i:i + 10])])


class _Raced(Exception):
    """A counter changed between our read and our write."""


def _recount_region(target: Target, region: str) -> tuple[int, list[Fix]]:
    ballots = state.count_ballots(target, region).own
    counters = state.read_counters(target)[region]
    fixes: list[Fix] = []
    for st in sorted({s for s, _ in ballots} | {s for s, _ in counters}):
        names = sorted({c for s, c in ballots if s == st} | {c for s, c in counters if s == st})
        wrong = [c for c in names if ballots[(st, c)] != counters[(st, c)]]
        if not wrong:
            continue
        _write(target, region, st, {c: (counters[(st, c)], ballots[(st, c)]) for c in wrong})
        fixes.extend(Fix(region, st, c, counters[(st, c)], ballots[(st, c)]) for c in wrong)
    return sum(ballots.values()), fixes


def _write(target: Target, region: str, st: str, changes: dict[str, tuple[int, int]]) -> None:
    """Set the counters of one shard item, only if each still holds the value we read."""
    names: dict[str, str] = {"#u": "updated_at"}
    values: dict[str, Any] = {":u": {"S": now_iso()}}
    sets, conds = ["#u = :u"], []
    for i, (cand, (was, now)) in enumerate(sorted(changes.items())):
        names[f"#c{i}"] = logic.counter_attr(cand)
        values[f":n{i}"] = {"N": str(now)}
        sets.append(f"#c{i} = :n{i}")
        if was:
            values[f":o{i}"] = {"N": str(was)}
            conds.append(f"#c{i} = :o{i}")
        else:
            values[f":z{i}"] = {"N": "0"}
            conds.append(f"(attribute_not_exists(#c{i}) OR #c{i} = :z{i})")
    try:
        target.client("dynamodb", region).update_item(
            TableName=target.names.results, Key={RESULTS_KEY: {"S": logic.counter_pk(st, region)}},
            UpdateExpression="SET " + ", ".join(sets), ConditionExpression=" AND ".join(conds),
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise _Raced() from None
        raise
