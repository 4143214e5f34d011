"""Commands that run the election on this machine: dev, demo, region down/up."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from election.cli.app import cli, console
from election.cli.options import debug_option, example, local_options


@example("election dev --port-base 7700")
@cli.command("dev")
@local_options
def dev_cmd(plan: str, port_base: int, state_dir: Path) -> None:
    """Run the whole election on this machine (moto, the real deployer and handlers) until Ctrl-C."""
    from election.local.devserver import run_dev

    run_dev(console, plan, port_base, state_dir)


@example("election demo --voters 500 --exit")
@cli.command("demo")
@click.option("--voters", type=int, default=300, show_default=True, help="Voters to put on the roll.")
@click.option("--votes", type=int, default=None,
              help="Votes to cast through the router (beyond --voters they are second attempts, refused)  "
                   "[default: 80 % of --voters, so some IDs are left for you to try]")
@click.option("--exit", "exit_after", is_flag=True, help="Exit with the audit's status instead of serving the page.")
@local_options
def demo_cmd(voters: int, votes: int | None, exit_after: bool, plan: str, port_base: int, state_dir: Path) -> None:
    """The tour: start the local election, seed voters, vote, print results and the audit, serve the page."""
    from election.local.demo import run_demo

    status = run_demo(console, plan, voters, votes, exit_after, port_base, state_dir)
    if status:
        sys.exit(status)


@example("election region down us-east-1", "election region up us-east-1")
@cli.group("region")
def region_grp() -> None:
    """Failover drills: take a region down and bring it back (on the running local stack)."""


def _region_action(action: str, region: str, state_dir: Path, plan: str | None, endpoint_url: str | None,
                   profile: str | None) -> None:
    from rich.table import Table

    from election.local.drill import region_drill

    done = region_drill(action, region, state_dir, plan, endpoint_url, profile)
    if done.aws_check is not None:
        state = "inverted: Route 53 now treats it as unhealthy" if done.inverted else "restored"
        console.print(f"The health check of {region} ({done.aws_check['Id']}) is {state}; DNS follows within a "
                      "minute or two.")
        return
    table = Table(title="Regions", title_justify="left")
    for col in ("region", "state", "router health check", "API"):
        table.add_column(col)
    for name, h in (done.local_health or {}).items():
        table.add_row(name, "[green]up[/green]" if h["up"] else "[red]down (drill)[/red]",
                      "healthy" if h["healthy"] else f"unhealthy: {h['detail']}", h["api"])
    console.print(table)
    console.print(f"{region} is {action}, and the router's health checks have seen it.")


def _region_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.argument("region")(fn)
    fn = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"),
                      envvar="ELECTION_STATE_DIR", show_envvar=True,
                      help="Where the running local stack's local.json is [env ELECTION_STATE_DIR].")(fn)
    fn = click.option("--plan", default=None, type=click.Path(dir_okay=False),
                      help="An AWS plan: drill its Route 53 health check instead of the local stack.")(fn)
    fn = click.option("--endpoint-url", envvar="ELECTION_ENDPOINT_URL", show_envvar=True, default=None,
                      help="Send AWS calls here.")(fn)
    fn = click.option("--profile", envvar="AWS_PROFILE", show_envvar=True, default=None,
                      help="AWS profile from your AWS config.")(fn)
    return debug_option(fn)


@example("election region down us-east-1")
@region_grp.command("down")
@_region_options
def region_down_cmd(region: str, state_dir: Path, plan: str | None, endpoint_url: str | None,
                    profile: str | None) -> None:
    """Take REGION down: locally its API and pollers stop and its queues refuse messages; on AWS its
    Route 53 health check is inverted. Traffic fails over; votes wait in hand-off queues."""
    _region_action("down", region, state_dir, plan, endpoint_url, profile)


@example("election region up us-east-1")
@region_grp.command("up")
@_region_options
def region_up_cmd(region: str, state_dir: Path, plan: str | None, endpoint_url: str | None,
                  profile: str | None) -> None:
    """Bring REGION back; votes waiting in hand-off queues are forwarded and counted."""
    _region_action("up", region, state_dir, plan, endpoint_url, profile)

