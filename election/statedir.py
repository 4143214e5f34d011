"""The local state dir, and in it where the running local stack listens: `local.json`, so other commands need no flags.

Shared by the local stack (which writes the file) and the ops commands (which read it), so neither
package imports the other for it. The state dir is `election dev --state-dir`'s: --state-dir, else
ELECTION_STATE_DIR, else .election.

The file also records the process ID; a file left by a stack that is no
longer running is treated as absent (and a second `election dev` refuses to
start while the first one is alive).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from election.errors import ElectionError
from election.securefile import write_private

FILE_NAME = "local.json"
DEFAULT_STATE_DIR = Path(".election")          # election dev's default --state-dir
STATE_DIR_ENV = "ELECTION_STATE_DIR"


def state_dir_from(value: str | Path | None = None) -> Path:
    """The local state dir: `value` (--state-dir), else $ELECTION_STATE_DIR, else .election."""
    if value:
        return Path(value)
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def endpoints_path(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    return Path(state_dir) / FILE_NAME


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_endpoints(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any] | None:
    """The running local stack's endpoints, or None when none is running."""
    path = endpoints_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ElectionError(f"{path} is not readable JSON ({exc}); delete it and start `election dev` again.") from None
    pid = data.get("pid")
    if isinstance(pid, int) and not pid_alive(pid):
        return None
    return data


def write_endpoints(endpoints: Mapping[str, Any], state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """Write atomically (readers never see half a file), readable by the owner only."""
    # It holds the control endpoint's token: a fresh mkstemp name, never a planted local.tmp link.
    return write_private(endpoints_path(state_dir), json.dumps(dict(endpoints), indent=2) + "\n")


def remove_endpoints(state_dir: Path = DEFAULT_STATE_DIR, pid: int | None = None) -> None:
    """Remove the file if it is ours (same pid), so a crashed stack's successor is not confused."""
    path = endpoints_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if pid is None or data.get("pid") == pid:
        path.unlink(missing_ok=True)
