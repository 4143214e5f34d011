"""The ballots table in bench/national.py: on demand, or provisioned with auto scaling (plan `tables.ballots`).

Both kinds answer the same four questions per model step: what share of the wanted ballot writes is
written (the rest is throttled and stays in the votes queue: `process` retries it, so the stage drains
slower and loses nothing), how many votes/s a region's ballot lookups can serve (enqueue's BatchGetItem; on a
provisioned table a throttled ballot lookup is skipped as a courtesy check, so none is refused), and what the
table's capacity costs per step (0 on demand: its requests are priced per vote).

On demand (election/ops/capacity.py's rules): a table serves its warm throughput and up to twice a
peak it reached at least 30 minutes ago ("on-demand capacity mode", "peak traffic"); reads are not
limited here (12,000 warm read units a region, well above any row of the README's table). Neither mode
checks DynamoDB's table-level quotas (40,000 units a second per table by default, on demand and
provisioned alike: Developer Guide, "Quotas in Amazon DynamoDB"): a run above them assumes them raised.

Provisioned: every region has the same write settings and each replica takes every ballot, so each
region's table provisions the same write units, billed per hour in every region (WCU at home, rWCU in the
others, one price: election/ops/prices.py); reads are per region (its own voters' lookups). Auto scaling
is target tracking on the consumed units (Application Auto Scaling's CloudWatch alarms). Documented
figures (AWS re:Post knowledge center, "Why is DynamoDB auto scaling not working as expected?",
repost.aws/knowledge-center/dynamodb-auto-scaling): capacity is increased when utilization stays above
the target for at least 2 consecutive minutes, and decreased when it stays 20 % or more below the target
for 15 consecutive minutes. Assumed here, not documented as a figure: ACTION_LAG_S from the alarm to the
new capacity serving (CloudWatch delivers the minute's metric late, then UpdateTable). A throttled
write consumes no capacity, so while writes are throttled the consumed units equal the provisioned
ones and each scale-out adds at most 1 / target (x1.43 at 70 %): a table far under its load needs
several rounds. Burst capacity (up to 300 s of unused capacity, best effort, "don't consider the burst
capacity when you configure a table's provisioned capacity": re:Post "dynamodb-spiky-workloads-
short-intervals") is NOT modelled, nor the per-day limit on decreases (it could only hold capacity
longer, costing a little more): both make this model pessimistic about throttles, optimistic about cost.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from election.ops import prices
from election.plan import Plan
from election.plan_tables import BALLOT_READ_UNITS_PER_PAGE_VOTE

PEAK_MEMORY_S = 1800          # on demand: up to 2x the previous peak at once; more within 30 min may throttle
SCALE_OUT_MINUTES = 2         # consecutive minutes above the target before auto scaling adds capacity
SCALE_IN_MINUTES = 15         # consecutive minutes 20 points below the target before it removes capacity
SCALE_IN_MARGIN = 0.20
ACTION_LAG_S = 60             # assumption: the minute's metric delivered + UpdateTable until it serves
READ_UNITS = BALLOT_READ_UNITS_PER_PAGE_VOTE   # two eventually consistent lookups of the ballots table per vote


@dataclass
class OnDemandTable:
    """On demand: warm throughput, or twice a peak at least 30 minutes old."""

    warm_wcu: float
    peak: float = 0.0
    peaks: deque = field(default_factory=deque)   # (t, national writes/s served): the recent history
    wcu: float = 0.0                              # what it served last (for the table's column)

    def serve(self, t: int, national: float, dt: int) -> float:
        """Share of the wanted national writes/s written this step."""
        while self.peaks and self.peaks[0][0] <= t - PEAK_MEMORY_S:
            self.peak = max(self.peak, self.peaks.popleft()[1])   # a peak at least 30 min old sets what doubles
        k = min(1.0, max(self.warm_wcu, 2 * self.peak) / national) if national else 1.0
        self.peaks.append((t, national * k))
        self.wcu = max(self.warm_wcu, self.peak, national * k)
        return k

    def partition_units(self) -> float:
        return self.wcu

    def lookups(self, t: int, region: str) -> float:
        return math.inf

    def looked_up(self, t: int, region: str, votes: float, dt: int) -> None:
        return None

    def usd(self, dt: int) -> float:
        return 0.0

    def idle_usd_per_hour(self) -> float:
        return 0.0


@dataclass
class AutoScaled:
    """One dimension of a provisioned table under target tracking, in units/s."""

    units: float
    minimum: float
    maximum: float
    target: float                         # utilization, 0..1
    minute_sum: float = 0.0
    minute_s: int = 0
    over: int = 0                         # consecutive minutes above the target
    under: int = 0                        # consecutive minutes SCALE_IN_MARGIN below it
    pending: tuple[int, float] | None = None   # (when it serves, units)

    def now(self, t: int) -> float:
        """The provisioned units at t (a scaling action applied once it serves)."""
        if self.pending and t >= self.pending[0]:
            self.units, self.pending, self.over, self.under = self.pending[1], None, 0, 0
        return self.units

    def consume(self, t: int, consumed: float, dt: int) -> None:
        """Record `consumed` units/s for dt seconds; at each full minute evaluate the two alarms."""
        self.minute_sum += consumed * dt
        self.minute_s += dt
        if self.minute_s < 60:
            return
        avg, self.minute_sum, self.minute_s = self.minute_sum / self.minute_s, 0.0, 0
        util = avg / self.units
        self.over = self.over + 1 if util > self.target else 0
        self.under = self.under + 1 if util < self.target - SCALE_IN_MARGIN else 0
        if self.pending:
            return
        want = min(self.maximum, max(self.minimum, math.ceil(avg / self.target)))
        if (self.over >= SCALE_OUT_MINUTES and want > self.units) or (self.under >= SCALE_IN_MINUTES and want < self.units):
            self.pending = (t + dt + ACTION_LAG_S, float(want))


class ProvisionedTable:
    """Provisioned with auto scaling: writes the same in every region, reads per region (module docstring)."""

    def __init__(self, plan: Plan) -> None:
        cap = plan.ballots_capacity
        t = cap.target_percent / 100
        self.regions = len(plan.regions)
        self.write = AutoScaled(cap.write_min, cap.write_min, cap.write_max, t)
        self.reads = {r: AutoScaled(cap.read_min, cap.read_min, cap.read_max, t) for r in plan.region_names}
        self.wcu = float(cap.write_min)

    def serve(self, t: int, national: float, dt: int) -> float:
        units = self.write.now(t)
        self.wcu = units
        k = min(1.0, units / national) if national else 1.0
        self.write.consume(t, national * k, dt)
        return k

    def partition_units(self) -> float:
        return self.write.units

    def lookups(self, t: int, region: str) -> float:
        """Votes/s the region's lookups let through at t: all of them. A ballot key the provisioned table
        leaves unprocessed is taken as "no ballot seen" (enqueue._lookup: the check is a courtesy, process's
        conditional put is the rule), so read capacity short of the lookups costs up to ~0.6 s of retries,
        never a refused voter; the voters table, on demand, is not limited here."""
        return math.inf

    def looked_up(self, t: int, region: str, votes: float, dt: int) -> None:
        self.reads[region].consume(t, min(votes * READ_UNITS, self.reads[region].now(t)), dt)

    def _hourly(self, wcu: float, rcu: float) -> float:
        return prices.provisioned_usd_per_hour(wcu, self.regions, rcu)

    def usd(self, dt: int) -> float:
        """Capacity billed for this step: provisioned units per hour, used or not, in every region."""
        return self._hourly(self.write.units, sum(r.units for r in self.reads.values())) * dt / 3600

    def idle_usd_per_hour(self) -> float:
        """An hour at the minimums (the table before the polls open and after it scaled in)."""
        return self._hourly(self.write.minimum, sum(r.minimum for r in self.reads.values()))


def ballots_table(plan: Plan, warm_wcu: float) -> OnDemandTable | ProvisionedTable:
    """The ballots table the plan deploys."""
    return ProvisionedTable(plan) if plan.ballots_capacity.provisioned else OnDemandTable(warm_wcu)
