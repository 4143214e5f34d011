"""Options shared by many commands, and the small parameter checks they use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


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

