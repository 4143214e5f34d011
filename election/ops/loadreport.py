"""The load test's report: figures from the outcomes, and the ledger of accepted receipts.

One summary for every way of sending (one loop, worker processes, a fleet): the outcomes are merged
first, so the percentiles are over every request, never an average of per-worker percentiles.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from election.lambdas.loadgen.schedule import percentile
from election.ops import state
from election.ops.loadplan import EXPECTED, Outcome

__all__ = ["Report", "append_ledger", "ledger_path", "percentile", "summarize"]
from election.ops.target import Target
from election.securefile import open_private_append


@dataclass
class Report:
    url: str
    planned: int
    seconds: float
    target_rate: float
    throughput: float
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    accepted_voters: int
    unexpected: dict[str, int]
    drain_seconds: float = 0.0
    drained: bool = False
    verified: bool = False
    problems: list[str] = field(default_factory=list)
    ledger: str | None = None
    interrupted: str | None = None          # the phase Ctrl-C stopped ("sending", "verifying"), None if it ran out
    other_traffic: int = 0                  # votes counted during the run that are not this run's receipts
    other_traffic_by_key: dict[str, int] = field(default_factory=dict)
    skipped_used: int = 0                   # voters left out because earlier runs already sent their vote
    fleet: int = 0                          # workers of a --fleet run (0: sent from this machine)
    fleet_late_s: float = 0.0               # how late the latest fleet worker started its schedule

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarize(url: str, outcomes: list[Outcome], seconds: float, rate: float) -> Report:
    """Throughput, latency percentiles and status counts over every outcome."""
    lat = [o.latency for o in outcomes]
    statuses = Counter(str(o.status) for o in outcomes)
    by_kind: dict[str, Counter[str]] = {}
    unexpected: Counter[str] = Counter()
    for o in outcomes:
        by_kind.setdefault(o.req.kind, Counter())[str(o.status)] += 1
        if o.status not in EXPECTED.get(o.req.kind, set()):
            unexpected[f"{o.req.kind}:{o.status}"] += 1
    voters = {o.receipt for o in outcomes if o.status == 202 and o.receipt}
    return Report(url=url, planned=len(outcomes), seconds=round(seconds, 3), target_rate=rate,
                  throughput=round(len(outcomes) / seconds, 1) if seconds else 0.0,
                  latency_ms={f"p{p}": round(percentile(lat, p) * 1000, 1) for p in (50, 90, 99)}
                  | {"max": round(max(lat, default=0) * 1000, 1)},
                  statuses=dict(sorted(statuses.items())), by_kind={k: dict(v) for k, v in by_kind.items()},
                  accepted_voters=len(voters), unexpected=dict(unexpected))


def ledger_path(target: Target) -> Path:
    """Where accepted receipts of this deployment are kept (a redeployment starts a new ledger)."""
    return target.state_dir / f"{target.plan.name}-{state.instance_id(target)}-receipts.jsonl"


def append_ledger(path: Path, entries: Sequence[Mapping[str, str | None]]) -> None:
    """Accepted receipts (no voter IDs) for `election audit`; owner-only like the credential file.

    Sorted by receipt, never in the order the votes were sent: with that order, anyone who knows
    when each voter voted could match voters to receipts, hence to ballots (README "Ballot secrecy").
    """
    with open_private_append(path) as fh:   # O_NOFOLLOW: a planted link is refused, not written through
        for e in sorted(entries, key=lambda e: e["receipt"] or ""):
            fh.write(json.dumps(e, separators=(",", ":")) + "\n")
