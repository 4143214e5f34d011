"""What the end-to-end tests share: a local plan with test settings, a handler that fails on demand, the CLI in
its own process, and raw bytes over a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def local_plan_with(path: Path, **sections: Mapping[str, Any]) -> Path:
    """config/local.yaml with some fields of some sections replaced (e.g. lambda={"timeout_s": 1}), written to path."""
    data = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    for section, fields in sections.items():
        data.setdefault(section, {}).update(fields)
    path.write_text(yaml.safe_dump(data))
    return path


class FailingRole:
    """A LocalStack handler_factory: while `on`, one role's handler fails in the given way (a bug in a release,
    a table that refuses...), the others run the real code."""

    def __init__(self, role: str, fail: Callable[[dict], Any]) -> None:
        self.role, self.fail = role, fail
        self.on = threading.Event()

    def factory(self, role: str, env: Mapping[str, str]) -> Any:
        from election.local.stack import real_handler

        handler = real_handler(role, env)
        if role != self.role:
            return handler

        def failing(event: dict, context: Any) -> Any:
            return self.fail(event) if self.on.is_set() else handler(event, context)
        return failing


def run_cli(*args: str, cwd: Path | None = None) -> tuple[int, Any]:
    """The CLI in its own process, as an operator runs it: (exit code, parsed JSON or the text it printed).
    The caller's ELECTION_PLAN / ELECTION_ENDPOINT_URL are not passed on, so the stack is found from cwd."""
    env = {k: v for k, v in os.environ.items() if k not in ("ELECTION_PLAN", "ELECTION_ENDPOINT_URL")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", "from election.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        return done.returncode, done.stdout + done.stderr


def raw_exchange(url: str, data: bytes, timeout: float = 3.0) -> bytes:
    """Send raw bytes; everything the server answers until it closes (or the timeout hits)."""
    split = urllib.parse.urlsplit(url)
    with socket.create_connection((split.hostname, split.port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            pass
        return got
