"""An open-loop load test of the voting API, then proof that the tally matches what was accepted.

Open loop: request i starts at t0 + i/rate whether or not earlier ones have
answered, so a slow system sees the queue build up (as voters would make it)
instead of the generator politely slowing down. Latency is measured from each
request's *scheduled* start, so queueing inside the generator is not hidden
(no coordinated omission).

Traffic: one vote per voter from the credential file (candidates drawn with
the state's 2016 shares), plus optional duplicates (a voter who already got a
202 votes again for someone else: 409, or 202 with the same receipt if the
first is still in the queue) and malformed or invalid requests (expect 4xx).

Verification after the queues and the tally drain (ops/loadverify.py) checks
this run's own votes only: every receipt answered 202 is a ballot in its home
region for what the voter sent, and the results grew by at least those
ballots; growth beyond them must be other ballots (other traffic, reported as
such), never a vote counted twice.

Ctrl-C at any phase ends the run cleanly: the answers received so far are
summarized and their receipts kept in the ledger (Report.interrupted says
where it stopped), so `election audit --receipts <ledger>` can finish the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from election.errors import ElectionError
from election.ops import data, drain, state, usedvoters
from election.ops.loadverify import INVALID_KINDS, nothing_accepted, verify
from election.ops.seed import Voter, new_voter_id
from election.ops.target import Target
from election.plan import Plan
from election.securefile import open_private_append

EXPECTED = {"vote": {202}, "duplicate": {202, 409}, "malformed": {400}, "bad_id": {400},
            "unknown_voter": {404}, "bad_candidate": {409, 422}}   # 409 when that voter has already voted
__all__ = ["INVALID_KINDS", "nothing_accepted", "verify"]    # re-exported: moved to loadverify


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
    req: Req
    status: int          # 0: no answer (connection error or timeout)
    latency: float       # seconds from the scheduled start
    receipt: str | None = None


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


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


# --- planning --------------------------------------------------------------------------

def plan_requests(voters: Sequence[Voter], plan: Plan, votes: int, duplicates: float, invalid: float,
                  rng: random.Random) -> list[Req]:
    """`votes` first votes by distinct voters, plus duplicate and invalid requests mixed in at random.

    Duplicates are placed in the schedule but resolved to a voter only when sent (the voter must
    already hold a 202), so a fraction F means about F of all requests are duplicates.
    """
    if votes > len(voters):
        raise ElectionError(f"{votes} votes asked for but the credential file has {len(voters)} voters; "
                            "seed more with `election seed-voters` or lower --votes.")
    chosen = rng.sample(list(voters), votes)
    reqs = []
    for vid, st in chosen:
        names = plan.ballot.for_state(st)
        cand = rng.choices(names, weights=data.candidate_weights(st, names))[0]
        reqs.append(Req("vote", vid, st, cand, vote_body(vid, cand)))
    share = duplicates + invalid
    extra = round(votes * share / (1 - share)) if 0 < share < 1 else 0
    for _ in range(extra):
        if rng.random() < duplicates / share:
            reqs.append(Req("duplicate"))
        else:
            reqs.append(invalid_request(rng.choice(INVALID_KINDS), voters, plan, rng))
    first_votes = reqs[:votes]
    rest = reqs[votes:]
    # Keep the first 5 % of the schedule honest votes so duplicates have someone to repeat.
    head = max(1, votes // 20)
    mixed = first_votes[head:] + rest
    rng.shuffle(mixed)
    return first_votes[:head] + mixed


def vote_body(voter_id: str, candidate: str) -> bytes:
    return json.dumps({"voter_id": voter_id, "candidate": candidate}).encode()


def invalid_request(kind: str, voters: Sequence[Voter], plan: Plan, rng: random.Random) -> Req:
    """A request the API must refuse with a 4xx and that must change nothing."""
    vid, st = voters[rng.randrange(len(voters))]
    if kind == "malformed":
        return Req(kind, body=rng.choice([b"{not json", b"[]", b'{"voter_id": 7, "candidate": "x"}',
                                          b'{"voter_id": "' + vid.encode() + b'"}', b"\xff\xfe"]))
    if kind == "bad_id":
        return Req(kind, body=vote_body("0O1I-" + vid[5:], plan.ballot.for_state(st)[0]))
    if kind == "unknown_voter":
        return Req(kind, body=vote_body(new_voter_id(), plan.ballot.for_state(st)[0]))
    return Req(kind, vid, st, "Nobody On The Ballot", vote_body(vid, "Nobody On The Ballot"))


# --- running ---------------------------------------------------------------------------

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


async def _run(url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float, live: Live,
               on_tick: Callable[[Live], None], rng: random.Random, ballots: dict[str, tuple[str, ...]],
               start: Callable[[], float] | None = None, phase: float = 0.0) -> list[Outcome]:
    """Send `reqs` at `rate` from one event loop; request j is due at t0 + phase + j / rate.

    t0 is the loop's clock after the warm-up, or what `start()` returns (a time.monotonic() value,
    which is the loop's clock): how worker processes agree on one schedule.
    """
    with no_full_collections():
        return await _fire_schedule(url, reqs, rate, concurrency, timeout, live, on_tick, rng, ballots, start, phase)


async def _fire_schedule(url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float, live: Live,
                         on_tick: Callable[[Live], None], rng: random.Random, ballots: dict[str, tuple[str, ...]],
                         start: Callable[[], float] | None, phase: float) -> list[Outcome]:
    outcomes: list[Outcome] = []
    accepted: list[Req] = []      # votes answered 202, for duplicates to repeat
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    loop = asyncio.get_running_loop()
    expected = {kind: frozenset(codes) for kind, codes in EXPECTED.items()}
    latencies = live.latencies
    due_now: deque[tuple[Req, float]] = deque()   # come due, not yet taken by a sender (all connections busy)
    idle: deque[asyncio.Future[None]] = deque()     # senders waiting for a request to come due
    scheduled_all = False

    async def send(session: aiohttp.ClientSession, req: Req, due: float) -> None:
        if req.kind == "duplicate":
            if not accepted:
                req = Req("duplicate_skipped")
            else:
                first = accepted[rng.randrange(len(accepted))]
                others = [c for c in ballot_of(first) if c != first.candidate] or [first.candidate]
                cand = rng.choice(others)
                req = Req("duplicate", first.voter_id, first.state, cand, vote_body(first.voter_id or "", cand))
        if req.kind == "duplicate_skipped":
            live.done += 1
            return
        status, receipt = 0, None
        try:
            async with session.post(url, data=req.body) as resp:
                status = resp.status
                raw = await resp.read()
                if status == 202:
                    receipt = receipt_of(raw)
        except (TimeoutError, aiohttp.ClientError, OSError):
            status = 0
        except asyncio.CancelledError:    # Ctrl-C with this request in flight: sent, answer unknown
            outcomes.append(Outcome(req, 0, loop.time() - due))
            raise
        latency = loop.time() - due
        outcomes.append(Outcome(req, status, latency, receipt))
        live.done += 1
        latencies.append(latency)
        if status not in expected.get(req.kind, ()):
            live.errors += 1
        if status == 202 and req.kind == "vote":
            accepted.append(req)

    async def sender(session: aiohttp.ClientSession) -> None:
        """One per connection: takes the oldest request that has come due, whenever it is free.

        A pool rather than a task per request: a task, a done-callback and a wait in the connector
        queue per request cost more than the request itself at several thousand per second. The
        schedule is unchanged - requests come due on the clock and latency counts from then.
        """
        while True:
            while not due_now:
                if scheduled_all:
                    return
                wake = loop.create_future()
                idle.append(wake)
                await wake
            req, due = due_now.popleft()
            await send(session, req, due)

    def wake_one() -> None:
        while idle:
            wake = idle.popleft()
            if not wake.done():
                wake.set_result(None)
                return

    def ballot_of(r: Req) -> tuple[str, ...]:
        return ballots.get(r.state or "", (r.candidate or "",))

    async def ticker() -> None:
        while True:
            on_tick(live)
            await asyncio.sleep(0.25)

    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout,
                                     headers={"content-type": "application/json"}) as session:
        try:   # resolve the host and open a connection before the clock starts (GET /health changes nothing)
            async with session.get(url.rsplit("/", 1)[0] + "/health") as warm:
                await warm.read()
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass
        t0 = (start() if start else loop.time()) + phase
        live.started = time.monotonic()
        await asyncio.sleep(max(0.0, t0 - loop.time()))
        tick = asyncio.create_task(ticker())
        senders = asyncio.gather(*(sender(session) for _ in range(min(concurrency, len(reqs)))))
        i = 0
        try:
            while i < len(reqs):
                now = loop.time()
                due_n = min(len(reqs), int((now - t0) * rate) + 1)
                while i < due_n:
                    due_now.append((reqs[i], t0 + i / rate))
                    wake_one()
                    live.sent += 1
                    i += 1
                if i < len(reqs):
                    # Wake at most every millisecond and queue whatever has come due (latency counts from `due`).
                    await asyncio.sleep(max(0.001, t0 + i / rate - loop.time()))
                    if senders.done():
                        break                   # a sender failed: its exception is raised below
            scheduled_all = True
            while idle:
                wake_one()
            await senders
        except asyncio.CancelledError:
            live.interrupted = True     # Ctrl-C (asyncio.run cancels this task): keep what was answered so far
        finally:
            live.finished = time.monotonic()
            tick.cancel()
            if not senders.done():
                senders.cancel()
            if live.interrupted:        # retrieve the cancelled senders' outcome (no "never retrieved" warning)
                await asyncio.gather(senders, return_exceptions=True)
        on_tick(live)
    return outcomes


PER_WORKER_RATE = 2500.0     # req/s per worker; one loop kept 6,000-8,000 in bench/loadgen.py


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


def send_schedule(url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float, live: Live,
                  on_tick: Callable[[Live], None], rng: random.Random, ballots: dict[str, tuple[str, ...]],
                  workers: int = 1) -> tuple[list[Outcome], float]:
    """Send the whole schedule, in this process or split over `workers` processes; outcomes and seconds taken.

    Worker k takes requests k, k + N, k + 2N ... at rate / N, offset by k / rate from a start time all
    share, so together they keep the one schedule (open loop, latency from each scheduled start) while
    each event loop has its own core. Each worker repeats only votes it saw accepted as duplicates.
    """
    if workers <= 1:
        outcomes = run_loop(_run(url, reqs, rate, concurrency, timeout, live, on_tick, rng, ballots))
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
    except BaseException:                      # Ctrl-C, or one worker failed: the others stop now
        for proc in procs:
            proc.terminate()
        raise
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()


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
        outcomes = run_loop(_run(url, reqs, rate, concurrency, timeout, live, tick, random.Random(seed),
                                 ballots, start=start, phase=phase))
        conn.send(("done", (outcomes, live.finished)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text then
            conn.send(("error", RuntimeError(f"loadtest worker: {exc!r}")))
    finally:
        conn.close()


def receipt_of(raw: bytes) -> str | None:
    """The receipt in a 202's JSON body, or None if the body is not what the API promises."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc.get("receipt") if isinstance(doc, dict) else None


