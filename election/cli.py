"""Click commands only: parse options, call into the package, render with rich."""

from __future__ import annotations

import functools
import sys
import traceback
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
