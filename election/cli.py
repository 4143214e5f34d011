"""Click commands only: parse options, call into the package, render with rich."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from election.errors import explain

console = Console()
err_console = Console(stderr=True)


class Options:
    """The options every AWS-facing command shares (also readable from the environment)."""

    def __init__(self, plan: str, endpoint_url: str | None, profile: str | None, debug: bool) -> None:
        self.plan_path = plan
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.debug = debug


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--plan, --endpoint-url, --profile, --debug, collected into one Options argument `opts`."""

    @click.option("--plan", "plan", default="config/local.yaml", envvar="ELECTION_PLAN", show_default=True,
                  type=click.Path(dir_okay=False), help="The region plan (YAML).")
    @click.option("--endpoint-url", envvar="ELECTION_ENDPOINT_URL", default=None,
                  help="Send every AWS call here (e.g. a moto server).")
    @click.option("--profile", envvar="AWS_PROFILE", default=None, help="AWS profile from your AWS config.")
    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    @functools.wraps(fn)
    def wrapper(*args: Any, plan: str, endpoint_url: str | None, profile: str | None, debug: bool,
                **kwargs: Any) -> Any:
        opts = Options(plan, endpoint_url, profile, debug)
        click.get_current_context().meta["debug"] = debug
        return fn(*args, opts=opts, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="election")
def cli() -> None:
    """Provision, run, load-test and tear down a multi-region serverless election.

    Start with `election demo`: the whole election on this machine, no AWS account needed.
    """


# --- provisioning: plan / up / down / status ---

def _deployer(opts: Options) -> Any:
    """The deployer of the plan's target (see _target_and_deployer)."""
    return _target_and_deployer(opts)[1]


def _target_and_deployer(opts: Options) -> tuple[Any, Any]:
    """Build the deployer for the plan's target (imports kept here so the CLI starts fast).

    The target is found the way every ops command finds it: with no --plan and a
    running `election dev`, its plan and moto endpoint; a local plan with no stack
    running is one clear sentence rather than a missing-credentials error.
    """
    from election.ops.target import resolve_target
    from election.provision.engine import Deployer

    target = resolve_target(opts)
    endpoint = target.provider.endpoint_url
    if endpoint:
        _check_reachable(endpoint)
    deployer = Deployer(target.plan, target.provider)
    if endpoint:
        _check_speaks_aws(deployer, endpoint)
    return target, deployer


def _check_speaks_aws(deployer: Any, url: str) -> None:
    """One STS call (the deployer needs the account anyway): a web server that is not AWS fails here, clearly."""
    from botocore.parsers import ResponseParserError

    from election.errors import ElectionError

    try:
        _ = deployer.ctx.account_id
    except ResponseParserError:
        raise ElectionError(f"The endpoint {url} answers, but not like AWS; is --endpoint-url the moto server's "
                            "URL?") from None


def _check_reachable(url: str) -> None:
    """Fail in a second, not after every retry of every thread, when --endpoint-url is not listening."""
    import socket
    from urllib.parse import urlparse

    from election.errors import ElectionError

    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "localhost", port), timeout=3).close()
    except OSError:
        raise ElectionError(f"Cannot reach the AWS endpoint {url}; is it running and is the URL right?") from None


def _diff(deployer: Any) -> Any:
    with console.status(f"Reading what exists for plan {deployer.plan.name} in "
                        f"{', '.join(deployer.plan.region_names)}..."):
        return deployer.diff()


