"""One schedule split over worker processes on this machine, each with its own event loop and core.

Worker k takes requests k, k + N, k + 2N ... at rate / N, offset by k / rate from a start time all
share, so together they keep the one schedule (open loop, latency from each scheduled start). Each
worker repeats only votes it saw accepted as duplicates. Progress and outcomes come back by pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import random
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from election.errors import ElectionError
from election.ops.loadplan import Outcome, Req
from election.ops.loadsend import Live, run_loop, run_schedule


def send_schedule(url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float, live: Live,
                  on_tick: Callable[[Live], None], rng: random.Random, ballots: dict[str, tuple[str, ...]],
                  workers: int = 1) -> tuple[list[Outcome], float]:
    """Send the whole schedule, in this process or split over `workers` processes; outcomes and seconds taken."""
    if workers <= 1:
        outcomes = run_loop(run_schedule(url, reqs, rate, concurrency, timeout, live, on_tick, rng, ballots))
        return outcomes, live.finished - live.started      # from when the clock started, after the warm-up
    ctx = multiprocessing.get_context("spawn")       # no fork of a process that may run threads (rich Live)
    share = max(1, math.ceil(concurrency / workers))
    pipes, procs = [], []
    try:
        for k in range(workers):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker, daemon=True, name=f"loadtest-worker-{k}",
                               args=(theirs, url, reqs[k::workers], rate / workers, share, timeout,
                                     k / rate, rng.getrandbits(64), ballots))
            proc.start()
            theirs.close()
            pipes.append(ours)
            procs.append(proc)
        return _start_and_collect(pipes, live, on_tick)
    except BaseException:                      # Ctrl-C, or one worker failed: the others stop now
        for proc in procs:
            proc.terminate()
        raise
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()


def _start_and_collect(pipes: list[Connection], live: Live,
                       on_tick: Callable[[Live], None]) -> tuple[list[Outcome], float]:
    """Start every worker at one time once all are warm, then gather their outcomes (Ctrl-C: what they have)."""
    for conn in pipes:                     # each has warmed its connection: start together
        _expect(conn, "ready")
    t0 = time.monotonic() + 0.05
    for conn in pipes:
        conn.send(t0)
    live.started = t0
    results: dict[int, list[Outcome]] = {}
    try:
        _collect(pipes, live, on_tick, results)
    except KeyboardInterrupt:
        # Ctrl-C: each worker ends its schedule and sends what it has (see _worker); wait briefly for them.
        live.interrupted = True
        for conn in pipes:
            with contextlib.suppress(OSError):
                conn.send("stop")
        _collect(pipes, live, lambda _live: None, results, deadline=time.monotonic() + 10)
    live.finished = live.finished or time.monotonic()
    return [o for k in sorted(results) for o in results[k]], live.finished - t0


def _collect(pipes: list[Connection], live: Live, on_tick: Callable[[Live], None],
             results: dict[int, list[Outcome]], deadline: float | None = None) -> None:
    """Merge the workers' progress into `live` as it comes, and their outcomes into `results` (by worker).

    With a deadline, workers that have not sent their outcomes by then are left out.
    """
    figures: dict[int, tuple[int, int, int, list[float]]] = {}
    while len(results) < len(pipes) and (deadline is None or time.monotonic() < deadline):
        pending = [conn for k, conn in enumerate(pipes) if k not in results]
        multiprocessing.connection.wait(pending, timeout=0.25)
        for k in [k for k, conn in enumerate(pipes) if k not in results and conn.poll()]:
            kind, payload = _receive(pipes[k])
            if kind == "tick":
                figures[k] = payload
            elif kind == "done":
                results[k], finished = payload
                live.finished = max(live.finished, finished)
        live.sent = sum(f[0] for f in figures.values())
        live.done = sum(f[1] for f in figures.values())
        live.errors = sum(f[2] for f in figures.values())
        live.latencies = [x for f in figures.values() for x in f[3]]
        on_tick(live)


def _receive(conn: Connection) -> tuple[str, Any]:
    try:
        kind, payload = conn.recv()
    except EOFError:
        raise ElectionError("A loadtest worker process ended before it sent its results (killed, or out of "
                            "memory?); try fewer --workers or fewer --votes.") from None
    if kind == "error":
        raise payload
    return kind, payload


def _expect(conn: Connection, what: str) -> None:
    kind, _ = _receive(conn)
    if kind != what:
        raise RuntimeError(f"loadtest worker said {kind!r} where {what!r} was due")


def _worker(conn: Connection, url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float,
            phase: float, seed: int, ballots: dict[str, tuple[str, ...]]) -> None:
    """One worker process: its share of the schedule on its own event loop, progress and outcomes by pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the parent's to handle; it ends us

    def start() -> float:
        conn.send(("ready", None))
        t0 = float(conn.recv())
        # From now on the parent writes only "stop" (its Ctrl-C): end the schedule, keep the outcomes.
        loop, task = asyncio.get_running_loop(), asyncio.current_task()

        def stop() -> None:
            loop.remove_reader(conn.fileno())
            if task is not None:
                task.cancel()

        loop.add_reader(conn.fileno(), stop)
        return t0

    def tick(live: Live) -> None:
        conn.send(("tick", (live.sent, live.done, live.errors, live.latencies[-1000:])))

    try:
        live = Live(planned=len(reqs))
        outcomes = run_loop(run_schedule(url, reqs, rate, concurrency, timeout, live, tick, random.Random(seed),
                                         ballots, start=start, phase=phase))
        conn.send(("done", (outcomes, live.finished)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text then
            conn.send(("error", RuntimeError(f"loadtest worker: {exc!r}")))
    finally:
        conn.close()
