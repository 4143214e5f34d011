"""`election demo`: the one-command tour: start the local stack, seed voters, vote, count, audit, serve the page."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from election.errors import ElectionError
from election.local.devserver import endpoints_table, serve_until_interrupted, start_with_progress, state_dir_hint
from election.local.stack import LocalStack
from election.ops.cast import CastReport, cast_votes
from election.ops.target import Target

DEFAULT_TURNOUT = 0.8   # votes = 80 % of voters unless told: the rest are left for the user to try by hand


def default_votes(voters: int) -> int:
    """The demo's votes for `voters` voters: most of them, always leaving at least one unused (when voters > 1)."""
    return max(1, min(voters - 1, round(voters * DEFAULT_TURNOUT))) if voters > 1 else voters


def _bar(console: Console, label: str) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def seed(console: Console, target: Target, out: Path, voters: int) -> list[tuple[str, str]]:
    from election.ops.seed import Checkpoint, read_credentials, seed_voters

    out.unlink(missing_ok=True)
    Checkpoint.for_credentials(out).unlink(missing_ok=True)
    with _bar(console, "Seeding voters") as bar:
        task = bar.add_task("Seeding voters", total=voters)
        report = seed_voters(target, out, voters, on_progress=lambda n: bar.advance(task, n))
    console.print(f"Seeded [bold]{report.voters}[/bold] voters ({', '.join(f'{r}: {n}' for r, n in report.per_region.items())}) "
                  f"in {report.seconds:.1f} s; their IDs are in {out} (owner-only).")
    return read_credentials(out)


def unused_voters(voters: list[tuple[str, str]], votes: int) -> list[tuple[str, str]]:
    """The voters `vote` leaves alone (in roll order), so the user can vote by hand with one."""
    used = set(_first_votes(voters, votes))
    return [v for v in voters if v not in used]


def _first_votes(voters: list[tuple[str, str]], votes: int) -> list[tuple[str, str]]:
    return random.Random(2016).sample(voters, min(votes, len(voters)))


def vote(console: Console, stack: LocalStack, voters: list[tuple[str, str]], votes: int) -> CastReport:
    """The first `votes` voters (a fixed sample) vote once; votes beyond the roll are second attempts (409)."""
    rng = random.Random(2017)
    chosen = _first_votes(voters, votes)
    chosen += [rng.choice(voters) for _ in range(max(0, votes - len(voters)))] if voters else []
    with _bar(console, "Voting") as bar:
        task = bar.add_task("Voting through the router", total=len(chosen))
        first = cast_votes(stack.endpoints["router"], stack.plan, chosen[:len(voters)], concurrency=8, seed=1,
                           on_vote=lambda _s: bar.advance(task))
        if len(chosen) > len(voters):
            # Second attempts once the first votes are ballots everywhere: then they are refused (409).
            # Sooner, one racing its own first vote is answered 202 with the same receipt (by contract)
            # and counted once, which is right but makes the tour's figures vary from run to run.
            stack.wait_idle(60)
            again = cast_votes(stack.endpoints["router"], stack.plan, chosen[len(voters):], concurrency=8, seed=2,
                               on_vote=lambda _s: bar.advance(task))
            first.statuses.update(again.statuses)
            first.latencies_ms.extend(again.latencies_ms)
            first.seconds += again.seconds
    statuses = ", ".join(f"{n} × {s}" for s, n in sorted(first.statuses.items()))
    console.print(f"Cast [bold]{first.sent}[/bold] votes in {first.seconds:.1f} s ({statuses}); accept latency "
                  f"p50 {first.percentile(50):.0f} ms, p99 {first.percentile(99):.0f} ms.")
    return first


