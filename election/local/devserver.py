"""`election dev`: start the local stack with live progress, show where everything listens, serve until Ctrl-C."""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from election.local.stack import LocalStack
from election.statedir import DEFAULT_STATE_DIR, STATE_DIR_ENV


def start_with_progress(console: Console, plan: str, port_base: int, state_dir: Path,
                        **kwargs: Any) -> LocalStack:
    """Start a LocalStack under a spinner that names the step and counts provisioned resources."""
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.fields[detail]}",
                  style="dim"), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("Starting the local election", detail="")
        done = [0]

        def step(message: str) -> None:
            bar.update(task, description=message[:1].upper() + message[1:])

        def progress(key: str, status: str) -> None:
            if status in ("created", "updated", "unchanged"):
                done[0] += 1
            bar.update(task, detail=f"{done[0]} resources ready, {status} {key}")

        stack = LocalStack(plan, port_base=port_base, state_dir=state_dir, progress=progress, on_step=step, **kwargs)
        stack.start()
    return stack


def endpoints_table(stack: LocalStack) -> Table:
    table = Table(title=f"Local election '{stack.plan.name}'", title_justify="left")
    table.add_column("what")
    table.add_column("where", style="cyan")
    e = stack.endpoints
    table.add_row("voting page", e["website"])
    table.add_row("API (router, plays Route 53)", e["router"])
    for region, url in e["regions"].items():
        table.add_row(f"API in {region}", url)
    table.add_row("AWS endpoint (moto)", e["endpoint_url"])
    table.add_row("endpoints file", str(stack.state_dir / "local.json"))
    table.add_row("function logs", str(stack.logs.path))
    return table


def state_dir_hint(state_dir: Path) -> str | None:
    """For a state dir other than ./.election: how other commands (and other terminals) find this stack."""
    where = Path(state_dir).resolve()
    if where == DEFAULT_STATE_DIR.resolve():
        return None
    return (f"This stack's state dir is {where}; other commands find it with --state-dir or, in any terminal, after "
            f"[bold]export {STATE_DIR_ENV}={shlex.quote(str(where))}[/bold]")


def serve_until_interrupted(on_tick: Callable[[], object] | None = None) -> None:
    """Block until Ctrl-C or SIGTERM (both end the same clean way)."""
    stop = threading.Event()
    # Both signals set the event (SIGINT too: a shell may start background jobs with it ignored).
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(1.0):
            if on_tick:
                on_tick()
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_dev(console: Console, plan: str, port_base: int, state_dir: Path = Path(".election")) -> None:
    from election.local.reload import Reloader

    # A changed handler file is picked up by the running gateways and pollers (see local/reload.py); the
    # voting page is served from website/ as it is on disk, so an edit there shows on the next reload.
    reloader = Reloader(say=lambda message: console.print(message, highlight=False))
    stack = start_with_progress(console, plan, port_base, state_dir, handler_factory=reloader.factory)
    try:
        console.print(endpoints_table(stack))
        console.print("Other commands (seed-voters, loadtest, results, audit, status) find this stack by themselves. "
                      "Drill a failover with [bold]election region down us-east-1[/bold]. Edit a handler in "
                      "election/lambdas/ and it is reloaded; [bold]election logs --follow[/bold] shows what the "
                      "functions log. Ctrl-C stops everything.")
        if hint := state_dir_hint(stack.state_dir):
            console.print(hint, soft_wrap=True)
        serve_until_interrupted(on_tick=reloader.check)
    except KeyboardInterrupt:
        pass   # Ctrl-C while the table was printing: the same clean stop
    finally:
        with console.status("Stopping the local election..."):
            stack.stop()
        console.print("Stopped the local election; its state was in memory and is gone.")
