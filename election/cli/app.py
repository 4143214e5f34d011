"""The `election` group, the console objects, and `main` (the console script's entry point)."""

from __future__ import annotations

import sys
import traceback

import click
from rich.console import Console

from election.cli.options import Options
from election.errors import explain

console = Console()
err_console = Console(stderr=True)


# `--help` lists commands by the module that defines them (election/cli/<module>.py), under these titles:
# a command added to the right module lands in the right section without touching this file.
OPERATE = "Operate the election"
SECTIONS = {
    "provision": "Provision (AWS, or the local stack's moto)",
    "local": "Run it on this machine",
    "load": OPERATE,
    "operate": OPERATE,
}


class SectionedGroup(click.Group):
    """A group whose --help lists commands by section, in the order they were defined."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {title: [] for title in SECTIONS.values()}
        width = formatter.width - 6 - max((len(n) for n in self.commands), default=0)
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            module = (getattr(cmd.callback, "__module__", "") or "").rsplit(".", 1)[-1]
            sections.setdefault(SECTIONS.get(module, "Other commands"), []).append(
                (name, cmd.get_short_help_str(limit=width)))
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=SectionedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="election")
def cli() -> None:
    """Provision, run, load-test and tear down a multi-region serverless election.

    Start with `election demo`: the whole election on this machine, no AWS account needed.
    """


def main() -> None:
    """Entry point: run the CLI and turn known failures into one sentence (traceback only with --debug)."""
    opts = Options()     # the commands' shared options fill it in as they are parsed (ctx.obj)
    try:
        cli.main(standalone_mode=False, obj=opts)
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
        if opts.debug or message is None:
            traceback.print_exc()
        if message:
            err_console.print(f"[red]Error:[/red] {message}", highlight=False)   # the same word click uses
        sys.exit(130 if isinstance(exc, KeyboardInterrupt) else 1)
