"""Owner-only files that hold secrets (the mailing list, receipts, local.json), written safely.

A fixed temporary name (`<out>.tmp`) opened with O_CREAT follows a symlink an
attacker planted there and writes the voter IDs wherever it points. So:
- whole files are written to a fresh `mkstemp` name (O_EXCL: never an existing
  file or link) in the destination's directory, mode 0600 from the first byte,
  fsynced, then `os.replace`d over the destination (which replaces a link at
  the destination itself, never writes through it);
- append-only files are opened with O_NOFOLLOW and must be a regular file
  owned by us; their mode is forced to 0600.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from election.errors import ElectionError

OWNER_ONLY = 0o600


def write_private(path: Path, fill: Callable[[IO[str]], None] | str, newline: str | None = None) -> Path:
    """Atomically replace `path` with the text `fill` writes (or the string `fill`), owner-only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, OWNER_ONLY)   # mkstemp already uses 0600; be explicit whatever the platform
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            if isinstance(fill, str):
                fh.write(fill)
            else:
                fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def open_private_append(path: Path) -> IO[str]:
    """Open `path` for appending text, creating it 0600; a symlink or a file not ours is refused."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                     OWNER_ONLY)
    except OSError as exc:
        raise ElectionError(f"Refusing to write {path}: it is a symbolic link or cannot be opened "
                            f"({exc.strerror}).") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        raise ElectionError(f"Refusing to write {path}: it is not a regular file owned by you.")
    os.fchmod(fd, OWNER_ONLY)
    return os.fdopen(fd, "a", encoding="utf-8")
