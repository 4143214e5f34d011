"""Provisioning commands: plan, up, down, status."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from election.cli.app import cli, console, err_console
from election.cli.options import Options, common_options, example, state_dir_option


def _deployer(opts: Options, fleet: bool = False, removing: bool = False) -> Any:
    """The deployer of the plan's target (see _target_and_deployer)."""
    return _target_and_deployer(opts, fleet, removing)[1]


FLEET_OPTION = click.option("--fleet", is_flag=True, help="The plan's load fleet (`loadtest --fleet`), a plan of "
                            "its own, instead of the election.")


def _target_and_deployer(opts: Options, fleet: bool = False, removing: bool = False) -> tuple[Any, Any]:
    from election.ops.deployment import target_and_deployer

    return target_and_deployer(opts, fleet=fleet, removing=removing)


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


@example("election plan --plan config/aws.yaml")
@cli.command("plan")
@FLEET_OPTION
@state_dir_option
@common_options
def plan_cmd(opts: Options, fleet: bool) -> None:
    """Show what `up` would create, update or delete (changes nothing)."""
    from election.ops import capacity_view
    from election.provision import render

    deployer = _deployer(opts, fleet)
    for part in [] if fleet else capacity_view.render(deployer.plan):
        console.print(part)
    result = _diff(deployer)
    console.print(render.plan_table(result))
    console.print(render.summary_line(result))


@example("election preflight --plan config/aws.yaml")
@cli.command("preflight")
@state_dir_option
@common_options
def preflight_cmd(opts: Options) -> None:
    """Compare the account's quotas with what the plan's capacity needs; say what to request."""
    from election.errors import ElectionError
    from election.ops import preflight
    from election.ops.target import resolve_target

    target = resolve_target(opts, state_dir=opts.state_dir)
    if target.plan.capacity is None:
        raise ElectionError(f"{target.plan.path}: the plan has no capacity section, so there is nothing to check "
                            "(add capacity: {voters: N, turnout: 0.6, peak_votes_per_s: R}).")
    found = preflight.checks(target.plan, lambda region: target.client("service-quotas", region))
    for check in found:
        console.print(("[green]ok[/green] " if check.ok else "[yellow]request[/yellow] ") + check.sentence(),
                      highlight=False)
    if not all(c.ok for c in found):
        sys.exit(1)


@example("election up --plan config/aws.yaml --yes")
@cli.command("up")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@FLEET_OPTION
@state_dir_option
@common_options
def up_cmd(opts: Options, yes: bool, fleet: bool) -> None:
    """Create or update everything in the plan (regions in parallel); a second run changes nothing."""
    from election.provision import render

    target, deployer = _target_and_deployer(opts, fleet)
    try:
        result = _diff(deployer)
        if not result.changed:
            if not fleet:
                _print_outputs(target, deployer.summary(deployer.outputs))
            _, mutating = deployer.provider.counts()
            console.print(f"Nothing to do ({mutating} mutating AWS calls).")
            _print_waiting(deployer.summary(deployer.outputs))
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
    if not fleet:
        _print_outputs(target, outputs)
    console.print(f"Done: {mutating} mutating and {reads} read AWS calls.")
    _print_waiting(outputs)


def _print_waiting(outputs: Any) -> None:
    """What `up` left for later on purpose (a voters table waiting for its roll), one sentence each."""
    for key, note in (outputs.get("waiting") or {}).items():
        region, _, name = key.split("/", 2)
        console.print(f"{region}: the voters table {name} {note}.", highlight=False)


def _print_outputs(target: Any, outputs: Any) -> None:
    """AWS: the deployed URLs. The local stack: where it really listens (its CloudFront and execute-api
    names resolve nowhere); the running handlers pick new code up by themselves (`election dev` reloads)."""
    from election.provision import render

    if target.endpoints:
        e = target.endpoints
        console.print(f"Local stack: voting page {e.get('website')}, API (router) {e.get('router')}; "
                      + ", ".join(f"{r} {u}" for r, u in (e.get("regions") or {}).items()) + ".", highlight=False)
        return
    console.print(render.outputs_table(outputs))
    if outputs.get("site_url"):
        console.print(f"Voting page: {outputs['site_url']}")


