"""Operations commands: seed-voters, loadtest, results, audit, recount, dlq, open, close."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from election.cli.app import cli, console, err_console
from election.cli.options import (
    DRAIN_TIMEOUT_S,
    Options,
    above_zero,
    common_options,
    example,
    fraction,
    http_url,
    ops_target,
    print_json,
    seconds,
    state_dir_option,
)


@example("election seed-voters --count 10000 --out voters.csv")
@cli.command("seed-voters")
@click.option("--count", type=click.IntRange(1), default=None, help="Voters to create (not needed with --resume).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("voters.csv"), show_default=True,
              help="The credential file (voter ID, state), written with owner-only permissions; never uploaded.")
@click.option("--resume", is_flag=True, help="Finish loading an existing credential file after a crash or Ctrl-C.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel batch writers.")
@click.option("--import", "to_s3", is_flag=True,
              help="Write the hashed roll to the plan's roll.import S3 location instead; the next `up` imports it.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@state_dir_option
@common_options
def seed_voters_cmd(opts: Options, count: int | None, out: Path, resume: bool, workers: int, to_s3: bool,
                    as_json: bool) -> None:
    """Create voters in proportion to 2016 turnout and load the roll into each voter's home region."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from election.ops.seed import prepare_credentials, seed_voters

    target = ops_target(opts)
    if to_s3:
        from election.ops import rollimport

        rollimport.check_ready(target)   # no roll section, or a table there already: said before anything is minted
    voters = prepare_credentials(out, count, resume)     # a wrong file fails here, before any progress is drawn
    if to_s3:
        _seed_import(target, out, voters, resume, workers, as_json)
        return
    with Progress(TextColumn("loading the roll"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json) as progress:
        task = progress.add_task("seed", total=None)

        def start(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done)

        try:
            report = seed_voters(target, out, count, resume=resume, workers=workers, on_start=start,
                                 on_progress=lambda n: progress.advance(task, n), voters=voters)
        except KeyboardInterrupt:
            progress.stop()
            err_console.print(f"Interrupted; what was loaded is checkpointed: run `election seed-voters --out {out} "
                              "--resume` to finish without duplicates.", highlight=False)
            sys.exit(130)
    if as_json:
        print_json(report.as_dict())
        return
    regions = ", ".join(f"{r}: {n:,}" for r, n in report.per_region.items())
    console.print(f"Loaded {report.loaded_now:,} voters in {report.seconds:.1f} s ({report.rate:,.0f} voters/s)"
                  + (f", {report.already_loaded:,} were already loaded" if report.already_loaded else "")
                  + f"; roll: {report.voters:,} ({regions}); {report.retries} batch re-sends. "
                  f"Credentials: {out} (owner-only; keep it private).")
    if report.replicated:
        console.print(f"The roll reached every region in {report.replication_seconds:.1f} s.")
    elif report.replicated is False:
        err_console.print(f"warning: after {report.replication_seconds:.0f} s the roll has not reached every region; "
                          "voters who vote there are refused (404) until it does.", highlight=False)


def _seed_import(target: Any, out: Path, voters: Any, resume: bool, workers: int, as_json: bool) -> None:
    """seed-voters --import: the parts to S3 under a progress bar, then what the import will cost."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from election.ops.rollimport import seed_import

    with Progress(TextColumn("writing the roll to S3"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json) as progress:
        task = progress.add_task("import", total=None)
        try:
            report = seed_import(target, out, voters, resume=resume, workers=workers,
                                 on_start=lambda total, done: progress.update(task, total=total, completed=done),
                                 on_progress=lambda n: progress.advance(task, n))
        except KeyboardInterrupt:
            progress.stop()
            err_console.print(f"Interrupted; the parts written are checkpointed: run `election seed-voters --import "
                              f"--out {out} --resume` to finish.", highlight=False)
            sys.exit(130)
    if as_json:
        print_json(report.as_dict())
        return
    parts = f"{report.parts} part" + ("s" if report.parts != 1 else "")
    console.print(f"Wrote {report.voters:,} hashed voters in {parts} to {report.location} "
                  f"({report.gzip_bytes / 1e6:,.1f} MB gzip this run, {report.seconds:.1f} s, {report.rate:,.0f} "
                  f"voters/s). Credentials: {out} (owner-only; keep it private). Now run `election up`: it imports "
                  f"the roll into {', '.join(report.import_regions)} (about ${report.import_usd:,.2f} at "
                  "$0.15 per GB).", highlight=False)


@example("election loadtest --voters-file voters.csv --rate 200 --duration 30 --duplicates 0.05")
@cli.command("loadtest")
@click.option("--voters-file", "--voters", "voters_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("voters.csv"),
              show_default=True, help="The credential file from seed-voters.")
@click.option("--votes", type=click.IntRange(1), default=None, help="First votes to cast (default: rate x duration, "
              "or every voter in the file).")
@click.option("--rate", type=float, default=50.0, show_default=True, callback=above_zero,
              help="Requests started per second (open loop).")
@click.option("--duration", type=float, default=None, callback=above_zero,
              help="Seconds of traffic (sets --votes from --rate).")
@click.option("--concurrency", type=click.IntRange(1, 10000), default=64, show_default=True,
              help="Most requests in flight at once.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes sending the schedule, each with its own event loop (default: one per CPU, "
                   "at most one per 2,500 req/s).")
@click.option("--fleet", type=click.IntRange(1, 1000), default=None,
              help="Send from this many workers of the plan's load fleet (deploy it with `election up --fleet`; "
                   "on the local stack: threads here).")
@click.option("--duplicates", type=float, default=0.0, callback=fraction, help="Fraction of repeat votes.")
@click.option("--invalid", type=float, default=0.0, callback=fraction, help="Fraction of malformed/invalid requests.")
@click.option("--url", default=None, callback=http_url, help="API base URL (default: the local router, or the plan's API).")
@click.option("--drain-timeout", type=float, default=DRAIN_TIMEOUT_S, show_default=True, callback=seconds,
              help="Seconds to wait for queues and tally before verifying.")
@click.option("--no-verify", is_flag=True, help="Skip waiting for the drain and the verification.")
@click.option("--allow-errors", is_flag=True, help="Verify even if votes were answered 5xx (e.g. a drill with no "
              "healthy region); by default any 5xx to a vote fails the run.")
@click.option("--reuse-voters", is_flag=True, help="Also send votes for voters earlier runs already used (they get "
              "409); by default they are skipped (listed in <voters file>.used).")
@click.option("--seed", "rng_seed", type=int, default=None, help="Random seed for a repeatable traffic mix.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@state_dir_option
@common_options
def loadtest_cmd(opts: Options, voters_path: Path, votes: int | None, rate: float, duration: float | None,
                 concurrency: int, workers: int | None, fleet: int | None, duplicates: float, invalid: float, url: str | None,
                 drain_timeout: float, no_verify: bool, allow_errors: bool, reuse_voters: bool, rng_seed: int | None,
                 as_json: bool) -> None:
    """Replay votes at a target rate, then verify every accepted vote was counted exactly once.

    Only this run's votes are verified: other traffic at the same time is tolerated and reported.
    Ctrl-C stops at any phase and keeps every receipt received (finish with `election audit`).
    """
    from rich.live import Live
    from rich.text import Text

    from election.ops import loadtest, render, usedvoters
    from election.ops.seed import read_credentials

    voters = read_credentials(voters_path)    # a wrong file fails here, before anything is resolved or sent
    used = usedvoters.used_path(voters_path)
    skipped = 0
    if not reuse_voters:
        voters, skipped = usedvoters.fresh_voters(voters, used)
        if not voters:
            raise click.UsageError(f"Every voter in {voters_path} was already used by an earlier run (listed in "
                                   f"{used}); seed more with `election seed-voters`, or pass --reuse-voters.")
        if skipped and not as_json:
            err_console.print(f"Skipping {skipped:,} voters that earlier runs already used (listed in {used}).",
                              highlight=False)
    target = ops_target(opts)
    if votes is None:
        # --duration: that many seconds of traffic in all, duplicates and invalid requests included.
        votes = min(len(voters), max(1, int(rate * duration * (1 - duplicates - invalid)))) if duration \
            else len(voters)
    base = url or target.entry_url()
    with Live(console=err_console, refresh_per_second=4, transient=True) as live_view:
        def tick(live: loadtest.Live) -> None:
            if not as_json:
                live_view.update(Text(f"sent {live.sent:,}/{live.planned:,}  answered {live.done:,}  "
                                      f"{live.rate:,.0f}/s  unexpected {live.errors}  "
                                      f"p50 {live.percentile(50) * 1000:.0f} ms  p99 {live.percentile(99) * 1000:.0f} ms"))

        def drained(queued: int, uncounted: int) -> None:
            if not as_json:
                live_view.update(Text(f"waiting for the pipeline: {queued:,} queued, "
                                      f"{max(uncounted, 0):,} not yet counted"))

        try:
            report = loadtest.run_loadtest(target, voters, base, votes, rate, concurrency, duplicates, invalid,
                                           drain_timeout=drain_timeout, seed=rng_seed, verify_after=not no_verify,
                                           on_tick=tick, on_drain=drained, workers=workers, used=used, fleet=fleet,
                                           allow_errors=allow_errors)
        except KeyboardInterrupt:
            live_view.stop()
            err_console.print("Interrupted before any vote was sent; nothing to verify.")
            sys.exit(130)
    report.skipped_used = skipped
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(render.loadtest_view(report))
    if report.interrupted:
        err_console.print(f"Interrupted while {report.interrupted}: the {report.accepted_voters:,} receipts received "
                          f"are kept in {report.ledger}. Finish verifying with: election audit --receipts "
                          f"{report.ledger}", highlight=False, soft_wrap=True)
        sys.exit(130)
    if not no_verify and not report.verified:
        sys.exit(1)


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
@click.option("--function", "function", type=click.Choice(["enqueue", "process", "forward", "tally", "results",
              "receipt", "health"]), default=None, help="Only this function (health checks only when named).")
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