def _run_with_progress(total: int, label: str, work: Callable[[Callable[[str, str], None]], Any]) -> Any:
    """Run work(progress) under a live rich progress bar advanced by finished steps."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    done_states = {"created", "updated", "unchanged", "retired", "deleted"}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[current]}", style="dim"),
                  console=console, transient=False) as bar:
        task = bar.add_task(label, total=total, current="")

        def progress(key: str, status: str) -> None:
            if status in done_states:
                bar.advance(task)
            else:
                bar.update(task, current=f"{status} {key}")

        result = work(progress)
        bar.update(task, current="")
        return result


def _interrupted(command: str) -> None:
    err_console.print(f"[red]Interrupted.[/red] Nothing is lost: run `election {command}` again to resume "
                      "where it stopped.", highlight=False)
    sys.exit(130)


@cli.command("plan")
@common_options
def plan_cmd(opts: Options) -> None:
    """Show what `up` would create, update or delete (changes nothing)."""
    from election.provision import render

    result = _diff(_deployer(opts))
    console.print(render.plan_table(result))
    console.print(render.summary_line(result))


@cli.command("up")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@common_options
def up_cmd(opts: Options, yes: bool) -> None:
    """Create or update everything in the plan (regions in parallel); a second run changes nothing."""
    from election.provision import render

    deployer = _deployer(opts)
    try:
        result = _diff(deployer)
        if not result.changed:
            console.print(render.outputs_table(deployer.summary(deployer.outputs)))
            _, mutating = deployer.provider.counts()
            console.print(f"Nothing to do ({mutating} mutating AWS calls).")
            return
        console.print(render.plan_table(result))
        console.print(render.summary_line(result))
        if not yes:
            click.confirm("Apply these changes?", abort=True)
        deployer.provider.reset_counts()
        outputs = _run_with_progress(len(result.steps), "up", lambda p: deployer.apply(progress=p))
    except KeyboardInterrupt:
        _interrupted("up")
    reads, mutating = deployer.provider.counts()
    console.print(render.outputs_table(outputs))
    if outputs.get("site_url"):
        console.print(f"Voting page: {outputs['site_url']}")
    console.print(f"Done: {mutating} mutating and {reads} read AWS calls.")


@cli.command("down")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.option("--destroy-data", is_flag=True, help="Also delete tables that hold ballots.")
@common_options
def down_cmd(opts: Options, yes: bool, destroy_data: bool) -> None:
    """Delete everything tagged for the plan, in reverse order; refuses while ballots exist."""
    from election.provision import render
    from election.provision.engine import PlanResult, Step

    deployer = _deployer(opts)
    try:
        with console.status("Finding everything tagged for the plan..."):
            targets = deployer.targets(destroy_data)
        if not targets:
            console.print(f"Nothing tagged for plan {deployer.plan.name} exists.")
            return
        console.print(render.plan_table(PlanResult([Step(f.key, f.kind, f.region, f.name, "delete")
                                                    for f in targets]), title="Down"))
        if not yes:
            click.confirm(f"Delete these {len(targets)} resources?", abort=True)
        _run_with_progress(len(targets), "down",
                           lambda p: deployer.destroy(destroy_data, progress=p, targets=targets))
    except KeyboardInterrupt:
        _interrupted("down")
    console.print(f"Deleted {len(targets)} resources (KMS keys are scheduled for deletion in 7 days).")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@common_options
def status_cmd(opts: Options, as_json: bool) -> None:
    """Per region, what exists and what differs from the plan."""
    import json

    from election.provision import render
    from election.provision.runtime import runtime

    target, deployer = _target_and_deployer(opts)
    result = _diff(deployer)
    summary = deployer.summary(deployer.outputs)
    if target.endpoints:   # the local stack: ask its regional APIs
        apis = {r: target.endpoints.get("regions", {}).get(r) for r in deployer.plan.region_names}
    elif target.provider.endpoint_url:   # an emulator: its API hostnames resolve nowhere
        apis = {r: None for r in deployer.plan.region_names}
    else:
        apis = {r: summary["regions"][r]["api_url"] for r in deployer.plan.region_names}
    with console.status("Reading health, queues, tables and alarms..."):
        now = runtime(deployer.provider.client, deployer.plan.name, apis)
    if as_json:
        click.echo(json.dumps({"plan": deployer.plan.name, "in_sync": not result.changed, "outputs": summary,
                               "steps": result.to_json(), "runtime": [r.to_json() for r in now]},
                              indent=2, default=str))
        return
    console.print(render.status_table(result))
    console.print(render.runtime_table(now))
    if result.changed:
        console.print(render.plan_table(result, title="Differences"))
    else:
        console.print("Everything matches the plan.")


# --- local ---

def _local_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--plan, --port-base, --state-dir and --debug for the commands that run the local stack."""
    fn = click.option("--debug", is_flag=True, help="Show tracebacks.")(fn)
    fn = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"),
                      envvar="ELECTION_STATE_DIR", show_default=True,
                      help="Where local.json (the endpoints) and the function logs go [env ELECTION_STATE_DIR].")(fn)
    fn = click.option("--port-base", type=click.IntRange(0, 65000), default=7700, show_default=True,
                      help="moto on N, router N+1, page N+2, control N+3, regional APIs N+10...; 0 = any free ports.")(fn)
    return click.option("--plan", default="config/local.yaml", envvar="ELECTION_PLAN", show_default=True,
                        type=click.Path(dir_okay=False), help="A region plan with target: local.")(fn)


