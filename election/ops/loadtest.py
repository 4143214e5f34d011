"""An open-loop load test of the voting API, then proof that the tally matches what was accepted.

Open loop: request i starts at t0 + i/rate whether or not earlier ones have
answered, so a slow system sees the queue build up (as voters would make it)
instead of the generator politely slowing down. Latency is measured from each
request's *scheduled* start, so queueing inside the generator is not hidden
(no coordinated omission).

Traffic (ops/loadplan.py): one vote per voter from the credential file (candidates drawn with
the state's 2016 shares), plus optional duplicates (a voter who already got a
202 votes again for someone else: 409, or 202 with the same receipt if the
first is still in the queue) and malformed or invalid requests (expect 4xx).

Verification after the queues and the tally drain (ops/loadverify.py) checks
this run's own votes only: every receipt answered 202 is a ballot in its home
region for what the voter sent, and the results grew by at least those
ballots; growth beyond them must be other ballots (other traffic, reported as
such), never a vote counted twice.

Ctrl-C at any phase ends the run cleanly: the answers received so far are
summarized and their receipts kept in the ledger (Report.interrupted says
where it stopped), so `election audit --receipts <ledger>` can finish the check.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from election.errors import ElectionError
from election.ops import drain, state, usedvoters
from election.ops import fleet as fleet_ops
from election.ops.loadplan import EXPECTED, Outcome, Req, invalid_request, plan_requests, vote_body
from election.ops.loadprocs import send_schedule
from election.ops.loadreport import Report, append_ledger, ledger_path, percentile, summarize
from election.ops.loadsend import Live, no_full_collections, receipt_of, run_schedule, worker_count
from election.ops.loadverify import INVALID_KINDS, nothing_accepted, verify
from election.ops.seed import Voter
from election.ops.target import Target

# Re-exported: the load test's parts live in loadplan (traffic), loadsend (one loop), loadprocs (worker
# processes), loadreport (figures, ledger) and loadverify; callers may keep importing them from here.
__all__ = ["EXPECTED", "INVALID_KINDS", "Fired", "Live", "Outcome", "Report", "Req", "append_ledger", "fire",
           "invalid_request", "ledger_path", "no_full_collections", "nothing_accepted", "percentile",
           "plan_requests", "receipt_of", "run_loadtest", "run_schedule", "send_schedule", "settle_and_verify",
           "summarize", "verify", "vote_body", "worker_count"]


@dataclass
class Fired:
    """What the load phase produced, for verification."""

    report: Report
    outcomes: list[Outcome]
    before: Counter[tuple[str, str]]


def fire(target: Target, voters: Sequence[Voter], url: str, votes: int, rate: float, concurrency: int,
         duplicates: float = 0.0, invalid: float = 0.0, timeout: float = 30.0, seed: int | None = None,
         ledger: Path | None = None, on_tick: Callable[[Live], None] = lambda live: None,
         workers: int | None = None, used: Path | None = None, fleet: int | None = None) -> Fired:
    """Plan the traffic, send it on schedule, summarize it and record the accepted receipts.

    workers: processes to send from (default one per CPU, fewer at low rates: see worker_count).
    fleet: send from that many workers of the deployed load fleet instead (ops/fleet.py).
    used: the credential file's used-voters file (ops/usedvoters.py): every voter sent a first vote is
    added to it, also when Ctrl-C ends the run early (report.interrupted == "sending").
    """
    _check_args(rate, concurrency, workers, fleet)
    rng = random.Random(seed)
    plan = target.plan
    reqs = plan_requests(voters, plan, votes, duplicates, invalid, rng)
    site = None if fleet is None else _fleet_site(target, fleet, len(reqs), rate, timeout)
    before = state.national(state.read_counters(target))
    live = Live(planned=len(reqs))
    ballots = {s: plan.ballot.for_state(s) for s in plan.state_regions()}
    votes_url = url.rstrip("/") + "/votes"
    late = 0.0
    if site is not None and fleet is not None:
        outcomes, seconds, late = fleet_ops.send_fleet(target, site, votes_url, reqs, rate, concurrency, timeout, live,
                                                       on_tick, rng, ballots, fleet)
    else:
        outcomes, seconds = send_schedule(votes_url, reqs, rate, concurrency, timeout, live, on_tick, rng, ballots,
                                          worker_count(workers, rate, len(reqs)))
    report = summarize(url, outcomes, seconds, rate)
    report.interrupted = "sending" if live.interrupted else None
    report.fleet, report.fleet_late_s = fleet or 0, round(late, 3)
    report.ledger = str(_record(target, outcomes, ledger, used))
    return Fired(report, outcomes, before)


def _check_args(rate: float, concurrency: int, workers: int | None, fleet: int | None) -> None:
    """Refuse impossible options in one sentence, before any request is planned or sent."""
    if rate <= 0 or concurrency < 1:
        raise ElectionError("--rate must be above 0 and --concurrency at least 1.")
    if fleet is not None and workers is not None:
        raise ElectionError("--fleet and --workers cannot be combined: a fleet run sends from its workers only.")


def _fleet_site(target: Target, fleet: int, requests: int, rate: float, timeout: float) -> fleet_ops.FleetSite:
    """The deployed fleet to send from, once its size (and on AWS the run's length) fits the requests."""
    fleet_ops.check_fleet_size(fleet, requests, target.is_local)
    if not target.is_local:
        fleet_ops.check_fleet_duration(requests, rate, timeout)
    return fleet_ops.locate(target)


def _record(target: Target, outcomes: list[Outcome], ledger: Path | None, used: Path | None) -> Path:
    """Append the accepted receipts to the ledger (for `audit --receipts`) and mark the voters used; the ledger path.

    Runs also after Ctrl-C stopped the sending, so a partial run's votes are still accounted for.
    """
    accepted = [{"receipt": o.receipt, "state": o.req.state, "candidate": o.req.candidate}
                for o in outcomes if o.status == 202 and o.receipt and o.req.kind == "vote"]
    path = ledger or ledger_path(target)
    append_ledger(path, accepted)
    if used is not None:
        usedvoters.record_used(used, (o.req.voter_id for o in outcomes if o.req.kind == "vote" and o.req.voter_id))
    return path


def settle_and_verify(target: Target, fired: Fired, drain_timeout: float = 300.0,
                      on_drain: Callable[[int, int], None] = lambda q, u: None, allow_errors: bool = False) -> Report:
    """Wait for queues and tally to drain, then verify; fills in and returns the report.

    Ctrl-C here returns the report unverified with interrupted == "verifying" (the ledger is already written).
    """
    report = fired.report
    try:
        waited = drain.wait_drained(target, timeout=drain_timeout, on_poll=on_drain)
        report.drained, report.drain_seconds = waited.drained, round(waited.seconds, 2)
        report.problems = verify(target, fired.outcomes, fired.before, report, allow_errors=allow_errors)
    except KeyboardInterrupt:
        report.interrupted, report.problems, report.verified = "verifying", [], False
        return report
    if not waited.drained:
        report.problems.append(f"The queues and tally did not drain within {drain_timeout:.0f} s "
                               f"({waited.queued} queued, {waited.uncounted} uncounted).")
    dead = sum(qs[q] for qs in state.queue_depths(target).values() for q in target.names.dead_letter_queues)
    if dead:
        report.problems.append(f"{dead} message(s) are in dead-letter queues (election dlq list).")
    report.verified = not report.problems
    return report


def run_loadtest(target: Target, voters: Sequence[Voter], url: str, votes: int, rate: float, concurrency: int,
                 duplicates: float = 0.0, invalid: float = 0.0, timeout: float = 30.0, drain_timeout: float = 300.0,
                 seed: int | None = None, verify_after: bool = True, ledger: Path | None = None,
                 on_tick: Callable[[Live], None] = lambda live: None,
                 on_drain: Callable[[int, int], None] = lambda q, u: None, workers: int | None = None,
                 used: Path | None = None, allow_errors: bool = False, fleet: int | None = None) -> Report:
    """Fire the load, then (unless told not to, or Ctrl-C stopped the sending) wait for the drain and verify."""
    fired = fire(target, voters, url, votes, rate, concurrency, duplicates, invalid, timeout, seed, ledger, on_tick,
                 workers, used, fleet)
    if not verify_after or fired.report.interrupted:
        return fired.report
    return settle_and_verify(target, fired, drain_timeout, on_drain, allow_errors)