# --- report ----------------------------------------------------------------------------

@dataclass
class Report:
    url: str
    planned: int
    seconds: float
    target_rate: float
    throughput: float
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    accepted_voters: int
    unexpected: dict[str, int]
    drain_seconds: float = 0.0
    drained: bool = False
    verified: bool = False
    problems: list[str] = field(default_factory=list)
    ledger: str | None = None
    interrupted: str | None = None          # the phase Ctrl-C stopped ("sending", "verifying"), None if it ran out
    other_traffic: int = 0                  # votes counted during the run that are not this run's receipts
    other_traffic_by_key: dict[str, int] = field(default_factory=dict)
    skipped_used: int = 0                   # voters left out because earlier runs already sent their vote

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ledger_path(target: Target) -> Path:
    """Where accepted receipts of this deployment are kept (a redeployment starts a new ledger)."""
    return target.state_dir / f"{target.plan.name}-{state.instance_id(target)}-receipts.jsonl"


def append_ledger(path: Path, entries: list[dict[str, str]]) -> None:
    """Accepted receipts (no voter IDs) for `election audit`; owner-only like the credential file.

    Sorted by receipt, never in the order the votes were sent: with that order, anyone who knows
    when each voter voted could match voters to receipts, hence to ballots (README "Ballot secrecy").
    """
    with open_private_append(path) as fh:   # O_NOFOLLOW: a planted link is refused, not written through
        for e in sorted(entries, key=lambda e: e["receipt"]):
            fh.write(json.dumps(e, separators=(",", ":")) + "\n")