@cli.command("dev")
@_local_options
def dev_cmd(plan: str, port_base: int, state_dir: Path, debug: bool) -> None:
    """Run the whole election on this machine (moto, the real deployer and handlers) until Ctrl-C."""
    from election.local.devserver import run_dev

    run_dev(console, plan, port_base, state_dir)


@cli.command("demo")
@click.option("--voters", type=int, default=300, show_default=True, help="Voters to put on the roll.")
@click.option("--votes", type=int, default=300, show_default=True,
              help="Votes to cast through the router (beyond --voters they are second attempts, refused).")
@click.option("--exit", "exit_after", is_flag=True, help="Exit with the audit's status instead of serving the page.")
@_local_options
def demo_cmd(voters: int, votes: int, exit_after: bool, plan: str, port_base: int, state_dir: Path,
             debug: bool) -> None:
    """The tour: start the local election, seed voters, vote, print results and the audit, serve the page."""
    from election.local.demo import run_demo

    status = run_demo(console, plan, voters, votes, exit_after, port_base, state_dir)
    if status:
        sys.exit(status)


@cli.group("region")
def region_grp() -> None:
    """Failover drills: take a region down and bring it back (on the running local stack)."""


def _region_action(action: str, region: str, state_dir: Path, plan: str | None, endpoint_url: str | None,
                   profile: str | None) -> None:
    from rich.table import Table

    from election.errors import ElectionError
    from election.local.control import send
    from election.local.endpoints import read_endpoints
    from election.plan import load_plan

    if plan is not None and load_plan(plan).target == "aws":
        from election.local.drill import aws_drill
        from election.provision.clients import ClientProvider

        check = aws_drill(load_plan(plan), ClientProvider(endpoint_url=endpoint_url, profile=profile), region,
                          down=action == "down")
        state = "inverted: Route 53 now treats it as unhealthy" if check.get("HealthCheckConfig", {}).get(
            "Inverted") else "restored"
        console.print(f"The health check of {region} ({check['Id']}) is {state}; DNS follows within a minute or two.")
        return
    endpoints = read_endpoints(state_dir)
    if endpoints is None:
        raise ElectionError(f"No local stack is running (no live {state_dir / 'local.json'}); start one with "
                            "`election dev`, or pass --plan with an AWS plan.")
    health = send(endpoints["control"], action, region)
    table = Table(title="Regions", title_justify="left")
    for col in ("region", "state", "router health check", "API"):
        table.add_column(col)
    for name, h in health.items():
        table.add_row(name, "[green]up[/green]" if h["up"] else "[red]down (drill)[/red]",
                      "healthy" if h["healthy"] else f"unhealthy: {h['detail']}", h["api"])
    console.print(table)
    console.print(f"{region} is {action}, and the router's health checks have seen it.")


def _region_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.argument("region")(fn)
    fn = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"),
                      envvar="ELECTION_STATE_DIR",
                      help="Where the running local stack's local.json is [env ELECTION_STATE_DIR].")(fn)
    fn = click.option("--plan", default=None, type=click.Path(dir_okay=False),
                      help="An AWS plan: drill its Route 53 health check instead of the local stack.")(fn)
    fn = click.option("--endpoint-url", envvar="ELECTION_ENDPOINT_URL", default=None, help="Send AWS calls here.")(fn)
    fn = click.option("--profile", envvar="AWS_PROFILE", default=None, help="AWS profile from your AWS config.")(fn)
    return click.option("--debug", is_flag=True, help="Show tracebacks.")(fn)


