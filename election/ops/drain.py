"""Wait until every accepted vote has become a ballot and every ballot has been counted.

"Drained" means: the votes and hand-off queues of every region are empty, and
each region's counter shard sums to the ballots that region wrote. A vote in
a dead-letter queue or lost outright cannot be waited for; the caller's
verification or the audit names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from election.ops import state
from election.ops.target import Target


@dataclass
class Drain:
    """How waiting ended: drained or timed out, after how long, and what was still pending."""

    drained: bool
    seconds: float
    queued: int           # votes still in votes/hand-off queues at the end
    uncounted: int        # ballots written but not yet in the counters (tally lag), at the end


def pending(target: Target) -> tuple[int, int]:
    """(votes still queued, ballots not yet counted) across all regions, right now."""
    queued = sum(state.queue_depth(target, r, q) for r in target.plan.region_names for q in target.names.work_queues)
    if queued:
        return queued, -1     # no point scanning ballots while votes are still arriving
    counters = state.read_counters(target)
    ballots = state.count_all_ballots(target)
    # Only ballots not yet counted are worth waiting for; an over-count never heals (audit names it).
    lag = sum(max(0, sum(ballots[r].own.values()) - sum(counters[r].values())) for r in target.plan.region_names)
    return 0, lag


def given_up_batches(target: Target) -> int:
    """Stream batches the tally gave up on (reports in the tally-failures queues): waiting never counts them."""
    return sum(state.queue_depth(target, r, target.names.tally_failures) for r in target.plan.region_names)


def wait_drained(target: Target, timeout: float = 120.0, interval: float = 0.5,
                 on_poll: Callable[[int, int], None] = lambda queued, uncounted: None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> Drain:
    """Poll until queues are empty and the tally has caught up, or `timeout` seconds pass."""
    started = clock()
    queued, uncounted = pending(target)
    while queued or uncounted:
        on_poll(queued, uncounted)
        if clock() - started >= timeout:
            return Drain(False, clock() - started, queued, max(uncounted, 0))
        sleep(interval)
        queued, uncounted = pending(target)
    on_poll(0, 0)
    return Drain(True, clock() - started, 0, 0)
