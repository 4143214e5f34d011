"""Send a schedule from this machine: the shared open-loop schedule (lambdas/loadgen/schedule.py) over aiohttp.

aiohttp is the fast transport here (bench/loadgen.py); the fleet's Lambda workers run the same
schedule over the standard library's asyncio streams (lambdas/loadgen/httpclient.py).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import Callable
from typing import Any

import aiohttp

from election.lambdas.loadgen.schedule import Firing, Live, Outcome, Req, no_full_collections, receipt_of

PER_WORKER_RATE = 2500.0     # req/s per worker; one loop kept 6,000-8,000 in bench/loadgen.py
__all__ = ["Live", "no_full_collections", "receipt_of", "run_loop", "run_schedule", "worker_count"]


class _Aiohttp:
    """One sender's view of the shared session: its connector limits the connections to `concurrency`."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            async with self.session.post(self.url, data=body) as resp:
                return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError):
            return 0, b""

    async def close(self) -> None:
        """The session closes the connections when the run ends."""


async def run_schedule(url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float, live: Live,
                       on_tick: Callable[[Live], None], rng: random.Random, ballots: dict[str, tuple[str, ...]],
                       start: Callable[[], float] | None = None, phase: float = 0.0) -> list[Outcome]:
    """Send `reqs` at `rate` from one event loop; request j is due at t0 + phase + j / rate.

    t0 is the loop's clock after the warm-up, or what `start()` returns (a time.monotonic() value,
    which is the loop's clock): how worker processes agree on one schedule.
    """
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300)
    with no_full_collections():
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout),
                                         headers={"content-type": "application/json"}) as session:
            await _warm_up(session, url)
            t0 = (start() if start else loop.time()) + phase
            firing = Firing(reqs, rate, live, rng, ballots)
            return await firing.run(lambda: _Aiohttp(session, url), concurrency, on_tick, t0)


async def _warm_up(session: aiohttp.ClientSession, url: str) -> None:
    """Resolve the host and open a connection before the clock starts (GET /health changes nothing)."""
    try:
        async with session.get(url.rsplit("/", 1)[0] + "/health") as warm:
            await warm.read()
    except (TimeoutError, aiohttp.ClientError, OSError):
        pass


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