@region_grp.command("down")
@_region_options
def region_down_cmd(region: str, state_dir: Path, plan: str | None, endpoint_url: str | None, profile: str | None,
                    debug: bool) -> None:
    """Take REGION down: locally its API and pollers stop and its queues refuse messages; on AWS its
    Route 53 health check is inverted. Traffic fails over; votes wait in hand-off queues."""
    _region_action("down", region, state_dir, plan, endpoint_url, profile)


@region_grp.command("up")
@_region_options
def region_up_cmd(region: str, state_dir: Path, plan: str | None, endpoint_url: str | None, profile: str | None,
                  debug: bool) -> None:
    """Bring REGION back; votes waiting in hand-off queues are forwarded and counted."""
    _region_action("up", region, state_dir, plan, endpoint_url, profile)


# --- operations ---

STATE_DIR_META = "election.ops.state_dir"


def _remember_state_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    ctx.meta[STATE_DIR_META] = value
    return value


def _state_dir_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--state-dir: where `election dev --state-dir` keeps local.json, so ops commands find that stack."""
    return click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        envvar="ELECTION_STATE_DIR", expose_value=False, callback=_remember_state_dir,
                        help="The running local stack's state dir (as given to `election dev`)  "
                             "[default: .election]")(fn)


def _target(opts: Options) -> Any:
    from election.ops.target import resolve_target

    ctx = click.get_current_context(silent=True)
    return resolve_target(opts, state_dir=ctx.meta.get(STATE_DIR_META) if ctx else None)


def _print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def _fraction(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0 <= value < 0.5:   # also false for nan
        raise click.BadParameter("must be a fraction between 0 and 0.5 (e.g. 0.05 for 5 %).")
    return value


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An API base URL: http(s)://host[:port][/path]."""
    from urllib.parse import urlsplit

    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port   # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http(s):// URL (e.g. http://127.0.0.1:7701).")
    return value


