"""Open and close the polls: the operator's sequence around election.ops.polls.

Closing writes polls closed in every region (polls.close_polls), waits out the
handlers' polls cache and run time, drains the queues (at least one mixing
window), waits for the tally, refuses to finish while votes sit in a dead-letter
queue (with --force: counts them, purges them, and records how many were left
out), destroys every region's copy of the ballot pepper
(polls.destroy_ballot_pepper), records `tallied_at` (the election is final:
receipts read "counted", process/forward/redrive refuse to add ballots), and
switches off the ballots stream where AWS allows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.lambdas.contract import POLLS_CACHE_S
from election.ops import dlq, drain, polls, state
from election.ops.target import Target


def pepper_exists(target: Target, region: str) -> bool:
    """Whether `region` still holds the ballot pepper."""
    return polls._pepper_exists(target.provider, region, target.names.ballot_pepper)


def open_polls(target: Target) -> dict[str, Any]:
    """Open the polls everywhere; refused once the ballot pepper is gone (the election is over)."""
    gone = [r for r in target.plan.region_names if not pepper_exists(target, r)]
    if gone:
        raise ElectionError(f"The ballot pepper of plan '{target.plan.name}' is destroyed in {', '.join(gone)}: "
                            "this election was closed for good and cannot reopen.")
    waiting = [r for r in target.plan.region_names if not _voters_table_exists(target, r)]
    if waiting:
        raise ElectionError(f"The voters table {target.names.voters} does not exist in {', '.join(waiting)}, so "
                            "every voter would be unknown (with roll.import it waits for its roll: run `election "
                            "seed-voters --import`, then `election up`); the polls stay closed.")
    return polls.open_polls(target.provider, target.plan)[target.plan.primary_region]


def _voters_table_exists(target: Target, region: str) -> bool:
    try:
        target.client("dynamodb", region).describe_table(TableName=target.names.voters)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


# What AWS still keeps after close, that an insider could read (README "Ballot secrecy").
KEPT_BY_AWS = ("AWS keeps the ballots stream's records for 24 hours, point-in-time recovery of the tables for "
               "35 days (restorable to the second) and the functions' CloudWatch logs for logs.retention_days; "
               "ballots were written in mixed batches with no finer time, and no log line holds a ballot.")


@dataclass
class Closing:
    drain: drain.Drain
    pepper_destroyed_in: list[str]
    results: dict[str, Any]
    steps: list[str] = field(default_factory=list)
    left_out: int = 0                          # votes --force closed without (purged from dead-letter queues)
    notes: list[str] = field(default_factory=list)   # one sentence each, for the operator

    def as_dict(self) -> dict[str, Any]:
        return {"drained": self.drain.drained, "drain_seconds": round(self.drain.seconds, 2),
                "pepper_destroyed_in": self.pepper_destroyed_in, "left_out": self.left_out,
                "notes": self.notes, "results": self.results}


def close_polls(target: Target, timeout: float = 300.0, grace: float | None = None, force: bool = False,
                on_step: Callable[[str], None] = lambda s: None,
                on_poll: Callable[[int, int], None] = lambda q, u: None,
                sleep: Callable[[float], None] = time.sleep) -> Closing:
    """Stop new votes, drain, wait for the tally, destroy the ballot pepper; returns the final results.

    The drain waits at least two mixing windows plus the function timeout, whatever `timeout` says:
    a vote may sit that long in a gathering batch by design.
    """
    if polls.is_final(target.provider, target.plan):
        raise ElectionError(f"The election of plan '{target.plan.name}' is already closed and final; "
                            "nothing was changed.")
    timeout = max(timeout, 2 * target.plan.secrecy.window_s + target.plan.lambda_.timeout_s)
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
    notes: list[str] = []
    left_out = 0
    if dead:
        # A dead letter holds a candidate and a send time to the millisecond: it must not outlive close.
        on_step("purging the dead-letter queues (--force)")
        left_out = sum(1 for d in dlq.list_dead_letters(target) if d.readable)
        dlq.purge(target)
        notes.append(f"{left_out} accepted vote(s) were left out of the final result (purged from dead-letter "
                     "queues by --force); the audit reports them.")
    on_step("destroying the ballot pepper")
    destroyed = polls.destroy_ballot_pepper(target.provider, target.plan, sleep=sleep)
    polls.mark_tallied(target.provider, target.plan, left_out=left_out)
    notes.extend(switch_off_streams(target))
    notes.append(KEPT_BY_AWS)
    return Closing(waited, destroyed, state.results(target), left_out=left_out, notes=notes)


def switch_off_streams(target: Target) -> list[str]:
    """Disable the ballots table's stream where AWS allows it, so nothing new can be ordered; sentences.

    A multi-region global table needs its stream for replication, so AWS refuses to disable it there
    (and the local stand-in's runtime tails it to replicate): those are kept and said so. Records
    already in a stream stay readable for 24 hours either way.
    """
    plan = target.plan
    if plan.target == "local" or len(plan.region_names) > 1:
        return [("The ballots stream stays on (replication needs it); its records expire 24 hours after "
                 "they were written.")]
    out = []
    for region in plan.region_names:
        ddb = target.client("dynamodb", region)
        try:
            ddb.update_table(TableName=target.names.ballots, StreamSpecification={"StreamEnabled": False})
            out.append(f"The ballots stream is switched off in {region}.")
        except Exception as exc:  # noqa: BLE001 - say what AWS answered, keep closing
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            out.append(f"The ballots stream in {region} could not be switched off ({code}).")
    return out


def _refuse_given_up_batches(target: Target) -> None:
    """A batch the tally gave up on is never counted by waiting: only `recount` settles it."""
    given_up = drain.given_up_batches(target)
    if given_up:
        raise ElectionError(f"The tally gave up on {given_up} stream batch(es) (`election dlq list`), so the counts "
                            "miss their ballots; the polls stay closed and the pepper is kept: run `election recount`, "
                            "then `election close` again.")
