"""The open-loop sender: one event loop keeps the schedule, a pool of connections sends.

Open loop: request j is due at t0 + phase + j / rate whether or not earlier ones have answered, so
a slow system sees the queue build up (as voters would make it) instead of the generator politely
slowing down. Latency counts from each request's *scheduled* start, so queueing inside the
generator is not hidden (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from election.ops.loadplan import EXPECTED, Outcome, Req, vote_body
from election.ops.loadreport import percentile

PER_WORKER_RATE = 2500.0     # req/s per worker; one loop kept 6,000-8,000 in bench/loadgen.py


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


async def run_schedule(url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float, live: Live,
                       on_tick: Callable[[Live], None], rng: random.Random, ballots: dict[str, tuple[str, ...]],
                       start: Callable[[], float] | None = None, phase: float = 0.0) -> list[Outcome]:
    """Send `reqs` at `rate` from one event loop; request j is due at t0 + phase + j / rate.

    t0 is the loop's clock after the warm-up, or what `start()` returns (a time.monotonic() value,
    which is the loop's clock): how worker processes agree on one schedule.
    """
    with no_full_collections():
        firing = _Firing(url, reqs, rate, live, rng, ballots)
        return await firing.run(concurrency, timeout, on_tick, start, phase)


class _Firing:
    """One load phase on one event loop: the clock releases requests as they come due, senders take them."""

    def __init__(self, url: str, reqs: list[Req], rate: float, live: Live, rng: random.Random,
                 ballots: dict[str, tuple[str, ...]]) -> None:
        self.url, self.reqs, self.rate, self.live, self.rng, self.ballots = url, reqs, rate, live, rng, ballots
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

    async def send(self, session: aiohttp.ClientSession, req: Req, due: float) -> None:
        req = self.resolve(req)
        live = self.live
        if req.kind == "duplicate_skipped":
            live.done += 1
            return
        status, receipt = 0, None
        try:
            async with session.post(self.url, data=req.body) as resp:
                status = resp.status
                raw = await resp.read()
                if status == 202:
                    receipt = receipt_of(raw)
        except (TimeoutError, aiohttp.ClientError, OSError):
            status = 0
        except asyncio.CancelledError:    # Ctrl-C with this request in flight: sent, answer unknown
            self.outcomes.append(Outcome(req, 0, self.loop.time() - due))
            raise
        latency = self.loop.time() - due
        self.outcomes.append(Outcome(req, status, latency, receipt))
        live.done += 1
        live.latencies.append(latency)
        if status not in self.expected.get(req.kind, ()):
            live.errors += 1
        if status == 202 and req.kind == "vote":
            self.accepted.append(req)

    async def sender(self, session: aiohttp.ClientSession) -> None:
        """One per connection: takes the oldest request that has come due, whenever it is free.

        A pool rather than a task per request: a task, a done-callback and a wait in the connector
        queue per request cost more than the request itself at several thousand per second. The
        schedule is unchanged - requests come due on the clock and latency counts from then.
        """
        while True:
            while not self.due_now:
                if self.scheduled_all:
                    return
                wake = self.loop.create_future()
                self.idle.append(wake)
                await wake
            req, due = self.due_now.popleft()
            await self.send(session, req, due)

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
                    break                       # a sender failed: its exception is raised by the caller
        self.scheduled_all = True
        while self.idle:
            self.wake_one()

    async def run(self, concurrency: int, timeout: float, on_tick: Callable[[Live], None],
                  start: Callable[[], float] | None, phase: float) -> list[Outcome]:
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout),
                                         headers={"content-type": "application/json"}) as session:
            await self.warm_up(session)
            t0 = (start() if start else self.loop.time()) + phase
            self.live.started = time.monotonic()
            await asyncio.sleep(max(0.0, t0 - self.loop.time()))
            tick = asyncio.create_task(_ticker(self.live, on_tick))
            senders = asyncio.gather(*(self.sender(session) for _ in range(min(concurrency, len(self.reqs)))))
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

    async def warm_up(self, session: aiohttp.ClientSession) -> None:
        """Resolve the host and open a connection before the clock starts (GET /health changes nothing)."""
        try:
            async with session.get(self.url.rsplit("/", 1)[0] + "/health") as warm:
                await warm.read()
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass


async def _ticker(live: Live, on_tick: Callable[[Live], None]) -> None:
    while True:
        on_tick(live)
        await asyncio.sleep(0.25)


def receipt_of(raw: bytes) -> str | None:
    """The receipt in a 202's JSON body, or None if the body is not what the API promises."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc.get("receipt") if isinstance(doc, dict) else None


def worker_count(asked: int | None, rate: float, planned: int) -> int:
    """Processes to send with: as asked (default: one per CPU), but one per 2,500 req/s offered at most.

    Below that a worker only adds its start-up (a second or so) and one loop already keeps the schedule.
    """
    most = asked if asked is not None else (os.cpu_count() or 1)
    return max(1, min(most, math.ceil(rate / PER_WORKER_RATE), planned))


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (optional: pip install uvloop), else asyncio's default.

    ELECTION_EVENT_LOOP=asyncio forces the default (bench/loadgen.py compares the two in one run;
    spawned workers inherit the environment).
    """
    if os.environ.get("ELECTION_EVENT_LOOP", "auto") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_loop(coro: Any) -> Any:
    """asyncio.run on the loop loop_factory() picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)
