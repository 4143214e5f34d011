"""Did this load test's votes all count, exactly once? Checked from its own receipts, whatever else is voting.

A load test knows only what it sent and what it was answered. So it proves:
- every receipt it was given (202) is a ballot in the voter's home region, for the state and a candidate
  that voter sent;
- the results grew by at least those ballots, per state and candidate (none of its votes uncounted);
- where they grew by more, the extra is explained by other ballots (other traffic, or its own votes whose
  answer never arrived): the counters of those keys equal the ballots that exist, so nothing was counted
  twice. That surplus is reported as other traffic, not as a failure.
Answers of 5xx to votes (e.g. during a failover drill) fail the run unless allowed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from election.ops import state
from election.ops.audit import fetch_ballots
from election.ops.target import Target

Key = tuple[str, str]   # (state, candidate)
INVALID_KINDS = ("malformed", "bad_id", "unknown_voter", "bad_candidate")
ACCEPTED_CLASS = ("vote", "duplicate")   # requests a healthy system answers 202 (or 409): never 5xx


def verify(target: Target, outcomes: Sequence[Any], before: Counter[Key], report: Any,
           allow_errors: bool = False) -> list[str]:
    """Problems with this run's own votes (empty: verified); fills report.accepted_voters and .other_traffic."""
    problems: list[str] = []
    sent: dict[str, dict[str, Any]] = {}      # receipt -> {"state", "candidates": {...}}
    for o in outcomes:
        if o.status == 202 and o.req.kind in INVALID_KINDS:
            problems.append(f"An invalid request ({o.req.kind}) was accepted with 202.")
        if o.status == 202:
            if not o.receipt:
                problems.append("A 202 answer carried no receipt.")
                continue
            entry = sent.setdefault(o.receipt, {"state": o.req.state, "candidates": set()})
            entry["candidates"].add(o.req.candidate)
    expected, ballot_problems = _own_ballots(target, sent)
    problems += ballot_problems
    after = state.national(state.read_counters(target))
    # Ballots are counted after they are written: scanning them after reading the counters sees every
    # ballot those counters could include, so counters > ballots can only mean counted twice.
    problems += _compare(target, before, after, expected, report)
    if not allow_errors:
        problems += server_errors(outcomes)
    report.accepted_voters = len(sent)
    return nothing_accepted(outcomes, report.url) + problems


def _own_ballots(target: Target, sent: dict[str, dict[str, Any]]) -> tuple[Counter[Key], list[str]]:
    """(state, candidate) of this run's ballots, read by receipt in each home region; and what is wrong."""
    problems: list[str] = []
    homes = target.plan.state_regions()
    by_region: dict[str, list[str]] = {}
    for receipt, entry in sent.items():
        by_region.setdefault(homes[entry["state"]], []).append(receipt)
    expected: Counter[Key] = Counter()
    lost: Counter[str] = Counter()
    for region, receipts in by_region.items():
        found = fetch_ballots(target, region, receipts)
        for r in receipts:
            ballot = found.get(r)
            entry = sent[r]
            if ballot is None:
                lost[entry["state"]] += 1
                continue
            if ballot.get("state") != entry["state"] or ballot.get("candidate") not in entry["candidates"]:
                problems.append(f"The ballot for receipt {r} records {ballot.get('state')} / "
                                f"{ballot.get('candidate')}, which this voter did not send.")
            expected[(ballot["state"], ballot["candidate"])] += 1
    if lost:
        problems.append(f"{sum(lost.values())} vote(s) answered 202 never became a ballot ("
                        + ", ".join(f"{s}: {n}" for s, n in sorted(lost.items())) + ").")
    return expected, problems


def _compare(target: Target, before: Counter[Key], after: Counter[Key], expected: Counter[Key],
             report: Any) -> list[str]:
    """The results' growth against this run's ballots: short is a problem; a surplus must be other ballots."""
    problems = []
    keys = sorted(set(before) | set(after) | set(expected))
    delta = Counter({k: after[k] - before[k] for k in keys})
    for k in keys:
        if delta[k] < expected[k]:
            problems.append(f"{k[0]} / {k[1]}: the results grew by {delta[k]} but this run has {expected[k]} "
                            f"accepted ballot(s) there ({delta[k] - expected[k]}).")
    surplus = {k: delta[k] - expected[k] for k in keys if delta[k] > expected[k]}
    report.other_traffic = sum(surplus.values())
    if surplus:
        ballots: Counter[Key] = Counter()
        for count in state.count_all_ballots(target).values():
            ballots.update(count.own)
        for k in sorted(surplus):
            if after[k] > ballots[k]:
                problems.append(f"{k[0]} / {k[1]}: the results say {after[k]} but {ballots[k]} ballot(s) exist "
                                f"(+{after[k] - ballots[k]}): counted more than once.")
        report.other_traffic_by_key = {f"{k[0]} / {k[1]}": n for k, n in sorted(surplus.items())}
    return problems


def server_errors(outcomes: Sequence[Any]) -> list[str]:
    """Votes (first or repeated) answered 5xx: a failover that loses requests is a failure unless allowed."""
    errors = Counter(o.status for o in outcomes if o.req.kind in ACCEPTED_CLASS and o.status >= 500)
    if not errors:
        return []
    seen = ", ".join(f"{n} x {code}" for code, n in sorted(errors.items()))
    return [(f"{sum(errors.values())} vote(s) were answered with a server error ({seen}); voters would have had "
             "to retry. Pass --allow-errors if that is expected (e.g. no region was healthy).")]


def nothing_accepted(outcomes: Sequence[Any], url: str) -> list[str]:
    """A run in which no vote was accepted verified nothing; say so (and why, if it is plain) rather than pass."""
    votes = [o for o in outcomes if o.req.kind == "vote"]
    if not votes or any(o.status == 202 for o in votes):
        return []
    if all(o.status == 0 for o in votes):
        return [f"None of the {len(votes)} votes got an answer from {url}; is the API up and the URL right?"]
    answers = Counter(o.status for o in votes)
    seen = ", ".join(f"{n} x {code}" for code, n in answers.most_common())
    return [(f"No vote was accepted ({seen}), so nothing was verified; are the voters seeded into this "
            "deployment and the polls open?")]
