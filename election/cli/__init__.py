"""The `election` command line: Click commands only, by group (provision, local, operate + load).

Each module parses options, calls into the packages and renders with rich; no decisions.
`election = "election.cli:main"` is the console script.
"""

from election.cli import load, local, operate, provision  # noqa: F401 - importing registers the commands
from election.cli.app import cli, console, err_console, main

__all__ = ["cli", "console", "err_console", "main"]
