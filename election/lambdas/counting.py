"""Pure functions of counting: the tally's selection and chunking of stream records, results
aggregation and publication, and the receipt status. No boto3, no clock, no I/O. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from election.lambdas import contract
from election.lambdas.logic import (
    CHECKPOINT_PREFIX,
    COUNTER_PREFIX,
    MAX_TRANSACTION_ITEMS,
    minute_end,
)

# --- tally ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """One ballot INSERT to count: its stream position and when it was written."""

    seq: int
    state: str
    candidate: str
    created: float


@dataclass(frozen=True)
class Chunk:
    """Counts applied in one transaction, with the checkpoint it advances to."""

    counts: Mapping[tuple[str, str], int]   # (state, candidate) -> ballots
    last_seq: int
    through: float                          # creation time of the newest record in the chunk
    first_seq: int


def _epoch(value: Any, default: float) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def select_records(records: Iterable[Mapping[str, Any]], region: str, checkpoint: int | None,
                   now: float) -> list[Counted]:
    """The INSERTs of ballots homed in `region` strictly after `checkpoint`, in stream order.

    Replicated ballots from other regions, MODIFY/REMOVE records and key-only INSERTs
    (no image to count) are skipped: each region counts only the ballots it wrote.
    """
    out = []
    for rec in records:
        ddb = rec.get("dynamodb") or {}
        seq = int(ddb["SequenceNumber"])
        if checkpoint is not None and seq <= checkpoint:
            continue
        if rec.get("eventName") != "INSERT":
            continue
        image = ddb.get("NewImage") or {}
        if (image.get("region") or {}).get("S") != region:
            continue
        state = (image.get("state") or {}).get("S")
        candidate = (image.get("candidate") or {}).get("S")
        if not state or not candidate:
            continue
        out.append(Counted(seq, state, candidate, _epoch(ddb.get("ApproximateCreationDateTime"), now)))
    out.sort(key=lambda c: c.seq)
    return out


def chunk_counts(counted: list[Counted], max_items: int = MAX_TRANSACTION_ITEMS) -> list[Chunk]:
    """Split counted records (in order) so each transaction touches at most `max_items` items.

    One item per state is updated, plus the checkpoint; each chunk advances the checkpoint to
    its own last record, so a failure between chunks never counts a record twice.
    """
    chunks: list[Chunk] = []
    counts: dict[tuple[str, str], int] = {}
    states: set[str] = set()
    first = last = 0
    through = 0.0
    for c in counted:
        if c.state not in states and len(states) >= max_items - 1:
            chunks.append(Chunk(counts, last, through, first))
            counts, states = {}, set()
        if not counts:
            first = c.seq
        states.add(c.state)
        counts[(c.state, c.candidate)] = counts.get((c.state, c.candidate), 0) + 1
        last = c.seq
        through = max(through, c.created)
    if counts:
        chunks.append(Chunk(counts, last, through, first))
    return chunks


# --- results -------------------------------------------------------------------------------------


def aggregate_results(items: Iterable[Mapping[str, Any]], ballots: Mapping[str, tuple[str, ...]],
                      national: tuple[str, ...]) -> dict[str, Any]:
    """Sum the counter items (plain values) of every region into national and per-state counts.

    `ballots` maps every state to its candidates; candidates without votes get zeros. Counts for
    a name not on the ballot (should never happen) are still shown, never silently dropped.
    """
    states: dict[str, dict[str, int]] = {s: {c: 0 for c in names} for s, names in sorted(ballots.items())}
    updated = ""
    for item in items:
        pk = str(item.get(contract.RESULTS_KEY, ""))
        if pk.startswith(CHECKPOINT_PREFIX) or pk == contract.POLLS_ITEM or "#" not in pk:
            continue
        state = pk.split("#", 1)[0]
        per = states.setdefault(state, {})
        for attr, value in item.items():
            if attr.startswith(COUNTER_PREFIX):
                name = attr[len(COUNTER_PREFIX):]
                per[name] = per.get(name, 0) + int(value)
        updated = max(updated, str(item.get("updated_at", "")))
    totals = {c: 0 for c in national}
    for per in states.values():
        for name, n in per.items():
            totals[name] = totals.get(name, 0) + n
    return {
        "updated_at": updated or None,
        "total": sum(totals.values()),
        "candidates": totals,
        "states": {s: {"total": sum(per.values()), "candidates": per} for s, per in states.items()},
    }


def publish(totals: Mapping[str, Any], polls: Mapping[str, Any], live: bool) -> dict[str, Any]:
    """The public GET /results body: turnout always, the breakdown by candidate only when final or live.

    Final = the polls are closed and `close` recorded that the final tally finished (`tallied_at`).
    Before that, a per-state breakdown refreshed every few seconds tells anyone who knows when a
    neighbour voted in a quiet state how they voted; `live` (plan results.live) accepts that leak.
    """
    final = is_final(polls)
    show = final or live
    out: dict[str, Any] = {"updated_at": totals["updated_at"], "final": final, "live": live,
                           "total": totals["total"]}
    if show:
        out["candidates"] = dict(totals["candidates"])
    out["states"] = {s: ({"total": per["total"], "candidates": dict(per["candidates"])} if show
                         else {"total": per["total"]}) for s, per in totals["states"].items()}
    return out


def is_final(polls: Mapping[str, Any]) -> bool:
    """The polls item (plain values) says the election is over: closed, and `close` recorded the final tally."""
    return polls.get("open", True) is False and bool(polls.get("tallied_at"))


def polls_of(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The polls item (plain values) among a results table's items, {} when absent (open)."""
    for item in items:
        if item.get(contract.RESULTS_KEY) == contract.POLLS_ITEM:
            return dict(item)
    return {}


# --- receipts ------------------------------------------------------------------------------------


def receipt_status(ballot: Mapping[str, Any] | None, checkpoints: Iterable[Mapping[str, Any]],
                   polls: Mapping[str, Any]) -> str:
    """"unknown" (no ballot), "counted" or "recorded" — see docs/api.md for what "counted" guarantees.

    Counted: the home region's tally has applied a ballot written after this ballot's minute
    (stream records are in order per shard), or `election close` has recorded that the final
    tally finished (`tallied_at` on the polls item).
    """
    if not ballot:
        return "unknown"
    if polls.get("tallied_at"):
        return "counted"
    try:
        end = minute_end(str(ballot.get("t", "")))
    except ValueError:
        return "recorded"
    home = ballot.get("region")
    for cp in checkpoints:
        if cp.get("region") == home and float(cp.get("through", 0)) >= end:
            return "counted"
    return "recorded"
