"""Read what an election holds right now: roll size, ballots, counters, queue depths.

Each region's counter shard ("<STATE>#<region>") is read from that region's own
results table, where its tally writes it (replicas may lag); ballots are
counted in the region that wrote them (attribute `region`), because that is
the region whose tally counts them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from election.lambdas import counting, logic
from election.lambdas.common import plain
from election.lambdas.contract import BALLOTS_KEY, POLLS_ITEM, RESULTS_KEY
from election.ops.target import Target

Tally = Counter  # (state, candidate) -> count
# The share of a provisioned table's read capacity units a scan may use (the rest stays for the voters).
SCAN_SHARE = 0.25
QUEUE_ATTRS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
               "ApproximateNumberOfMessagesDelayed"]


def instance_id(target: Target) -> str:
    """Which deployment of the plan this is: the primary ballots table's id (or creation time).

    Files kept between commands (the seeding checkpoint, the receipt ledger) carry it, so a plan
    torn down and deployed again (or a restarted local stack) is never confused with the old one.
    """
    table = target.client("dynamodb", target.plan.primary_region).describe_table(
        TableName=target.names.ballots)["Table"]
    return str(table.get("TableId") or int(table["CreationDateTime"].timestamp() * 1000))


def scan(target: Target, region: str, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of `table` in `region` as plain values (paginated, consistent reads, paced when provisioned)."""
    for page in _pages(target, region, table, **kwargs):
        for item in page.get("Items", []):
            yield {k: plain(v) for k, v in item.items()}


def count_items(target: Target, region: str, table: str) -> int:
    """Item count by a COUNT scan (DescribeTable's ItemCount is only refreshed every six hours)."""
    return sum(p.get("Count", 0) for p in _pages(target, region, table, Select="COUNT"))


def _pages(target: Target, region: str, table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Strongly consistent Scan pages; on a PROVISIONED table, paced to SCAN_SHARE of its read capacity.

    A scan can use up a provisioned table's read capacity in moments and throttle everything else on it
    (Amazon DynamoDB Developer Guide, "Best practices for querying and scanning data": avoid sudden spikes
    in read activity). On the provisioned ballots table that would be the voters' lookups (enqueue then
    retries for ~0.6 s and skips the already-voted check) whenever `audit`, `close` or a load-test check
    scans during the polls. Each page's consumed capacity (ReturnConsumedCapacity) is paid for by waiting
    until the scan's average stays within the share; an on-demand table is not paced."""
    ddb = target.client("dynamodb", region)
    desc = ddb.describe_table(TableName=table)["Table"]
    provisioned = ((desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED") == "PROVISIONED"
    rate = SCAN_SHARE * float((desc.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits") or 0)
    if provisioned and rate > 0:
        kwargs["ReturnConsumedCapacity"] = "TOTAL"
    else:
        rate = 0.0
    start, spent = time.monotonic(), 0.0
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True, **kwargs):
        yield page
        if rate:
            spent += float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
            ahead = start + spent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def read_counters(target: Target) -> dict[str, Tally]:
    """region -> (state, candidate) -> count, each shard read from its own region's results table."""
    out: dict[str, Tally] = {r: Counter() for r in target.plan.region_names}
    for region in target.plan.region_names:
        for item in scan(target, region, target.names.results):
            pk = str(item.get(RESULTS_KEY, ""))
            if pk == POLLS_ITEM or pk.startswith(logic.CHECKPOINT_PREFIX) or "#" not in pk:
                continue
            state, shard = pk.split("#", 1)
            if shard != region:
                continue      # a replica of another region's shard; read it at its source
            for attr, value in item.items():
                if attr.startswith(logic.COUNTER_PREFIX):
                    out[region][(state, attr[len(logic.COUNTER_PREFIX):])] += int(value)
    return out


@dataclass
class BallotCount:
    """Ballots in one region's table: those it wrote itself, by (state, candidate), and all it holds."""

    own: Tally = field(default_factory=Counter)
    held: int = 0
    keys: set[str] | None = None


def count_ballots(target: Target, region: str, keep_keys: bool = False) -> BallotCount:
    """Count the ballots in `region`'s table; only ballots whose `region` is this one are its own."""
    out = BallotCount(keys=set() if keep_keys else None)
    for item in scan(target, region, target.names.ballots,
                     ProjectionExpression="#k, #s, #c, #r",
                     ExpressionAttributeNames={"#k": BALLOTS_KEY, "#s": "state", "#c": "candidate", "#r": "region"}):
        out.held += 1
        if item.get("region") == region:
            out.own[(item["state"], item["candidate"])] += 1
        if out.keys is not None:
            out.keys.add(item[BALLOTS_KEY])
    return out


def count_all_ballots(target: Target, keep_keys: bool = False) -> dict[str, BallotCount]:
    """count_ballots for every region, in parallel (each is a full scan)."""
    regions = target.plan.region_names
    with ThreadPoolExecutor(max_workers=len(regions)) as pool:
        return dict(zip(regions, pool.map(lambda r: count_ballots(target, r, keep_keys), regions)))


def queue_depth(target: Target, region: str, queue: str) -> int:
    """Messages in a queue: waiting, in flight and delayed (approximate, as SQS reports them)."""
    sqs = target.client("sqs", region)
    attrs = sqs.get_queue_attributes(QueueUrl=target.queue_url(region, queue), AttributeNames=QUEUE_ATTRS)
    return sum(int(attrs["Attributes"].get(a, 0)) for a in QUEUE_ATTRS)


def queue_depths(target: Target) -> dict[str, dict[str, int]]:
    """region -> queue name -> depth, for the votes, hand-off, both dead-letter and the tally-failures queues."""
    names = target.names
    queues = (names.votes_queue, names.handoff_queue, names.votes_dlq, names.handoff_dlq, names.tally_failures)
    return {r: {q: queue_depth(target, r, q) for q in queues} for r in target.plan.region_names}


def national(counters: dict[str, Tally]) -> Tally:
    """All regions' shards summed: (state, candidate) -> count."""
    total: Tally = Counter()
    for shard in counters.values():
        total.update(shard)
    return total


def read_results_items(target: Target) -> list[dict[str, Any]]:
    """The counter items of every region, each from its own region (input for counting.aggregate_results)."""
    items = []
    for region in target.plan.region_names:
        for item in scan(target, region, target.names.results):
            pk = str(item.get(RESULTS_KEY, ""))
            if pk.endswith(f"#{region}") and not pk.startswith(logic.CHECKPOINT_PREFIX):
                items.append(item)
    return items


def results(target: Target) -> dict[str, Any]:
    """National and per-state results, zeros filled in, the same shape GET /results answers."""
    plan = target.plan
    ballots = {s: plan.ballot.for_state(s) for s in plan.state_regions()}
    return counting.aggregate_results(read_results_items(target), ballots, plan.ballot.candidates)