def summarize(url: str, outcomes: list[Outcome], seconds: float, rate: float) -> Report:
    lat = [o.latency for o in outcomes]
    statuses = Counter(str(o.status) for o in outcomes)
    by_kind: dict[str, Counter[str]] = {}
    unexpected: Counter[str] = Counter()
    for o in outcomes:
        by_kind.setdefault(o.req.kind, Counter())[str(o.status)] += 1
        if o.status not in EXPECTED.get(o.req.kind, set()):
            unexpected[f"{o.req.kind}:{o.status}"] += 1
    voters = {o.receipt for o in outcomes if o.status == 202 and o.receipt}
    return Report(url=url, planned=len(outcomes), seconds=round(seconds, 3), target_rate=rate,
                  throughput=round(len(outcomes) / seconds, 1) if seconds else 0.0,
                  latency_ms={f"p{p}": round(percentile(lat, p) * 1000, 1) for p in (50, 90, 99)}
                  | {"max": round(max(lat, default=0) * 1000, 1)},
                  statuses=dict(sorted(statuses.items())), by_kind={k: dict(v) for k, v in by_kind.items()},
                  accepted_voters=len(voters), unexpected=dict(unexpected))


@dataclass
class Fired:
    """What the load phase produced, for verification."""

    report: Report
    outcomes: list[Outcome]
    before: Counter[tuple[str, str]]


