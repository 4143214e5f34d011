"""Cast votes through the API, as voters would: a small closed-loop caster for `election demo` and tests.

The full open-loop load generator is `loadtest`; this one just sends each
voter's vote once (POST /votes) from a few threads and keeps what it saw:
status counts, latencies, receipts and the candidates of accepted votes.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from election.ops import data
from election.ops.loadtest import percentile
from election.plan import Plan

Voter = tuple[str, str]   # (voter ID, state), as in the credential file


@dataclass
class CastReport:
    """What the voters saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    receipts: list[dict[str, str]] = field(default_factory=list)      # {"receipt", "state"} of 202s
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (state, candidate) of 202s
    regions: Counter[str] = field(default_factory=Counter)            # which region answered
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def choose(plan: Plan, state: str, rng: random.Random) -> str:
    """A candidate from the state's ballot, weighted by that state's 2016 vote shares (as the loadtest does)."""
    names = plan.ballot.for_state(state)
    return rng.choices(names, data.candidate_weights(state, names))[0]


class _Client(threading.local):
    conn: http.client.HTTPConnection | None = None


def cast_votes(url: str, plan: Plan, voters: Sequence[Voter], concurrency: int = 8, seed: int | None = None,
               on_vote: Callable[[int], None] = lambda status: None,
               headers: dict[str, str] | None = None) -> CastReport:
    """Send one POST /votes per voter through `url`; returns what came back."""
    rng = random.Random(seed)
    choices = [(vid, st, choose(plan, st, rng)) for vid, st in voters]
    split = urlsplit(url)
    local = _Client()
    report = CastReport()
    lock = threading.Lock()

    def one(item: tuple[str, str, str]) -> None:
        vid, st, candidate = item
        body = json.dumps({"voter_id": vid, "candidate": candidate})
        started = time.perf_counter()
        status, data, region = _post(local, split.hostname or "127.0.0.1", split.port or 80, "/votes", body,
                                     headers or {})
        ms = (time.perf_counter() - started) * 1000
        with lock:
            report.statuses[status] += 1
            report.latencies_ms.append(ms)
            if region:
                report.regions[region] += 1
            if status == 202:
                report.accepted[(st, candidate)] += 1
                try:
                    report.receipts.append({"receipt": json.loads(data)["receipt"], "state": st})
                except (ValueError, KeyError, TypeError):
                    pass
        on_vote(status)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, choices))
    report.seconds = time.perf_counter() - started
    return report


def _post(local: _Client, host: str, port: int, path: str, body: str, headers: dict[str, str]
          ) -> tuple[int, bytes, str | None]:
    """POST on this thread's kept-alive connection; reconnect once if the server closed it."""
    for attempt in range(2):
        if local.conn is None:
            local.conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            local.conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            response = local.conn.getresponse()
            data = response.read()
            if response.getheader("connection", "").lower() == "close":
                local.conn.close()
                local.conn = None
            return response.status, data, response.getheader("x-election-region")
        except (ConnectionError, http.client.HTTPException, OSError):
            if local.conn is not None:
                local.conn.close()
            local.conn = None
            if attempt == 1:
                return 0, b"", None
    return 0, b"", None
