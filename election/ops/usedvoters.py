"""Which voters of a credential file have already been sent a vote, so a later load test skips them.

A voter votes once: sending a second run's vote for the same voter only earns a 409 that looks like a
fault. Every voter a load test sends a first vote for is appended to `<credential file>.used` (owner-only,
like the credential file it extends: it names voter IDs), including runs that were interrupted and votes
whose answer never came (they may have been stored).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

Voter = tuple[str, str]


def used_path(credentials: Path) -> Path:
    return credentials.with_name(credentials.name + ".used")


def read_used(path: Path) -> set[str]:
    try:
        return {ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()}
    except FileNotFoundError:
        return set()


def fresh_voters(voters: Sequence[Voter], path: Path) -> tuple[list[Voter], int]:
    """The voters not yet used by an earlier run, and how many were skipped."""
    used = read_used(path)
    fresh = [v for v in voters if v[0] not in used]
    return fresh, len(voters) - len(fresh)


def record_used(path: Path, voter_ids: Iterable[str]) -> None:
    ids = sorted(set(voter_ids))      # sorted: the file must not keep the order in which people voted
    if not ids:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write("".join(f"{v}\n" for v in ids))
