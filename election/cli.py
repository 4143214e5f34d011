"""Click commands only: parse options, call into the package, render with rich."""

from __future__ import annotations

import functools
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

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
    """Load the plan and build the deployer for it (imports kept here so the CLI starts fast)."""
    from election.plan import load_plan
    from election.provision.clients import ClientProvider
    from election.provision.engine import Deployer

    plan = load_plan(opts.plan_path)
    return Deployer(plan, ClientProvider(endpoint_url=opts.endpoint_url, profile=opts.profile))


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

    deployer = _deployer(opts)
    result = _diff(deployer)
    if as_json:
        click.echo(json.dumps({"plan": deployer.plan.name, "in_sync": not result.changed,
                               "outputs": deployer.summary(deployer.outputs), "steps": result.to_json()},
                              indent=2, default=str))
        return
    console.print(render.status_table(result))
    if result.changed:
        console.print(render.plan_table(result, title="Differences"))
    else:
        console.print("Everything matches the plan.")


# --- local ---

def _local_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--plan, --port-base, --state-dir and --debug for the commands that run the local stack."""
    fn = click.option("--debug", is_flag=True, help="Show tracebacks.")(fn)
    fn = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"),
                      show_default=True, help="Where local.json (the endpoints) and the function logs go.")(fn)
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


def _region_action(action: str, region: str, state_dir: Path) -> None:
    from election.errors import ElectionError
    from election.local.control import send
    from election.local.endpoints import read_endpoints
    from rich.table import Table

    endpoints = read_endpoints(state_dir)
    if endpoints is None:
        raise ElectionError(f"No local stack is running (no live {state_dir / 'local.json'}); start one with "
                            "`election dev`.")
    health = send(endpoints["control"], action, region)
    table = Table(title="Regions", title_justify="left")
    for col in ("region", "state", "router health check", "API"):
        table.add_column(col)
    for name, h in health.items():
        table.add_row(name, "[green]up[/green]" if h["up"] else "[red]down (drill)[/red]",
                      "healthy" if h["healthy"] else f"unhealthy: {h['detail']}", h["api"])
    console.print(table)
    console.print(f"{region} is {action}; the router notices at its next health check (every 2 s).")


@region_grp.command("down")
@click.argument("region")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"))
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def region_down_cmd(region: str, state_dir: Path, debug: bool) -> None:
    """Stop REGION's API and pollers and make its queues refuse messages; traffic fails over."""
    _region_action("down", region, state_dir)


@region_grp.command("up")
@click.argument("region")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"))
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def region_up_cmd(region: str, state_dir: Path, debug: bool) -> None:
    """Bring REGION back; votes waiting in hand-off queues are forwarded and counted."""
    _region_action("up", region, state_dir)


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
