"""Operations commands: results, audit, recount, dlq, open, close, logs (seed-voters and loadtest: load.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from election.cli.app import cli, console, err_console
from election.cli.options import (
    DRAIN_TIMEOUT_S,
    Options,
    above_zero,
    common_options,
    example,
    ops_target,
    print_json,
    seconds,
    state_dir_option,
)
from election.lambdas.contract import FUNCTIONS


@example("election results --state TX --watch")
@cli.command("results")
@click.option("--state", "state_code", default=None, help="One state's results (postal code, e.g. TX).")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=float, default=2.0, show_default=True, callback=above_zero,
              help="Seconds between refreshes with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same shape as GET /results).")
@state_dir_option
@common_options
def results_cmd(opts: Options, state_code: str | None, watch: bool, interval: float, as_json: bool) -> None:
    """National and per-state results, with bars."""
    import time

    from rich.live import Live

    from election.errors import ElectionError
    from election.ops import render, state

    target = ops_target(opts)
    code = state_code.upper() if state_code else None
    if code and code not in target.plan.state_regions():
        raise ElectionError(f"'{state_code}' is not a US state or DC postal code.")
    res = state.results(target)
    if as_json:
        print_json(res["states"][code] | {"state": code} if code else res)
        return
    if not watch:
        console.print(render.results_view(res, code))
        return
    with Live(render.results_view(res, code), console=console, refresh_per_second=1) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render.results_view(state.results(target), code))
        except KeyboardInterrupt:
            return     # Ctrl-C is how --watch ends


@example("election audit --receipts .election/election-local-<id>-receipts.jsonl")
@cli.command("audit")
@click.option("--receipts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Receipts of accepted votes to prove present (default: the loadtest ledger, if any).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="First wait for the queues and the tally to drain.")
@click.option("--drain-timeout", "--timeout", "timeout", type=float, default=DRAIN_TIMEOUT_S, show_default=True,
              callback=seconds,
              help="Seconds to wait for the drain.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@state_dir_option
@common_options
def audit_cmd(opts: Options, receipts: Path | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Reconcile roll, ballots, results, queues and dead letters across regions; exit 1 on any discrepancy."""
    from election.ops import drain, render
    from election.ops.audit import audit, load_receipts
    from election.ops.loadtest import ledger_path

    if receipts and not receipts.exists():
        raise click.BadParameter(f"{receipts} does not exist.", param_hint="--receipts")
    target = ops_target(opts)
    ledger = receipts or ledger_path(target)
    accepted = load_receipts(ledger) if ledger.exists() else None    # a wrong file fails before the wait
    if wait:
        with err_console.status("waiting for the queues and the tally to drain"):
            drain.wait_drained(target, timeout=timeout)
    report = audit(target, accepted)
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(render.audit_view(report))
    if not report.ok:
        sys.exit(1)


