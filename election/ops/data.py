"""The bundled 2016 data: turnout per state (voter weights) and vote shares (candidate weights)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import lru_cache

from election.data import data_file
from election.errors import ElectionError
from election.plan import STATES

FLOOR_PERCENT = 0.1   # a candidate on the plan's ballot but not in the data still gets picked now and then


def _rows(name: str) -> Iterator[dict[str, str]]:
    path = data_file(name)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    except OSError as exc:
        raise ElectionError(f"The bundled data file {path} cannot be read ({exc}).") from None
    yield from csv.DictReader(lines)


@lru_cache(maxsize=1)
def turnout() -> dict[str, int]:
    """Ballots cast for President in 2016 per state and DC (election/data/turnout_2016.csv)."""
    out = {row["state"]: int(row["votes"]) for row in _rows("turnout_2016.csv")}
    missing = [s for s in STATES if s not in out]
    if missing:
        raise ElectionError(f"election/data/turnout_2016.csv lacks {', '.join(missing)}; every state and DC needs a turnout.")
    return out


@lru_cache(maxsize=1)
def _shares() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in _rows("vote_shares_2016.csv"):
        out.setdefault(row["state"], {})[row["candidate"]] = float(row["percent"])
    return out


def candidate_weights(state: str, candidates: tuple[str, ...]) -> list[float]:
    """Weights for the candidates on `state`'s ballot, in ballot order: 2016 shares with a small floor.

    The floor keeps every candidate on the ballot reachable, so a load test exercises all of them.
    """
    shares = _shares().get(state, {})
    return [max(shares.get(c, 0.0), FLOOR_PERCENT) for c in candidates]
