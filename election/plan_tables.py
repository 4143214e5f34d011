"""The plan's `tables` section: the ballots table on demand (default) or provisioned with auto scaling.

    tables:
      ballots:
        mode: provisioned       # or on_demand (the default)
        write_min: 5000         # write capacity units in EVERY region: each replica takes every ballot
        write_max: 40000
        read_min: 3500          # per region: the lookups of POST /ballot and POST /votes
        read_max: 40000
        target_percent: 70      # auto scaling's target utilization

Why provisioned is safe for this table: only `process` writes ballots, behind the votes queue, so a
throttled write is retried (botocore's retries, then SQS redelivery) instead of refusing a voter; but a
long under-capacity would exhaust `queue.max_receives` and dead-letter votes; a throttled ballot lookup
(BatchGetItem in enqueue) is retried for ~0.6 s and then skipped, so the voter is not refused but is not
told early of a ballot already cast. So the minimums must cover the expected peak: with a
`capacity` section, write_min must be at least `capacity.peak_votes_per_s` and read_min at least the
busiest region's lookups at that peak (README "Sizing and cost").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODES = ("on_demand", "provisioned")
UNITS = (1, 1_000_000)
# DynamoDB auto scaling's target utilization range (Amazon DynamoDB Developer Guide, "Managing throughput
# capacity automatically with DynamoDB auto scaling": target utilization between 20 and 90 percent).
TARGET_PERCENT = (20, 90)
KEYS = ("write_min", "write_max", "read_min", "read_max")
# One page vote looks the ballot up twice (POST /ballot, POST /votes), each an eventually consistent
# read of an item under 4 KB: half a read unit each.
BALLOT_READ_UNITS_PER_PAGE_VOTE = 2 * 0.5


@dataclass(frozen=True)
class TableCapacity:
    """A table's capacity mode; the units apply only when provisioned."""

    mode: str = "on_demand"
    write_min: int = 0
    write_max: int = 0
    read_min: int = 0
    read_max: int = 0
    target_percent: int = 70

    @property
    def provisioned(self) -> bool:
        return self.mode == "provisioned"


Fail = Callable[[str, str], None]


def parse_tables(raw: Any, fail: Fail, target: str) -> TableCapacity:
    """The ballots table's capacity from `tables`; every mistake is one sentence naming the key."""
    if raw is None:
        return TableCapacity()
    if not isinstance(raw, dict):
        fail("tables", "must be a mapping like {ballots: {mode: provisioned, ...}}")
    for key in raw:
        if key != "ballots":
            fail(f"tables.{key}", "unknown table; only the ballots table's capacity can be set")
    sec = raw.get("ballots")
    if sec is None:
        return TableCapacity()
    if not isinstance(sec, dict):
        fail("tables.ballots", "must be a mapping of mode, write_min, write_max, read_min, read_max, target_percent")
    for key in sec:
        if key not in ("mode", "target_percent", *KEYS):
            fail(f"tables.ballots.{key}", "unknown key (allowed: mode, write_min, write_max, read_min, read_max, "
                 "target_percent)")
    mode = sec.get("mode", "on_demand")
    if mode not in MODES:
        fail("tables.ballots.mode", f"'{mode}' is not one of {', '.join(MODES)}")
    if mode == "on_demand":
        for key in (*KEYS, "target_percent"):
            if key in sec:
                fail(f"tables.ballots.{key}", "applies only with mode: provisioned")
        return TableCapacity()
    if target != "aws":
        fail("tables.ballots.mode", "provisioned needs target: aws (the local stack's tables are on demand)")
    units = {}
    for key in KEYS:
        if key not in sec:
            fail(f"tables.ballots.{key}", "this key is required with mode: provisioned")
        units[key] = _whole(sec[key], f"tables.ballots.{key}", UNITS, fail)
    for dim in ("write", "read"):
        if units[f"{dim}_min"] > units[f"{dim}_max"]:
            fail(f"tables.ballots.{dim}_min", f"{units[f'{dim}_min']} is above {dim}_max ({units[f'{dim}_max']})")
    pct = _whole(sec.get("target_percent", 70), "tables.ballots.target_percent", TARGET_PERCENT, fail)
    return TableCapacity(mode=mode, target_percent=pct, **units)


def check_peak(cap: TableCapacity, peak_votes_per_s: int, busiest_share: float, fail: Fail) -> None:
    """The minimums must cover the expected peak (a long under-capacity dead-letters votes or slows lookups)."""
    if not cap.provisioned:
        return
    if cap.write_min < peak_votes_per_s:
        fail("tables.ballots.write_min", f"{cap.write_min} is below capacity.peak_votes_per_s ({peak_votes_per_s}): "
             "every replica takes every ballot (one write unit each), and a minimum under the peak leaves votes "
             "retrying until they are dead-lettered while auto scaling catches up")
    reads = math.ceil(peak_votes_per_s * busiest_share * BALLOT_READ_UNITS_PER_PAGE_VOTE)
    if cap.read_min < reads:
        fail("tables.ballots.read_min", f"{cap.read_min} is below the busiest region's ballot lookups at "
             f"capacity.peak_votes_per_s ({reads} read units a second): a throttled lookup makes the voter wait "
             "for retries and skips the already-voted check")


def _whole(raw: Any, f: str, bounds: tuple[int, int], fail: Fail) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        fail(f, f"must be a whole number, not {raw!r}")
    if not bounds[0] <= raw <= bounds[1]:
        fail(f, f"{raw} is out of range; it must be between {bounds[0]} and {bounds[1]}")
    return int(raw)
