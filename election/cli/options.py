"""Options shared by many commands, and the small parameter checks they use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from election.data import LOCAL_PLAN

DEFAULT_PLAN = str(LOCAL_PLAN)
DEFAULT_PLAN_HELP = "the built-in local plan"
# One drain timeout for every command that waits for the queues and the tally (loadtest, audit, recount, close).
DRAIN_TIMEOUT_S = 300.0


@dataclass
class Options:
    """What every command shares, parsed once: the plan, where AWS is, the local state dir, --debug.

    One object per invocation (click's ctx.obj, created by `main` or on first use), filled in by the
    shared options' callbacks, so `main` can read --debug after the command failed.
    """

    plan_path: str = DEFAULT_PLAN
    endpoint_url: str | None = None
    profile: str | None = None
    debug: bool = False
    state_dir: Path | None = None   # None: $ELECTION_STATE_DIR, else .election (see statedir.state_dir_from)
    plan_explicit: bool = False     # --plan or ELECTION_PLAN given (not the default): ops.target.resolve_target


def current_options() -> Options:
    """The invocation's Options (click's ctx.obj), created on first use."""
    return click.get_current_context().ensure_object(Options)


def _store(field_name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        setattr(ctx.ensure_object(Options), field_name, value)
        return value
    return callback


def debug_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--debug: show tracebacks (read by `main` from the Options object, not from sys.argv)."""
    return click.option("--debug", is_flag=True, expose_value=False, callback=_store("debug"),
                        help="Show tracebacks.")(fn)


def _store_plan(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    opts = ctx.ensure_object(Options)
    opts.plan_path = value
    source = ctx.get_parameter_source("plan")
    opts.plan_explicit = source in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    return value


def plan_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--plan", default=DEFAULT_PLAN, envvar="ELECTION_PLAN", show_envvar=True,
                        show_default=DEFAULT_PLAN_HELP,
                        expose_value=False, callback=_store_plan, type=click.Path(dir_okay=False),
                        help="The region plan (YAML).")(fn)


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--plan, --endpoint-url, --profile, --debug, collected into one Options argument `opts`."""

    @plan_option
    @click.option("--endpoint-url", envvar="ELECTION_ENDPOINT_URL", show_envvar=True, default=None, expose_value=False,
                  callback=_store("endpoint_url"), help="Send every AWS call here (e.g. a moto server).")
    @click.option("--profile", envvar="AWS_PROFILE", show_envvar=True, default=None, expose_value=False,
                  callback=_store("profile"),
                  help="AWS profile from your AWS config.")
    @debug_option
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, opts=current_options(), **kwargs)

    return wrapper


CommandT = TypeVar("CommandT", bound=click.Command)


def example(*commands: str) -> Callable[[CommandT], CommandT]:
    """Put an example (one or more command lines) at the end of a command's --help."""
    def apply(cmd: CommandT) -> CommandT:
        cmd.epilog = "\b\nExample:\n" + "\n".join(f"  {c}" for c in commands)
        return cmd
    return apply


def state_dir_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--state-dir: where `election dev --state-dir` keeps local.json, so ops commands find that stack."""
    return click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        envvar="ELECTION_STATE_DIR", show_envvar=True, expose_value=False,
                        callback=_store("state_dir"),
                        help="The running local stack's state dir (as given to `election dev`)  "
                             "[default: .election]")(fn)


def ops_target(opts: Options) -> Any:
    """The ops target (AWS or the running local stack) these options point at."""
    from election.ops.target import resolve_target

    return resolve_target(opts, state_dir=opts.state_dir)


def print_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def fraction(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0 <= value < 0.5:   # also false for nan
        raise click.BadParameter("must be a fraction between 0 and 0.5 (e.g. 0.05 for 5 %).")
    return value


def http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
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


def above_zero(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A rate or an interval: a finite number above 0 (click's float also accepts nan and inf)."""
    import math

    if value is not None and not (value > 0 and math.isfinite(value)):
        raise click.BadParameter("must be a number above 0.")
    return value


def seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A timeout or a grace period: finite seconds, 0 or more."""
    import math

    if value is not None and not (value >= 0 and math.isfinite(value)):
        raise click.BadParameter("must be seconds, 0 or more.")
    return value



def local_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--plan, --port-base, --state-dir and --debug for the commands that run the local stack."""
    fn = debug_option(fn)
    fn = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".election"),
                      envvar="ELECTION_STATE_DIR", show_envvar=True, show_default=True,
                      help="Where local.json (the endpoints) and the function logs go [env ELECTION_STATE_DIR].")(fn)
    fn = click.option("--port-base", type=click.IntRange(0, 65000), default=7700, show_default=True,
                      help="moto on N, router N+1, page N+2, control N+3, regional APIs N+10...; 0 = any free ports.")(fn)
    return click.option("--plan", default=DEFAULT_PLAN, envvar="ELECTION_PLAN", show_envvar=True,
                        show_default=DEFAULT_PLAN_HELP,
                        type=click.Path(dir_okay=False), help="A region plan with target: local.")(fn)

