"""The open-loop schedule on one event loop, over any transport.

Open loop: request j is due at t0 + phase + j / rate whether or not earlier ones have answered, so
a slow system sees the queue build up (as voters would make it) instead of the generator politely
slowing down. Latency counts from each request's *scheduled* start, so queueing inside the
generator is not hidden (no coordinated omission). Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# The answers each kind of request may get; anything else is counted as unexpected.
EXPECTED = {"vote": {202}, "duplicate": {202, 409}, "malformed": {400}, "bad_id": {400},
            "unknown_voter": {404}, "bad_candidate": {409, 422}}   # 409 when that voter has already voted


@dataclass(slots=True)
class Req:
    """One planned request: its kind, the voter (if any), what is sent."""

    kind: str
    voter_id: str | None = None
    state: str | None = None
    candidate: str | None = None
    body: bytes = b""


@dataclass(slots=True)
class Outcome:
    """What one request got: the status (0: no answer), latency from its scheduled start, the receipt of a 202."""

    req: Req
    status: int          # 0: no answer (connection error or timeout)
    latency: float       # seconds from the scheduled start
    receipt: str | None = None


def vote_body(voter_id: str, candidate: str) -> bytes:
    return json.dumps({"voter_id": voter_id, "candidate": candidate}).encode()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def receipt_of(raw: bytes) -> str | None:
    """The receipt in a 202's JSON body, or None if the body is not what the API promises."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc.get("receipt") if isinstance(doc, dict) else None


@dataclass
class Live:
    """Running figures for the progress display."""

    planned: int
    sent: int = 0
    done: int = 0
    errors: int = 0      # answers other than the expected ones, and no answers
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0  # when the last answer came (time.monotonic()), 0 while running
    interrupted: bool = False  # Ctrl-C ended the schedule early; the outcomes so far are kept
    latencies: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        """Over the most recent answers only: cheap enough to redraw four times a second."""
        return percentile(self.latencies[-5000:], p)

    @property
    def rate(self) -> float:
        el = time.monotonic() - self.started
        return self.done / el if el > 0 else 0.0


class Transport(Protocol):
    """One connection's worth of sending: POST a body, get (status, body); status 0 when nothing came back."""

    async def post(self, body: bytes) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    """Keep the cyclic GC's full (oldest-generation) passes out of the load phase.

    A full pass walks every live object - the planned requests and the outcomes so far - and
    stalled the loop for ~47 ms at 12,000 outcomes, which alone set the p99 in bench/loadgen.py.
    Existing objects are frozen (never scanned again) and full passes are put off until the run
    ends; young passes still run, so per-request garbage cycles are still collected.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class Firing:
    """One load phase on one event loop: the clock releases requests as they come due, senders take them."""

    def __init__(self, reqs: list[Req], rate: float, live: Live, rng: random.Random,
                 ballots: dict[str, tuple[str, ...]] | dict[str, list[str]]) -> None:
        self.reqs, self.rate, self.live, self.rng, self.ballots = reqs, rate, live, rng, ballots
        self.outcomes: list[Outcome] = []
        self.accepted: list[Req] = []                       # votes answered 202, for duplicates to repeat
        self.expected = {kind: frozenset(codes) for kind, codes in EXPECTED.items()}
        self.due_now: deque[tuple[Req, float]] = deque()   # come due, not yet taken (all connections busy)
        self.idle: deque[asyncio.Future[None]] = deque()    # senders waiting for a request to come due
        self.scheduled_all = False
        self.loop = asyncio.get_running_loop()

    def resolve(self, req: Req) -> Req:
        """A duplicate repeats a vote this loop saw accepted, for another candidate of that state's ballot."""
        if req.kind != "duplicate":
            return req
        if not self.accepted:
            return Req("duplicate_skipped")
        first = self.accepted[self.rng.randrange(len(self.accepted))]
        ballot = self.ballots.get(first.state or "", (first.candidate or "",))
        others = [c for c in ballot if c != first.candidate] or [first.candidate or ""]
        cand = self.rng.choice(others)
        return Req("duplicate", first.voter_id, first.state, cand, vote_body(first.voter_id or "", cand))

    async def send(self, conn: Transport, req: Req, due: float) -> None:
        req = self.resolve(req)
        live = self.live
        if req.kind == "duplicate_skipped":
            live.done += 1
            return
        try:
            status, raw = await conn.post(req.body)
        except asyncio.CancelledError:    # Ctrl-C with this request in flight: sent, answer unknown
            self.outcomes.append(Outcome(req, 0, self.loop.time() - due))
            raise
        latency = self.loop.time() - due
        self.outcomes.append(Outcome(req, status, latency, receipt_of(raw) if status == 202 else None))
        live.done += 1
        live.latencies.append(latency)
        if status not in self.expected.get(req.kind, ()):
            live.errors += 1
        if status == 202 and req.kind == "vote":
            self.accepted.append(req)

    async def sender(self, conn: Transport) -> None:
        """One per connection: takes the oldest request that has come due, whenever it is free.

        A pool rather than a task per request: a task, a done-callback and a wait in the connector
        queue per request cost more than the request itself at several thousand per second. The
        schedule is unchanged - requests come due on the clock and latency counts from then.
        """
        try:
            while True:
                while not self.due_now:
                    if self.scheduled_all:
                        return
                    wake = self.loop.create_future()
                    self.idle.append(wake)
                    await wake
                req, due = self.due_now.popleft()
                await self.send(conn, req, due)
        finally:
            await conn.close()

    def wake_one(self) -> None:
        while self.idle:
            wake = self.idle.popleft()
            if not wake.done():
                wake.set_result(None)
                return

    async def release(self, t0: float, senders: asyncio.Future[Any]) -> None:
        """The clock: queue each request as it comes due, waking at most every millisecond."""
        reqs, rate, loop = self.reqs, self.rate, self.loop
        i = 0
        while i < len(reqs):
            due_n = min(len(reqs), int((loop.time() - t0) * rate) + 1)
            while i < due_n:
                self.due_now.append((reqs[i], t0 + i / rate))
                self.wake_one()
                self.live.sent += 1
                i += 1
            if i < len(reqs):
                await asyncio.sleep(max(0.001, t0 + i / rate - loop.time()))   # latency counts from `due`
                if senders.done():
                    break                       # a sender failed: its exception is raised by run()
        self.scheduled_all = True
        while self.idle:
            self.wake_one()

    async def run(self, connect: Callable[[], Transport], concurrency: int, on_tick: Callable[[Live], None],
                  t0: float) -> list[Outcome]:
        """Senders on `concurrency` transports from `connect`, the clock from t0 (the loop's time)."""
        self.live.started = time.monotonic()
        await asyncio.sleep(max(0.0, t0 - self.loop.time()))
        tick = asyncio.create_task(_ticker(self.live, on_tick))
        senders = asyncio.gather(*(self.sender(connect()) for _ in range(min(concurrency, len(self.reqs)))))
        try:
            await self.release(t0, senders)
            await senders
        except asyncio.CancelledError:
            self.live.interrupted = True   # Ctrl-C (asyncio.run cancels this task): keep what was answered
        finally:
            self.live.finished = time.monotonic()
            tick.cancel()
            if not senders.done():
                senders.cancel()
            if self.live.interrupted:      # retrieve the cancelled senders' outcome (no "never retrieved")
                await asyncio.gather(senders, return_exceptions=True)
        on_tick(self.live)
        return self.outcomes


async def _ticker(live: Live, on_tick: Callable[[Live], None]) -> None:
    while True:
        on_tick(live)
        await asyncio.sleep(0.25)
