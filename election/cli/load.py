"""Operations commands that load the system: seed-voters (the roll) and loadtest (votes).

Listed under "Operate the election" in --help, before operate.py's commands (cli/__init__ imports this first)."""

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


def _voters_to_use(voters_path: Path, reuse_voters: bool, as_json: bool) -> tuple[Any, Path, int]:
    """The credential file's voters, less those earlier runs used unless --reuse-voters; the used-list path."""
    from election.ops import usedvoters
    from election.ops.seed import read_credentials

    voters = read_credentials(voters_path)    # a wrong file fails here, before anything is resolved or sent
    used = usedvoters.used_path(voters_path)
    if reuse_voters:
        return voters, used, 0
    voters, skipped = usedvoters.fresh_voters(voters, used)
    if not voters:
        raise click.UsageError(f"Every voter in {voters_path} was already used by an earlier run (listed in "
                               f"{used}); seed more with `election seed-voters`, or pass --reuse-voters.")
    if skipped and not as_json:
        err_console.print(f"Skipping {skipped:,} voters that earlier runs already used (listed in {used}).",
                          highlight=False)
    return voters, used, skipped


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

    from election.ops import loadtest, render

    voters, used, skipped = _voters_to_use(voters_path, reuse_voters, as_json)
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