def _above_zero(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A rate or an interval: a finite number above 0 (click's float also accepts nan and inf)."""
    import math

    if value is not None and not (value > 0 and math.isfinite(value)):
        raise click.BadParameter("must be a number above 0.")
    return value


def _seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A timeout or a grace period: finite seconds, 0 or more."""
    import math

    if value is not None and not (value >= 0 and math.isfinite(value)):
        raise click.BadParameter("must be seconds, 0 or more.")
    return value


@cli.command("seed-voters")
@click.option("--count", type=click.IntRange(1), default=None, help="Voters to create (not needed with --resume).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("voters.csv"), show_default=True,
              help="The credential file (voter ID, state), written with owner-only permissions; never uploaded.")
@click.option("--resume", is_flag=True, help="Finish loading an existing credential file after a crash or Ctrl-C.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel batch writers.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_state_dir_option
@common_options
def seed_voters_cmd(opts: Options, count: int | None, out: Path, resume: bool, workers: int, as_json: bool) -> None:
    """Create voters in proportion to 2016 turnout and load the roll into each voter's home region."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from election.ops.seed import prepare_credentials, seed_voters

    target = _target(opts)
    voters = prepare_credentials(out, count, resume)     # a wrong file fails here, before any progress is drawn
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
        _print_json(report.as_dict())
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


@cli.command("loadtest")
@click.option("--voters", "voters_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("voters.csv"),
              show_default=True, help="The credential file from seed-voters.")
@click.option("--votes", type=click.IntRange(1), default=None, help="First votes to cast (default: rate x duration, "
              "or every voter in the file).")
@click.option("--rate", type=float, default=50.0, show_default=True, callback=_above_zero,
              help="Requests started per second (open loop).")
@click.option("--duration", type=float, default=None, callback=_above_zero,
              help="Seconds of traffic (sets --votes from --rate).")
@click.option("--concurrency", type=click.IntRange(1, 10000), default=64, show_default=True,
              help="Most requests in flight at once.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes sending the schedule, each with its own event loop (default: one per CPU, "
                   "at most one per 2,500 req/s).")
@click.option("--duplicates", type=float, default=0.0, callback=_fraction, help="Fraction of repeat votes.")
@click.option("--invalid", type=float, default=0.0, callback=_fraction, help="Fraction of malformed/invalid requests.")
@click.option("--url", default=None, callback=_http_url, help="API base URL (default: the local router, or the plan's API).")
@click.option("--drain-timeout", type=float, default=300.0, show_default=True, callback=_seconds,
              help="Seconds to wait for queues and tally before verifying.")
@click.option("--no-verify", is_flag=True, help="Skip waiting for the drain and the verification.")
@click.option("--seed", "rng_seed", type=int, default=None, help="Random seed for a repeatable traffic mix.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_state_dir_option
@common_options
def loadtest_cmd(opts: Options, voters_path: Path, votes: int | None, rate: float, duration: float | None,
                 concurrency: int, workers: int | None, duplicates: float, invalid: float, url: str | None,
                 drain_timeout: float, no_verify: bool, rng_seed: int | None, as_json: bool) -> None:
    """Replay votes at a target rate, then verify every accepted vote was counted exactly once."""
    from rich.live import Live
    from rich.text import Text

    from election.ops import loadtest, render
    from election.ops.seed import read_credentials

    voters = read_credentials(voters_path)    # a wrong file fails here, before anything is resolved or sent
    target = _target(opts)
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

        report = loadtest.run_loadtest(target, voters, base, votes, rate, concurrency, duplicates, invalid,
                                       drain_timeout=drain_timeout, seed=rng_seed, verify_after=not no_verify,
                                       on_tick=tick, on_drain=drained, workers=workers)
    if as_json:
        _print_json(report.as_dict())
    else:
        console.print(render.loadtest_view(report))
    if not no_verify and not report.verified:
        sys.exit(1)


@cli.command("results")
@click.option("--state", "state_code", default=None, help="One state's results (postal code, e.g. TX).")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=float, default=2.0, show_default=True, callback=_above_zero,
              help="Seconds between refreshes with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same shape as GET /results).")
@_state_dir_option
@common_options
def results_cmd(opts: Options, state_code: str | None, watch: bool, interval: float, as_json: bool) -> None:
    """National and per-state results, with bars."""
    import time

    from rich.live import Live

    from election.errors import ElectionError
    from election.ops import render, state

    target = _target(opts)
    code = state_code.upper() if state_code else None
    if code and code not in target.plan.state_regions():
        raise ElectionError(f"'{state_code}' is not a US state or DC postal code.")
    res = state.results(target)
    if as_json:
        _print_json(res["states"][code] | {"state": code} if code else res)
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


@cli.command("audit")
@click.option("--receipts", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Receipts of accepted votes to prove present (default: the loadtest ledger, if any).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="First wait for the queues and the tally to drain.")
@click.option("--timeout", type=float, default=60.0, show_default=True, callback=_seconds,
              help="Seconds to wait for the drain.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@_state_dir_option
@common_options
def audit_cmd(opts: Options, receipts: Path | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Reconcile roll, ballots, results, queues and dead letters across regions; exit 1 on any discrepancy."""
    from election.ops import drain, render
    from election.ops.audit import audit, load_receipts
    from election.ops.loadtest import ledger_path

    if receipts and not receipts.exists():
        raise click.BadParameter(f"{receipts} does not exist.", param_hint="--receipts")
    target = _target(opts)
    ledger = receipts or ledger_path(target)
    accepted = load_receipts(ledger) if ledger.exists() else None    # a wrong file fails before the wait
    if wait:
        with err_console.status("waiting for the queues and the tally to drain"):
            drain.wait_drained(target, timeout=timeout)
    report = audit(target, accepted)
    if as_json:
        _print_json(report.as_dict())
    else:
        console.print(render.audit_view(report))
    if not report.ok:
        sys.exit(1)


@cli.command("recount")
@click.option("--wait/--no-wait", default=True, show_default=True, help="First wait for queues and tally to drain.")
@click.option("--timeout", type=float, default=60.0, show_default=True, callback=_seconds,
              help="Seconds to wait for the drain.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@_state_dir_option
@common_options
def recount_cmd(opts: Options, wait: bool, timeout: float, as_json: bool) -> None:
    """Rebuild the results counters from the ballots table."""
    from election.ops import drain
    from election.ops.recount import recount

    target = _target(opts)
    if wait:
        with err_console.status("waiting for the queues and the tally to drain"):
            drain.wait_drained(target, timeout=timeout)
    with err_console.status("recounting every region's ballots"):
        done = recount(target)
    if as_json:
        _print_json(done.as_dict())
        return
    if not done.fixes:
        console.print(f"Recounted {done.ballots:,} ballots: every counter was already right.")
        return
    for f in done.fixes:
        console.print(f"  {f.region} {f.state} / {f.candidate}: {f.was:,} -> {f.now:,}")
    console.print(f"Recounted {done.ballots:,} ballots and corrected {len(done.fixes)} counter(s).")


@cli.group("dlq")
def dlq_group() -> None:
    """Inspect and replay dead-lettered votes."""


@dlq_group.command("list")
@click.option("--region", default=None, help="Only this region.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_state_dir_option
@common_options
def dlq_list_cmd(opts: Options, region: str | None, as_json: bool) -> None:
    """Show dead-lettered votes (receipt, state, candidate; never voter IDs), leaving them in place."""
    from election.ops import dlq, render

    items = dlq.list_dead_letters(_target(opts), region)
    if as_json:
        _print_json([d.as_dict() for d in items])
    else:
        console.print(render.dlq_view(items))


@dlq_group.command("redrive")
@click.option("--region", default=None, help="Only this region.")
@_state_dir_option
@common_options
def dlq_redrive_cmd(opts: Options, region: str | None) -> None:
    """Send dead-lettered votes back to their queue to be processed again."""
    from election.ops import dlq

    with err_console.status("redriving"):
        moved = dlq.redrive(_target(opts), region)
    console.print(f"Redrove {sum(moved.values()):,} message(s): "
                  + ", ".join(f"{r}: {n:,}" for r, n in moved.items()) + ".")


@cli.command("open")
@_state_dir_option
@common_options
def open_cmd(opts: Options) -> None:
    """Open the polls in every region."""
    from election.ops.closing import open_polls

    polls = open_polls(_target(opts))
    console.print(f"The polls are open (since {polls.get('changed_at')}).")


@cli.command("close")
@click.option("--timeout", type=float, default=300.0, show_default=True, callback=_seconds,
              help="Seconds to wait for the drain.")
@click.option("--grace", type=float, default=None, callback=_seconds,
              help="Seconds to wait for requests already past the polls check (default: cache TTL + Lambda timeout).")
@click.option("--force", is_flag=True, help="Destroy the pepper even if votes are still queued or dead-lettered.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the final results as JSON.")
@_state_dir_option
@common_options
def close_cmd(opts: Options, timeout: float, grace: float | None, force: bool, yes: bool, as_json: bool) -> None:
    """Close the polls: stop new votes, drain, final tally, destroy the ballot pepper, print the results."""
    from election.ops import render
    from election.ops.closing import close_polls

    target = _target(opts)
    if not yes:
        click.confirm(f"Close the polls of '{target.plan.name}' for good? The ballot pepper will be destroyed",
                      abort=True)
    with err_console.status("closing") as status:
        done = close_polls(target, timeout=timeout, grace=grace, force=force,
                           on_step=lambda s: status.update(s),
                           on_poll=lambda q, u: status.update(f"draining: {q:,} queued, {max(u, 0):,} uncounted"))
    if as_json:
        _print_json(done.as_dict())
        return
    console.print(render.results_view(done.results))
    where = ", ".join(done.pepper_destroyed_in) or "no region (it was already gone)"
    console.print(f"The polls are closed; the ballot pepper is destroyed in {where}.")


def main() -> None:
    """Entry point: run the CLI and turn known failures into one sentence (traceback only with --debug)."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("[red]Aborted.[/red]")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one place errors become sentences
        message = explain(exc)
        if debug or message is None:
            traceback.print_exc()
        if message:
            err_console.print(f"[red]error:[/red] {message}", highlight=False)
        sys.exit(130 if isinstance(exc, KeyboardInterrupt) else 1)
