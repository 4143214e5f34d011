"""Rich renderings of the ops reports: results with bars, the audit verdict, the load-test report."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

BAR = 30


def bar(share: float, width: int = BAR) -> Text:
    """A horizontal bar for a share in 0..1, with eighth-block resolution."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    full, part = divmod(eighths, 8)
    return Text("█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else ""), style="cyan")


def _candidates_table(title: str, counts: dict[str, int]) -> Table:
    total = sum(counts.values())
    t = Table(title=title, title_justify="left")
    t.add_column("candidate")
    t.add_column("votes", justify="right")
    t.add_column("share", justify="right")
    t.add_column("", min_width=BAR)
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        share = n / total if total else 0.0
        t.add_row(name, f"{n:,}", f"{share:.1%}", bar(share))
    return t


def results_view(res: dict[str, Any], state: str | None = None) -> RenderableType:
    """National totals and a per-state table (or one state's ballot with --state)."""
    if state:
        per = res["states"][state]
        return _candidates_table(f"{state}: {per['total']:,} votes", per["candidates"])
    national = _candidates_table(f"National results: {res['total']:,} votes", res["candidates"])
    t = Table(title="By state", title_justify="left")
    t.add_column("state")
    t.add_column("votes", justify="right")
    t.add_column("leader")
    t.add_column("lead", justify="right")
    t.add_column("", min_width=BAR // 2)
    for st, per in sorted(res["states"].items()):
        counts = per["candidates"]
        total = per["total"]
        if not total:
            t.add_row(st, "0", "-", "", "")
            continue
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        lead, n = ranked[0]
        tie = len(ranked) > 1 and ranked[1][1] == n
        t.add_row(st, f"{total:,}", "tie" if tie else lead, f"{n / total:.0%}", bar(n / total, BAR // 2))
    updated = res.get("updated_at") or "never"
    return Group(national, t, Text(f"updated {updated}; read {time.strftime('%H:%M:%S')}", style="dim"))


def audit_view(a: Any) -> RenderableType:
    t = Table(title="Audit", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)  # fits 80
    t.add_column("region", no_wrap=True, min_width=len("ap-southeast-2"))   # never cut at 80 columns
    # One-word headers (explained in the caption) and exact numbers: fits 80 columns up to 10 million voters.
    for col in ("voters", "held", "written", "counted", "lag", "queued/dead"):
        t.add_column(col, justify="right")
    t.caption = ("held: ballots in this region's table; written: those it wrote; counted: by its tally; "
                 "lag: tally lag; queued/dead: votes waiting / dead letters")
    for r in a.roll:
        qs = a.queues.get(r, {})
        queued = sum(n for q, n in qs.items() if not q.endswith("-dlq"))
        dead = sum(n for q, n in qs.items() if q.endswith("-dlq"))
        t.add_row(r, f"{a.roll[r]:,}", f"{a.ballots_held[r]:,}", f"{a.ballots_own[r]:,}", f"{a.counted[r]:,}",
                  str(a.tally_lag[r]), f"{queued}/{dead}")
    if a.ok:
        checked = f"; {a.receipts_checked:,} accepted receipts found as ballots" if a.receipts_checked else ""
        verdict: RenderableType = Panel(Text(f"PASS: every ballot counted once, no vote waiting or lost{checked}.",
                                             style="bold green"))
    else:
        lines = Text(f"FAIL: {len(a.discrepancies)} discrepanc{'y' if len(a.discrepancies) == 1 else 'ies'}\n",
                     style="bold red")
        for d in a.discrepancies:
            lines.append(f"• {d}\n", style="red")
        verdict = Panel(lines)
    return Group(t, verdict)


UNEXPECTED_WHY = {   # why an answer that is unexpected for its kind of request usually comes
    "vote:409": "the voter had already voted: used outside this run",
    "vote:404": "not on this deployment's roll",
    "vote:0": "no answer in time",
    "vote:503": "no region could take it",
}


def loadtest_view(rep: Any) -> RenderableType:
    t = Table(title="Load test", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("requests", f"{rep.planned:,} in {rep.seconds:.1f} s")
    if getattr(rep, "fleet", 0):
        late = getattr(rep, "fleet_late_s", 0.0)
        t.add_row("sent from", f"a load fleet of {rep.fleet} workers"
                  + (f" (the latest started {late:.2f} s late: counted in its latencies)" if late >= 0.01 else ""))
    t.add_row("throughput", f"{rep.throughput:,.1f} req/s (target {rep.target_rate:g}/s)")
    t.add_row("latency p50 / p90 / p99 / max",
              " / ".join(f"{rep.latency_ms[k]:.0f}" for k in ("p50", "p90", "p99", "max")) + " ms")
    t.add_row("statuses", ", ".join(f"{k}: {v:,}" for k, v in rep.statuses.items()))
    for kind, counts in sorted(rep.by_kind.items()):
        t.add_row(f"  {kind}", ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items())))
    t.add_row("accepted voters", f"{rep.accepted_voters:,}")
    if getattr(rep, "skipped_used", 0):
        t.add_row("voters skipped", f"{rep.skipped_used:,} (used by earlier runs)")
    if rep.unexpected:
        t.add_row("unexpected answers", ", ".join(f"{k} x{v}" + (f" ({UNEXPECTED_WHY[k]})" if k in UNEXPECTED_WHY
                                                                  else "") for k, v in sorted(rep.unexpected.items())))
    if getattr(rep, "other_traffic", 0):
        t.add_row("other traffic", f"{rep.other_traffic:,} vote(s) counted during the run were not this run's "
                  "(other voters or load tests, or votes whose answer never came); they are ballots, "
                  "so they do not fail the run")
    if rep.drain_seconds or rep.drained:
        t.add_row("drain", f"{'drained' if rep.drained else 'NOT drained'} after {rep.drain_seconds:.1f} s")
    parts: list[RenderableType] = [t]
    if getattr(rep, "interrupted", None):
        parts.append(Panel(Text(f"INTERRUPTED while {rep.interrupted}: not verified.", style="bold yellow")))
    elif rep.verified:
        parts.append(Panel(Text("VERIFIED: every 202 is exactly one counted ballot; duplicates and invalid "
                                "requests changed nothing.", style="bold green")))
    elif rep.problems:
        body = Text("VERIFICATION FAILED\n", style="bold red")
        for p in rep.problems:
            body.append(f"• {p}\n", style="red")
        parts.append(Panel(body))
    return Group(*parts)


def dlq_view(items: Iterable[Any], now: float | None = None) -> RenderableType:
    rows = list(items)
    t = Table(title=f"Dead-lettered messages: {len(rows)}", title_justify="left")
    for col in ("region", "queue", "receipt", "state", "candidate", "receives", "age"):
        t.add_column(col)
    now = now or time.time()
    for d in rows:
        what = (d.receipt[:12] + "…") if d.receipt else (
            f"(tally batch of {d.batch.get('batchSize', '?')})" if getattr(d, "batch", None) else "(not a vote)")
        t.add_row(d.region, d.queue, what,
                  d.state or "", d.candidate or "", str(d.receives), f"{max(0, now - d.sent_at):.0f} s")
    return t
