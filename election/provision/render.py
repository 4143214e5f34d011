"""Rich tables for `plan`, `up`, `status`: what changes, per region, field by field."""

from __future__ import annotations

import json
import os
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from election.provision.resources import Change
from election.provision.steps import Action, PlanResult, Step, plain

STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.NOOP: "dim"}
SYMBOL = {Action.CREATE: "+ create", Action.UPDATE: "~ update", Action.DELETE: "- delete", Action.NOOP: "  unchanged"}
MAX_VALUE = 60


def plan_table(result: PlanResult, show_noop: bool = False, title: str = "Plan") -> Table:
    """One row per changed resource (unchanged ones folded into a count per region)."""
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("region", no_wrap=True)
    table.add_column("kind", overflow="fold")
    table.add_column("name", overflow="fold", min_width=20)   # a name cut short with "…" cannot be told from its siblings
    table.add_column("action", no_wrap=True)
    table.add_column("changes", overflow="fold")
    for region, steps in result.by_region().items():
        hidden = 0
        groups: dict[tuple[str, Action], list[str]] = {}
        for s in steps:
            if s.action == Action.NOOP and not show_noop and not s.note:
                hidden += 1
            elif s.action in (Action.CREATE, Action.DELETE) and not s.changes and not s.note:
                groups.setdefault((s.kind, s.action), []).append(s.name)
            else:
                table.add_row(region, s.kind, s.name, Text(SYMBOL[s.action], style=STYLE[s.action]), _changes(s))
        for (kind, action), group in sorted(groups.items(), key=lambda g: (g[0][1] == Action.CREATE, g[0][0])):
            label = group[0] if len(group) == 1 else _group_label(sorted(group))
            table.add_row(region, kind, label, Text(SYMBOL[action], style=STYLE[action]), "")
        if hidden:
            table.add_row(region, "", Text(f"{hidden} resources unchanged", style="dim"), "", "")
    return table


def summary_line(result: PlanResult) -> str:
    return (f"{result.count(Action.CREATE)} to create, {result.count(Action.UPDATE)} to update, "
            f"{result.count(Action.DELETE)} to delete, {result.count(Action.NOOP)} unchanged.")


REGION_WIDTH = len("ap-southeast-2")   # the longest common AWS region names


def status_table(result: PlanResult) -> Table:
    """Per region: how many resources exist and match, differ, are missing or are left over."""
    table = Table(title="Status", title_justify="left")
    table.add_column("region", no_wrap=True, min_width=REGION_WIDTH)   # never cut at 80 columns
    for col in ("in place", "differs", "missing", "left over (to delete)"):
        table.add_column(col, justify="right")
    for region, steps in result.by_region().items():
        counts = {a: sum(1 for s in steps if s.action == a) for a in Action}
        table.add_row(region, str(counts[Action.NOOP]), _count(counts[Action.UPDATE], "yellow"),
                      _count(counts[Action.CREATE], "red"), _count(counts[Action.DELETE], "red"))
    return table


def outputs_table(outputs: dict[str, Any]) -> Table:
    table = Table(title="Outputs", title_justify="left")
    table.add_column("region")
    table.add_column("API URL")
    table.add_column("votes queue")
    for region, out in outputs.get("regions", {}).items():
        table.add_row(region, out.get("api_url") or "-", out.get("queues", {}).get("votes") or "-")
    return table


def _count(n: int, style: str) -> Text:
    return Text(str(n), style=style if n else "dim")


def _changes(step: Step) -> Text:
    text = Text()
    if step.note:
        text.append(step.note, style="cyan")
    for c in _flatten(step.changes):
        if text:
            text.append("\n")
        text.append(f"{c.field}: ", style="bold")
        if step.action == Action.CREATE or c.old is None:
            text.append(_short(c.new))
        else:
            text.append(_short(c.old), style="red")
            text.append(" → ")
            text.append(_short(c.new), style="green")
    return text


def _flatten(changes: tuple[Change, ...]) -> list[Change]:
    """A change inside a mapping (environment, tags, policy) shows the keys that differ, not the whole blob."""
    out: list[Change] = []
    for c in changes:
        if isinstance(c.old, dict) and isinstance(c.new, dict):
            for k in sorted(set(c.old) | set(c.new)):
                if c.old.get(k) != c.new.get(k):
                    out.append(Change(f"{c.field}.{k}", c.old.get(k), c.new.get(k)))
        else:
            out.append(c)
    return out


def _short(value: Any) -> str:
    value = plain(value)
    s = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return s if len(s) <= MAX_VALUE else s[:MAX_VALUE - 1] + "…"


def runtime_table(regions: list[Any]) -> Table:
    """`status`: per region, is it serving and what does it hold (RegionRuntime rows from provision.runtime)."""
    table = Table(title="Now", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),   # fits 80 columns
                  pad_edge=False)
    table.add_column("region", no_wrap=True, min_width=REGION_WIDTH)   # never cut at 80 columns
    table.add_column("health", min_width=len("unreachable"))
    # One-word headers, explained in the caption, so the table fits 80 columns with nothing cut.
    for name in ("queued", "parked", "dead", "voters", "ballots", "alarms"):
        table.add_column(name, justify="right")
    table.caption = ("queued: votes waiting; parked: hand-offs waiting for their home region; dead: dead letters; "
                     "voters, ballots: approximate item counts; alarms: how many are in ALARM")

    def num(value: int | None) -> Text:
        return Text("-", style="dim") if value is None else Text(_compact(value))

    for r in regions:
        dead = [r.queues.get(q) for q in ("votes_dlq", "handoff_dlq")]
        dead_total = None if all(d is None for d in dead) else sum(d or 0 for d in dead)
        health = Text(r.health, style="green" if r.health == "ok" else "dim" if r.health == "-" else "red")
        # How many are in ALARM; their names (long) are listed under the table (alarm_lines), so it fits 80 columns.
        alarms = (Text("-", style="dim") if r.alarms_in_alarm is None
                  else Text(str(len(r.alarms_in_alarm)) if r.alarms_in_alarm else "none",
                            style="red" if r.alarms_in_alarm else "green"))
        table.add_row(r.region, health, num(r.queues.get("votes")), num(r.queues.get("handoff")),
                      Text(f"{dead_total:,}", style="red") if dead_total else num(dead_total),
                      num(r.items.get("voters")), num(r.items.get("ballots")), alarms)
    return table


def _compact(n: int) -> str:
    """1,234 as is; 1,234,567 as 1.23M (the item counts are approximate anyway): a column stays narrow."""
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n:,}"


def alarm_lines(regions: list[Any]) -> list[str]:
    """`status`: the alarms in ALARM, one line per region that has any (the table shows how many)."""
    return [f"In ALARM in {r.region}: {', '.join(r.alarms_in_alarm)}" for r in regions if r.alarms_in_alarm]


def _group_label(names: list[str]) -> str:
    """'7 named /aws/lambda/election-2026-*: enqueue, forward, ...': the shared prefix once, then what differs."""
    prefix = os.path.commonprefix(names)
    cut = max(prefix.rfind("-"), prefix.rfind("/")) + 1
    if cut <= 0 or any(len(n) == cut for n in names):
        return f"{len(names)}: " + ", ".join(names)
    return f"{len(names)} named {prefix[:cut]}*: " + ", ".join(n[cut:] for n in names)
