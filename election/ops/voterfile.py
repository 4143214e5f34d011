"""The credential file (the mailing list): mint voter IDs, write them owner-only, read them back strictly.

The credential file (voter ID, state) is the only place voter IDs exist; it is
written with owner-only permissions and never uploaded. Reading it back checks
every line, so nothing is loaded or sent from a wrong file.
"""

from __future__ import annotations

import csv
import random
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from election.errors import ElectionError
from election.lambdas.contract import VOTER_ID_ALPHABET, canonical_voter_id
from election.ops import data
from election.plan import STATES
from election.securefile import write_private

Voter = tuple[str, str]         # (voter ID, state)


# --- minting -------------------------------------------------------------------------

def new_voter_id(rng: random.Random | None = None) -> str:
    """XXXXX-XXXXX-XXXXX-XXXXX over an alphabet without look-alikes; 100 bits from the OS CSPRNG."""
    choice = rng.choice if rng is not None else secrets.choice
    raw = "".join(choice(VOTER_ID_ALPHABET) for _ in range(20))
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


def allocate(count: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split `count` over states in proportion to `weights` (largest remainder: exact total, fair rounding)."""
    total = sum(weights.values())
    exact = {s: count * w / total for s, w in weights.items()}
    out = {s: int(x) for s, x in exact.items()}
    short = count - sum(out.values())
    for s in sorted(exact, key=lambda s: exact[s] - out[s], reverse=True)[:short]:
        out[s] += 1
    return out


def generate_voters(count: int, weights: Mapping[str, int] | None = None,
                    rng: random.Random | None = None) -> list[Voter]:
    """`count` voters with fresh unique IDs, states in proportion to 2016 turnout, in random order."""
    per_state = allocate(count, weights or data.turnout())
    seen: set[str] = set()
    voters: list[Voter] = []
    for state, n in per_state.items():
        for _ in range(n):
            vid = new_voter_id(rng)
            while vid in seen:       # 100 bits make this practically unreachable; cheap to be sure
                vid = new_voter_id(rng)
            seen.add(vid)
            voters.append((vid, state))
    (rng or secrets.SystemRandom()).shuffle(voters)
    return voters


def write_credentials(path: Path, voters: Iterable[Voter]) -> None:
    """Write the mailing list atomically with owner-only permissions (0600 from the first byte)."""
    def fill(fh: IO[str]) -> None:
        w = csv.writer(fh)
        w.writerow(["voter_id", "state"])
        w.writerows(voters)

    write_private(path, fill, newline="")   # fresh mkstemp name + os.replace: a planted <out>.tmp link is never followed


def read_credentials(path: Path) -> list[Voter]:
    """The mailing list written by seed-voters: (voter ID, state) rows, checked line by line.

    A file that is not one (no header, a bad ID, an unknown state, a repeated voter) is one
    sentence naming the file and line, so nothing is sent or loaded from a wrong file.
    """
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return parse_credentials(path, enumerate(fh, start=1))
    except FileNotFoundError:
        raise ElectionError(f"The credential file {path} does not exist; create it with `election seed-voters`.") \
            from None
    except IsADirectoryError:
        raise ElectionError(f"The credential file {path} is a directory, not a file.") from None
    except UnicodeDecodeError:
        raise ElectionError(f"{path} is not text; is it a credential file from seed-voters?") from None
    except OSError as exc:
        raise ElectionError(f"The credential file {path} cannot be read ({exc.strerror or exc}).") from None


def _shown(value: str) -> str:
    """A cell quoted for an error message, cut short so a garbage line stays one sentence."""
    return repr(value if len(value) <= 32 else value[:29] + "...")


def _cells(path: Path, number: int, line: str) -> list[str]:
    try:
        return [c.strip() for c in next(csv.reader([line]), [])]
    except csv.Error:
        raise ElectionError(f"{path} line {number}: not a CSV line.") from None


def parse_credentials(path: Path, lines: Iterable[tuple[int, str]]) -> list[Voter]:
    """(line number, text) pairs of a credential file -> voters; the first problem is an ElectionError."""
    not_ours = "is it a credential file from seed-voters?"
    header: list[str] | None = None
    voters: list[Voter] = []
    first_seen: dict[str, int] = {}
    for number, line in lines:
        if not line.strip():
            continue
        cells = _cells(path, number, line)
        if header is None:
            header = [c.lower() for c in cells]
            if header != ["voter_id", "state"]:
                raise ElectionError(f"{path} has no voter_id,state header; {not_ours}")
            continue
        if len(cells) != 2:
            raise ElectionError(f"{path} line {number}: expected 2 fields (voter_id,state), found {len(cells)}.")
        vid = canonical_voter_id(cells[0])
        if vid is None:
            raise ElectionError(f"{path} line {number}: {_shown(cells[0])} is not a voter ID "
                                "(4 groups of 5 characters, e.g. ABCDE-FGHJK-LMNPQ-RSTUV).")
        state = cells[1].upper()
        if state not in STATES:
            raise ElectionError(f"{path} line {number}: {_shown(cells[1])} is not a US state or DC postal code.")
        if vid in first_seen:
            raise ElectionError(f"{path} line {number} repeats the voter ID of line {first_seen[vid]}.")
        first_seen[vid] = number
        voters.append((vid, state))
    if header is None:
        raise ElectionError(f"{path} is empty; {not_ours}")
    if not voters:
        raise ElectionError(f"{path} holds no voters, only its header; {not_ours}")
    return voters