def fire(target: Target, voters: Sequence[Voter], url: str, votes: int, rate: float, concurrency: int,
         duplicates: float = 0.0, invalid: float = 0.0, timeout: float = 30.0, seed: int | None = None,
         ledger: Path | None = None, on_tick: Callable[[Live], None] = lambda live: None,
         workers: int | None = None, used: Path | None = None) -> Fired:
    """Plan the traffic, send it on schedule, summarize it and record the accepted receipts.

    workers: processes to send from (default one per CPU, fewer at low rates: see worker_count).
    used: the credential file's used-voters file (ops/usedvoters.py): every voter sent a first vote is
    added to it, also when Ctrl-C ends the run early (report.interrupted == "sending").
    """
    if rate <= 0 or concurrency < 1:
        raise ElectionError("--rate must be above 0 and --concurrency at least 1.")
    rng = random.Random(seed)
    plan = target.plan
    reqs = plan_requests(voters, plan, votes, duplicates, invalid, rng)
    before = state.national(state.read_counters(target))
    live = Live(planned=len(reqs))
    outcomes, seconds = send_schedule(url.rstrip("/") + "/votes", reqs, rate, concurrency, timeout, live, on_tick,
                                      rng, {s: plan.ballot.for_state(s) for s in plan.state_regions()},
                                      worker_count(workers, rate, len(reqs)))
    report = summarize(url, outcomes, seconds, rate)
    report.interrupted = "sending" if live.interrupted else None
    accepted = [{"receipt": o.receipt, "state": o.req.state, "candidate": o.req.candidate}
                for o in outcomes if o.status == 202 and o.receipt and o.req.kind == "vote"]
    path = ledger or ledger_path(target)
    append_ledger(path, accepted)
    report.ledger = str(path)
    if used is not None:
        usedvoters.record_used(used, (o.req.voter_id for o in outcomes if o.req.kind == "vote" and o.req.voter_id))
    return Fired(report, outcomes, before)


def settle_and_verify(target: Target, fired: Fired, drain_timeout: float = 300.0,
                      on_drain: Callable[[int, int], None] = lambda q, u: None, allow_errors: bool = False) -> Report:
    """Wait for queues and tally to drain, then verify; fills in and returns the report.

    Ctrl-C here returns the report unverified with interrupted == "verifying" (the ledger is already written).
    """
    report = fired.report
    try:
        waited = drain.wait_drained(target, timeout=drain_timeout, on_poll=on_drain)
        report.drained, report.drain_seconds = waited.drained, round(waited.seconds, 2)
        report.problems = verify(target, fired.outcomes, fired.before, report, allow_errors=allow_errors)
    except KeyboardInterrupt:
        report.interrupted, report.problems, report.verified = "verifying", [], False
        return report
    if not waited.drained:
        report.problems.append(f"The queues and tally did not drain within {drain_timeout:.0f} s "
                               f"({waited.queued} queued, {waited.uncounted} uncounted).")
    dead = sum(qs[q] for qs in state.queue_depths(target).values() for q in target.names.dead_letter_queues)
    if dead:
        report.problems.append(f"{dead} message(s) are in dead-letter queues (election dlq list).")
    report.verified = not report.problems
    return report


def run_loadtest(target: Target, voters: Sequence[Voter], url: str, votes: int, rate: float, concurrency: int,
                 duplicates: float = 0.0, invalid: float = 0.0, timeout: float = 30.0, drain_timeout: float = 300.0,
                 seed: int | None = None, verify_after: bool = True, ledger: Path | None = None,
                 on_tick: Callable[[Live], None] = lambda live: None,
                 on_drain: Callable[[int, int], None] = lambda q, u: None, workers: int | None = None,
                 used: Path | None = None, allow_errors: bool = False) -> Report:
    """Fire the load, then (unless told not to, or Ctrl-C stopped the sending) wait for the drain and verify."""
    fired = fire(target, voters, url, votes, rate, concurrency, duplicates, invalid, timeout, seed, ledger, on_tick,
                 workers, used)
    if not verify_after or fired.report.interrupted:
        return fired.report
    return settle_and_verify(target, fired, drain_timeout, on_drain, allow_errors)
