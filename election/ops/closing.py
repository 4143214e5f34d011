"""Open and close the polls.

The polls item ({"pk": "polls", "open": ..., "changed_at": ...}) is written to
every region's results table directly, so no region waits for replication to
learn the polls closed. Closing then waits out the handlers' polls cache,
drains the queues, waits for the tally, refuses to finish while votes sit in
a dead-letter queue, destroys every region's copy of the ballot pepper, and
records `tallied_at` (receipts then read "counted").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.lambdas.common import now_iso, plain
from election.lambdas.contract import POLLS_ITEM, RESULTS_KEY
from election.ops import drain, state
from election.ops.target import Target

POLLS_CACHE_S = 2.0      # common.PollsCache's TTL: how long a handler may still believe the polls are open


def read_polls(target: Target, region: str | None = None) -> dict[str, Any]:
    """The polls item of `region` (default: the primary) as plain values; {} when never set (open)."""
    r = region or target.plan.primary_region
    item = target.client("dynamodb", r).get_item(TableName=target.names.results,
                                                 Key={RESULTS_KEY: {"S": POLLS_ITEM}}, ConsistentRead=True)
    return {k: plain(v) for k, v in item.get("Item", {}).items()}


def _write_polls(target: Target, values: dict[str, Any]) -> None:
    names = {f"#a{i}": k for i, k in enumerate(values)}
    vals: dict[str, Any] = {}
    for i, v in enumerate(values.values()):
        vals[f":v{i}"] = {"BOOL": v} if isinstance(v, bool) else {"S": str(v)}
    expr = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values)))
    for region in target.plan.region_names:
        target.client("dynamodb", region).update_item(
            TableName=target.names.results, Key={RESULTS_KEY: {"S": POLLS_ITEM}}, UpdateExpression=expr,
            ExpressionAttributeNames=names, ExpressionAttributeValues=vals)


def pepper_exists(target: Target, region: str) -> bool:
    try:
        target.client("secretsmanager", region).describe_secret(SecretId=target.names.ballot_pepper)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise


def open_polls(target: Target) -> dict[str, Any]:
    """Open the polls everywhere; refused once the ballot pepper is gone (the election is over)."""
    gone = [r for r in target.plan.region_names if not pepper_exists(target, r)]
    if gone:
        raise ElectionError(f"The ballot pepper of plan '{target.plan.name}' is destroyed in {', '.join(gone)}: "
                            "this election was closed for good and cannot reopen.")
    _write_polls(target, {"open": True, "changed_at": now_iso()})
    return read_polls(target)


def destroy_ballot_pepper(target: Target) -> list[str]:
    """Delete every region's copy of the ballot pepper at once, with no recovery window; returns the regions."""
    done = []
    for region in target.plan.region_names:
        try:
            target.client("secretsmanager", region).delete_secret(SecretId=target.names.ballot_pepper,
                                                                  ForceDeleteWithoutRecovery=True)
            done.append(region)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
    return done


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
    _write_polls(target, {"open": False, "changed_at": now_iso()})
    # A handler that read "open" just before may still be sending its vote: wait out its cache and run time.
    wait = POLLS_CACHE_S + target.plan.lambda_.timeout_s if grace is None else grace
    on_step(f"waiting {wait:.0f} s for requests already past the polls check")
    sleep(wait)
    on_step("draining the queues and waiting for the tally")
    waited = drain.wait_drained(target, timeout=timeout, on_poll=on_poll)
    if not waited.drained and not force:
        raise ElectionError(f"The queues did not drain within {timeout:.0f} s ({waited.queued} queued, "
                            f"{waited.uncounted} uncounted); the polls stay closed and the pepper is kept: "
                            "run `election close` again.")
    dead = sum(qs[q] for qs in state.queue_depths(target).values() for q in target.names.dead_letter_queues)
    if dead and not force:
        raise ElectionError(f"{dead} message(s) sit in dead-letter queues; replay them with `election dlq redrive` "
                            "and run `election close` again (or pass --force to close without them).")
    on_step("destroying the ballot pepper")
    destroyed = destroy_ballot_pepper(target)
    _write_polls(target, {"open": False, "tallied_at": now_iso()})
    return Closing(waited, destroyed, state.results(target))
