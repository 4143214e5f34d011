"""The `election` group, the console objects, and `main` (the console script's entry point)."""

from __future__ import annotations

import sys
import traceback

import click
from rich.console import Console

from election.errors import explain

console = Console()
err_console = Console(stderr=True)


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
