"""Rich tables of a plan's capacity needs and costs, for `election plan`."""

from __future__ import annotations

from typing import Any

from election.ops import capacity
from election.plan import Plan
from election.plan_tables import BALLOT_READ_UNITS_PER_PAGE_VOTE


def render(plan: Plan) -> list[Any]:
    """Renderables for the plan's capacity section (empty without one)."""
    from rich.table import Table

    cap = plan.capacity
    if cap is None:
        return []
    rows = capacity.needs(plan)
    t = Table(title=f"Capacity for {cap.voters:,} voters, turnout {cap.turnout:.0%}, peak "
                    f"{cap.peak_votes_per_s:,} votes/s (per region, by 2016 turnout of its states)")
    t.add_column("region")
    t.add_column("share", justify="right")
    t.add_column("peak votes/s", justify="right")
    t.add_column("Lambda concurrency", justify="right")
    t.add_column("API throttle (rate/burst)", justify="right")
    t.add_column("ballots warm R/W", justify="right")
    t.add_column("voters warm R", justify="right")
    t.add_column("stream shards", justify="right")
    for n in rows:
        conc = ", ".join(f"{k} {v:,}" for k, v in n.concurrency.items())
        t.add_row(n.region, f"{n.share:.0%}", f"{n.peak_votes_per_s:,.0f}", f"{n.total_concurrency:,} ({conc})",
                  f"{n.throttle_rate:,}/{n.throttle_burst:,}", f"{n.ballots_rcu:,}/{n.ballots_wcu:,}",
                  f"{n.voters_rcu:,}", f"{n.stream_shards:,}")
    c = capacity.costs(plan, capacity.resource_counts(plan))
    lines = [
        t,
        f"Cost: ${c.per_million_votes:.2f} per million page votes (POST /ballot + POST /votes and what follows), "
        f"${c.election:,.0f} for the election's {cap.votes:,} votes; keeping the stack up costs "
        f"${c.monthly_fixed:,.2f} a month ("
        + ", ".join(f"{k} ${v:,.2f}" for k, v in c.monthly_items.items() if v) + ").",
        ("Warm throughput (`up` sets it where the need exceeds a new table's 4,000 W / 12,000 R) is charged once "
        "when raised; Lambda concurrency and the API throttle are account quotas: run `election preflight`."),
    ]
    if plan.ballots_capacity.provisioned:
        p = capacity.ballots_provisioned(plan, cap.peak_votes_per_s, BALLOT_READ_UNITS_PER_PAGE_VOTE)
        lines.append(f"Ballots table provisioned (tables.ballots, not pre-warmed: its minimum is its warmth): at the "
                     f"peak {p.wcu:,} WCU in every region and RCU "
                     + ", ".join(f"{r} {u:,}" for r, u in p.rcu.items())
                     + f", ${p.usd_per_hour:,.2f} an hour at the auto scaling target"
                     + (" (CAPPED at the maximum: the peak would throttle)" if p.capped else "")
                     + ". The cost per vote above prices its units at that hour's rate, as if every vote came at the "
                     "peak (a slower hour costs more per vote, at least the minimum's hourly price); the minimum, "
                     "billed whether used or not, is in the monthly cost.")
    return lines