def results_table(results: dict[str, Any], top_states: int = 5) -> Table:
    total = max(1, int(results.get("total", 0)))
    table = Table(title=f"Results: {results.get('total', 0)} votes counted", title_justify="left")
    table.add_column("candidate")
    table.add_column("votes", justify="right")
    table.add_column("share", justify="right")
    table.add_column("")
    for name, n in sorted(results.get("candidates", {}).items(), key=lambda kv: -kv[1]):
        table.add_row(name, str(n), f"{100 * n / total:.1f} %", "█" * round(30 * n / total))
    busiest = sorted(results.get("states", {}).items(), key=lambda kv: -kv[1].get("total", 0))[:top_states]
    if busiest:
        table.caption = "Most votes: " + ", ".join(f"{s} {v.get('total', 0)}" for s, v in busiest)
    return table


def results_and_audit(console: Console, target: Target, receipts: list[dict[str, str]], idle: bool) -> int:
    """Print the results and the audit's verdict; 0 when the audit is clean (and the pipeline went idle)."""
    from election.ops import audit as audit_mod
    from election.ops import state

    console.print(results_table(state.results(target)))
    verdict = audit_mod.audit(target, receipts)
    problems = list(verdict.discrepancies) + ([] if idle else ["The pipeline did not go idle within 120 s."])
    console.print("Counted by each home region's tally: " + ", ".join(
        f"{r} {n}" for r, n in verdict.counted.items()) + "; every region holds all "
        f"{sum(verdict.ballots_own.values())} ballots (replicated).")
    if not problems:
        console.print(f"[green]Audit: clean.[/green] Every one of the {len(receipts)} accepted votes is "
                      "one ballot, counted once, in its home region; the roll and ballots match in every region.")
        return 0
    console.print("[red]Audit: discrepancies found:[/red]")
    for p in problems:
        console.print(f"  • {p}")
    return 1


def run_demo(console: Console, plan: str, voters: int, votes: int | None, exit_after: bool, port_base: int,
             state_dir: Path = Path(".election"), **stack_options: Any) -> int:
    """Run the tour; returns the exit status (0 when the audit is clean). stack_options go to LocalStack.

    votes None: default_votes(voters), which leaves voters unused for the user to try by hand.
    """
    if votes is None:
        votes = default_votes(voters)
    if voters < 1 or votes < 0:
        raise ElectionError("--voters must be at least 1 and --votes at least 0.")
    stack = start_with_progress(console, plan, port_base, state_dir, **stack_options)
    try:
        target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
        console.print(f"The local election '{stack.plan.name}' runs in {len(stack.regions)} regions "
                      f"({', '.join(stack.regions)}) on this machine.")
        roll = seed(console, target, state_dir / "demo-voters.csv", voters)
        with console.status("Replicating the roll to every region..."):
            stack.wait_idle(60)   # as before polls open: every region must know every voter
        report = vote(console, stack, roll, votes)
        with console.status("Waiting for the queues to drain and the tally to catch up..."):
            idle = stack.wait_idle(120)
        status = results_and_audit(console, target, report.receipts, idle)
        unused = unused_voters(roll, votes)
        if exit_after:
            if unused:
                console.print(f"{len(unused)} voters did not vote (e.g. {unused[0][0]}, {unused[0][1]}); without "
                              "--exit the demo keeps serving the page so you can vote with one.")
            return status
        console.print(endpoints_table(stack))
        if unused:
            voter_id, st = unused[0]
            console.print(f"Try it: open [bold cyan]{stack.endpoints['website']}[/bold cyan] and vote with the "
                          f"unused ID [bold]{voter_id}[/bold] ({st}); {len(unused) - 1} more unused IDs are in "
                          f"{state_dir / 'demo-voters.csv'}. Ctrl-C stops the election.", soft_wrap=True)
        else:
            console.print(f"Every voter has voted (--votes >= --voters); the page at {stack.endpoints['website']} "
                          "shows the results. Ctrl-C stops the election.")
        if hint := state_dir_hint(stack.state_dir):
            console.print(hint, soft_wrap=True)
        serve_until_interrupted()
        return status
    finally:
        with console.status("Stopping the local election..."):
            stack.stop()