@example("election recount --json")
@cli.command("recount")
@click.option("--wait/--no-wait", default=True, show_default=True, help="First wait for queues and tally to drain.")
@click.option("--drain-timeout", "--timeout", "timeout", type=float, default=DRAIN_TIMEOUT_S, show_default=True,
              callback=seconds,
              help="Seconds to wait for the drain.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@state_dir_option
@common_options
def recount_cmd(opts: Options, wait: bool, timeout: float, as_json: bool) -> None:
    """Rebuild the results counters from the ballots table."""
    from election.ops import drain
    from election.ops.recount import recount

    target = ops_target(opts)
    given_up = drain.given_up_batches(target) if wait else 0
    if given_up:
        err_console.print(f"The tally gave up on {given_up} stream batch(es), so it will not catch up by itself: "
                          "recounting without waiting for it.")
    elif wait:
        with err_console.status("waiting for the queues and the tally to drain"):
            drain.wait_drained(target, timeout=timeout)
    with err_console.status("recounting every region's ballots"):
        done = recount(target)
    if as_json:
        print_json(done.as_dict())
        return
    if not done.fixes:
        console.print(f"Recounted {done.ballots:,} ballots: every counter was already right.")
        return
    for f in done.fixes:
        console.print(f"  {f.region} {f.state} / {f.candidate}: {f.was:,} -> {f.now:,}")
    console.print(f"Recounted {done.ballots:,} ballots and corrected {len(done.fixes)} counter(s).")


@example("election dlq list --region us-east-1", "election dlq redrive")
@cli.group("dlq")
def dlq_group() -> None:
    """Inspect and replay dead-lettered votes."""


@example("election dlq list --region us-east-1")
@dlq_group.command("list")
@click.option("--region", default=None, help="Only this region.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@state_dir_option
@common_options
def dlq_list_cmd(opts: Options, region: str | None, as_json: bool) -> None:
    """Show dead-lettered votes (receipt, state, candidate; never voter IDs), leaving them in place."""
    from election.ops import dlq, render

    items = dlq.list_dead_letters(ops_target(opts), region)
    if as_json:
        print_json([d.as_dict() for d in items])
    else:
        console.print(render.dlq_view(items))


@example("election dlq redrive --region us-east-1")
@dlq_group.command("redrive")
@click.option("--region", default=None, help="Only this region.")
@state_dir_option
@common_options
def dlq_redrive_cmd(opts: Options, region: str | None) -> None:
    """Send dead-lettered votes back to their queue to be processed again."""
    from election.ops import dlq

    with err_console.status("redriving"):
        moved = dlq.redrive(ops_target(opts), region)
    console.print(f"Redrove {sum(moved.values()):,} message(s): "
                  + ", ".join(f"{r}: {n:,}" for r, n in moved.items()) + ".")


@example("election open --plan config/aws.yaml")
@cli.command("open")
@state_dir_option
@common_options
def open_cmd(opts: Options) -> None:
    """Open the polls in every region."""
    from election.ops.closing import open_polls

    polls = open_polls(ops_target(opts))
    console.print(f"The polls are open (since {polls.get('changed_at')}).")


@example("election close --plan config/aws.yaml --yes")
@cli.command("close")
@click.option("--drain-timeout", "--timeout", "timeout", type=float, default=DRAIN_TIMEOUT_S, show_default=True,
              callback=seconds,
              help="Seconds to wait for the drain.")
@click.option("--grace", type=float, default=None, callback=seconds,
              help="Seconds to wait for requests already past the polls check (default: cache TTL + Lambda timeout).")
@click.option("--force", is_flag=True, help="Destroy the pepper even if votes are still queued or dead-lettered.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the final results as JSON.")
@state_dir_option
@common_options
def close_cmd(opts: Options, timeout: float, grace: float | None, force: bool, yes: bool, as_json: bool) -> None:
    """Close the polls: stop new votes, drain, final tally, destroy the ballot pepper, print the results."""
    from election.ops import render
    from election.ops.closing import close_polls

    target = ops_target(opts)
    if not yes:
        click.confirm(f"Close the polls of '{target.plan.name}' for good? The ballot pepper will be destroyed",
                      abort=True)
    with err_console.status("closing") as status:
        done = close_polls(target, timeout=timeout, grace=grace, force=force,
                           on_step=lambda s: status.update(s),
                           on_poll=lambda q, u: status.update(f"draining: {q:,} queued, {max(u, 0):,} uncounted"))
    if as_json:
        print_json(done.as_dict())
        return
    console.print(render.results_view(done.results))
    where = ", ".join(done.pepper_destroyed_in) or "no region (it was already gone)"
    console.print(f"The polls are closed; the ballot pepper is destroyed in {where}.")
    for note in done.notes:
        console.print(note)


@example("election logs --follow --function enqueue", "election logs --plan config/aws.yaml --region us-west-2")
@cli.command("logs")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.option("--function", "function", type=click.Choice(list(FUNCTIONS)), default=None,
              help="Only this function (health checks only when named).")
@click.option("--region", default=None, help="Only this region.")
@click.option("--since", type=float, default=3600.0, show_default=True, callback=seconds,
              help="On AWS: seconds of history to start from.")
@state_dir_option
@common_options
def logs_cmd(opts: Options, follow: bool, function: str | None, region: str | None, since: float) -> None:
    """What the functions logged, one readable line each (local stack: its lambda.log; AWS: CloudWatch Logs)."""
    from election.errors import ElectionError
    from election.ops import logs

    target = ops_target(opts)
    if region and region not in target.plan.region_names:
        raise ElectionError(f"'{region}' is not a region of the plan {target.plan.name} "
                            f"({', '.join(target.plan.region_names)}).")
    if target.is_local:
        path = target.state_dir / "lambda.log"
        if not path.exists():
            raise ElectionError(f"{path} does not exist yet; the functions have not logged anything.")
        entries = logs.local_entries(path, follow, function, region)
    else:
        entries = logs.aws_entries(target, follow, function, region, since_s=since)
    try:
        for entry in entries:
            click.echo(entry.line())
    except KeyboardInterrupt:
        return      # Ctrl-C is how --follow ends