@example("election down --plan config/aws.yaml --yes")
@cli.command("down")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.option("--destroy-data", is_flag=True, help="Also delete tables that hold ballots.")
@FLEET_OPTION
@state_dir_option
@common_options
def down_cmd(opts: Options, yes: bool, destroy_data: bool, fleet: bool) -> None:
    """Delete everything tagged for the plan, in reverse order; refuses while ballots exist."""
    from election.provision import render
    from election.provision.engine import Action, PlanResult, Step

    deployer = _deployer(opts, fleet, removing=True)
    try:
        with console.status("Finding everything tagged for the plan..."):
            targets = deployer.targets(destroy_data)
        for f in deployer.kept:
            console.print(f"Keeping the hosted zone {f.name}: a new zone would get new name servers, and the "
                          "registrar would have to be re-delegated to them; `election down --destroy-data` "
                          "deletes it too.")
        if not targets:
            console.print(f"Nothing tagged for plan {deployer.plan.name} exists.")
            return
        console.print(render.plan_table(PlanResult([Step(f.key, f.kind, f.region, f.name, Action.DELETE)
                                                    for f in targets]), title="Down"))
        if not yes:
            click.confirm(f"Delete these {len(targets)} resources?", abort=True)
        _run_with_progress(len(targets), "down",
                           lambda p: deployer.destroy(destroy_data, progress=p, targets=targets))
    except KeyboardInterrupt:
        _interrupted("down")
    console.print(f"Deleted {len(targets)} resources (KMS keys are scheduled for deletion in 7 days).")


@example("election status --plan config/aws.yaml", "election status            # the local stack `election dev` runs")
@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@state_dir_option
@common_options
def status_cmd(opts: Options, as_json: bool) -> None:
    """Per region, what exists and what differs from the plan."""
    import json

    from election.ops.deployment import health_api_urls
    from election.provision import render
    from election.provision.runtime import runtime

    target, deployer = _target_and_deployer(opts)
    result = _diff(deployer)
    summary = deployer.summary(deployer.outputs)
    apis = health_api_urls(target, deployer.plan.region_names, summary)
    with console.status("Reading health, queues, tables and alarms..."):
        now = runtime(deployer.provider.client, deployer.plan.name, apis)
    if as_json:
        click.echo(json.dumps({"plan": deployer.plan.name, "in_sync": not result.changed, "outputs": summary,
                               "steps": result.to_json(), "runtime": [r.to_json() for r in now]},
                              indent=2, default=str))
        return
    console.print(render.status_table(result))
    console.print(render.runtime_table(now))
    for line in render.alarm_lines(now):
        console.print(line, style="red", highlight=False)
    if result.changed:
        console.print(render.plan_table(result, title="Differences"))
    console.print(status_verdict(result.changed, now))


def status_verdict(changed: bool, now: list[Any]) -> str:
    """The sentence under `status`'s tables; it never says all is well above a region that is not."""
    unwell = [f"{r.region} ({r.health})" for r in now if r.health not in ("ok", "-")]
    resources = "Some resources differ from the plan (above)" if changed else "Every resource matches the plan"
    if unwell:
        return f"{resources}, but not every region is serving: {', '.join(unwell)}."
    return f"{resources}." if changed else "Everything matches the plan."



@example("election validate config/aws.yaml")
@cli.command("validate")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
def validate_cmd(plan_file: str) -> None:
    """Check a plan file offline (no AWS credentials needed): one sentence per mistake, or a summary."""
    from election.plan import load_plan

    plan = load_plan(plan_file)
    regions = ", ".join(f"{r.name} ({len(r.states)} states)" for r in plan.regions)
    console.print(f"{plan_file}: valid. Plan '{plan.name}', target {plan.target}, regions {regions}; "
                  f"{len(plan.ballot.candidates)} candidates on the national ballot.", highlight=False)
