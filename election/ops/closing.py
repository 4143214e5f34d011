"""Open and close the polls: the operator's sequence around election.ops.polls.

Closing writes polls closed in every region (polls.close_polls), waits out the
handlers' polls cache and run time, drains the queues, waits for the tally,
refuses to finish while votes sit in a dead-letter queue, destroys every
region's copy of the ballot pepper (polls.destroy_ballot_pepper), and records
`tallied_at` (receipts then read "counted").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from election.errors import ElectionError
from election.ops import drain, polls, state
from election.ops.target import Target

POLLS_CACHE_S = 2.0      # common.PollsCache's TTL: how long a handler may still believe the polls are open


def pepper_exists(target: Target, region: str) -> bool:
    """Whether `region` still holds the ballot pepper."""
    return polls._pepper_exists(target.provider, region, target.names.ballot_pepper)


def open_polls(target: Target) -> dict[str, Any]:
    """Open the polls everywhere; refused once the ballot pepper is gone (the election is over)."""
    gone = [r for r in target.plan.region_names if not pepper_exists(target, r)]
    if gone:
        raise ElectionError(f"The ballot pepper of plan '{target.plan.name}' is destroyed in {', '.join(gone)}: "
                            "this election was closed for good and cannot reopen.")
    return polls.open_polls(target.provider, target.plan)[target.plan.primary_region]


@dataclass
class Closing:
    drain: drain.Drain
    pepper_destroyed_in: list[str]
    results: dict[str, Any]
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"drained": self.drain.drained, "drain_seconds": round(self.drain.seconds, 2),
                "pepper_destroyed_in": self.pepper_destroyed_in, "results": self.results}


def close_polls(target: Target, timeout: float = 300.0, grace: float | None = None, force: bool = False,
                on_step: Callable[[str], None] = lambda s: None,
                on_poll: Callable[[int, int], None] = lambda q, u: None,
                sleep: Callable[[float], None] = time.sleep) -> Closing:
    """Stop new votes, drain, wait for the tally, destroy the ballot pepper; returns the final results."""
    on_step("closing the polls in every region")
    polls.close_polls(target.provider, target.plan)
    # A handler that read "open" just before may still be sending its vote: wait out its cache and run time.
    wait = POLLS_CACHE_S + target.plan.lambda_.timeout_s if grace is None else grace
    on_step(f"waiting {wait:.0f} s for requests already past the polls check")
    sleep(wait)
    if not force:
        _refuse_given_up_batches(target)
    on_step("draining the queues and waiting for the tally")
    waited = drain.wait_drained(target, timeout=timeout, on_poll=on_poll)
    if not waited.drained and not force:
        _refuse_given_up_batches(target)
    if not waited.drained and not force:
        raise ElectionError(f"The queues did not drain within {timeout:.0f} s ({waited.queued} queued, "
                            f"{waited.uncounted} uncounted); the polls stay closed and the pepper is kept: "
                            "run `election close` again.")
    dead = sum(qs[q] for qs in state.queue_depths(target).values() for q in target.names.dead_letter_queues)
    if dead and not force:
        raise ElectionError(f"{dead} message(s) sit in dead-letter queues; replay them with `election dlq redrive` "
                            "and run `election close` again (or pass --force to close without them).")
    on_step("destroying the ballot pepper")
    destroyed = polls.destroy_ballot_pepper(target.provider, target.plan, sleep=sleep)
    polls.mark_tallied(target.provider, target.plan)
    return Closing(waited, destroyed, state.results(target))


def _refuse_given_up_batches(target: Target) -> None:
    """A batch the tally gave up on is never counted by waiting: only `recount` settles it."""
    given_up = sum(state.queue_depth(target, r, target.names.tally_failures) for r in target.plan.region_names)
    if given_up:
        raise ElectionError(f"The tally gave up on {given_up} stream batch(es) (`election dlq list`), so the counts "
                            "miss their ballots; the polls stay closed and the pepper is kept: run `election recount`, "
                            "then `election close` again.")
