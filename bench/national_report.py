"""bench/national.py's output: the hourly table, the day's bill in the plan's ballots-table mode, the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

import national_tables

from election.plan import Plan

if TYPE_CHECKING:
    from national import Hour, Limits


def holds(hours: dict[int, Hour], window: int) -> bool:
    """No vote refused, and nothing waits more than a minute beyond the mixing window, to be written or counted."""
    return all(h.api_throttled + h.lambda_throttled + h.read_throttled < 1 and h.max_age < window + 60
               and h.max_counted < window + 120 for h in hours.values())


def refused_share(hours: dict[int, Hour]) -> float:
    offered = sum(h.offered for h in hours.values())
    return sum(h.turned_away for h in hours.values()) / offered if offered else 0.0


def day_bill(plan: Plan, lim: Limits, hours: dict[int, Hour]) -> tuple[float, float, float]:
    """(the day's USD, of which the ballots table's capacity in the modelled hours, idle hours): a day is 24 h;
    the hours the model does not step (before the first vote, after the last is counted) are billed at the
    provisioned minimums (0 on demand)."""
    modelled = sum(h.seconds for h in hours.values()) / 3600
    idle = max(0.0, 24 - modelled)
    idle_usd = idle * national_tables.ballots_table(plan, lim.warm_wcu).idle_usd_per_hour()
    return (sum(h.bill for h in hours.values()) + idle_usd,
            sum(h.capacity_usd for h in hours.values()) + idle_usd, idle)


def mode_of(plan: Plan) -> str:
    cap = plan.ballots_capacity
    if not cap.provisioned:
        return "ballots table on demand"
    return (f"ballots table provisioned, {cap.write_min:,}-{cap.write_max:,} WCU and {cap.read_min:,}-{cap.read_max:,}"
            f" RCU per region, target {cap.target_percent} %")


def print_table(hours: dict[int, Hour], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in ("hour (ET)", "offered/s", "peak/s", "accepted/s", "API 429s", "Lambda throttled", "lookups 503",
                "turned away", "writes throttled", "WCU/region", "oldest queued", "to counted", "tally conflicts/s",
                "bill $"):
        t.add_column(col, justify="right")
    for hr, h in sorted(hours.items()):
        if h.offered < 1 and h.accepted < 1:
            continue
        t.add_row(f"{(hr - 5) % 24:02d}:00", f"{h.offered / h.seconds:,.0f}", f"{h.peak_offered:,.0f}",
                  f"{h.accepted / h.seconds:,.0f}", f"{h.api_throttled:,.0f}", f"{h.lambda_throttled:,.0f}",
                  f"{h.read_throttled:,.0f}", f"{h.turned_away:,.0f}", f"{h.ddb_throttled:,.0f}", f"{h.wcu:,.0f}",
                  f"{h.max_age:,.0f} s", f"{h.max_counted:,.0f} s", f"{h.conflicts / h.seconds:,.1f}",
                  f"{h.bill:,.0f}")
    Console(width=190).print(t)


def print_summary(plan: Plan, lim: Limits, hours: dict[int, Hour]) -> None:
    total, table_usd, idle = day_bill(plan, lim, hours)
    window = plan.secrecy.window_s
    print(f"{mode_of(plan)}: bill for the day ${total:,.0f} (of which the ballots table's capacity ${table_usd:,.0f}, "
          f"{idle:.1f} idle hours at the minimums included); voters turned away (refused twice): "
          f"{refused_share(hours):.1%}; {'holds' if holds(hours, window) else 'does NOT hold'} (no refused vote; "
          f"written and counted within the {window} s mixing window + 1-2 min).")


