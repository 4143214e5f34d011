"""`loadtest --fleet N`: one open-loop schedule split over N load-generator workers that meet through S3.

Worker k gets requests k, k + N, k + 2N ... at rate / N, offset by k / rate, exactly as the local
worker processes split it (ops/loadprocs.py), so together they keep the one schedule. Each slice
goes to the fleet's run bucket; every worker is started with one shared start time (wall clock);
each writes its outcomes back; they are merged, then summarized and verified exactly as a run
from one process. On AWS a worker is one invocation of the fleet's function (provision/fleet.py);
on the local stack it is a thread on this machine calling the same run_slice() against the local
moto's S3. Slices hold voter IDs and outcomes link receipts to send times, so both are deleted as
soon as they are merged.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from election.errors import ElectionError
from election.lambdas.loadgen import worker
from election.lambdas.loadgen.schedule import Live, Outcome, Req
from election.ops.target import Target
from election.provision import fleet as fleet_model
from election.provision.kinds import s3util
from election.provision.model.names import Names

MAX_FLEET = 1000           # Lambda's default concurrency quota per region (L-B99A9384)
MAX_LOCAL_FLEET = 16       # threads on this machine
LEAD_S = {"local": 2.0, "aws": 5.0}   # from the last slice stored to the shared start: a cold start fits in it


@dataclass(frozen=True)
class FleetSite:
    """A deployed fleet: its run bucket and function, and the URLs it may send to."""

    region: str
    bucket: str
    function: str
    allowed: tuple[str, ...]
    local: bool


def check_fleet_size(n: int, planned: int, local: bool) -> None:
    """One sentence for a fleet size that cannot work, before anything is sent or stored."""
    most = MAX_LOCAL_FLEET if local else MAX_FLEET
    if n < 1 or n > most:
        where = "on the local stack (threads on this machine)" if local else "(Lambda's default concurrency quota)"
        raise ElectionError(f"--fleet must be between 1 and {most} {where}; got {n}.")
    if n > planned:
        raise ElectionError(f"--fleet {n} is more workers than the {planned} requests planned; "
                            f"use at most --fleet {planned} or send more votes.")


def check_fleet_duration(planned: int, rate: float, timeout: float) -> None:
    """On AWS each worker is one invocation, which Lambda ends after 15 minutes: the schedule must fit in it."""
    longest = fleet_model.TIMEOUT_S - LEAD_S["aws"] - timeout
    if planned / rate > longest:
        raise ElectionError(f"A fleet run's schedule must end within {longest:.0f} s (a worker is one Lambda "
                            f"invocation of at most {fleet_model.TIMEOUT_S} s), but {planned} requests at {rate:g}/s "
                            f"take {planned / rate:.0f} s; raise --rate or send fewer votes per run.")


def locate(target: Target) -> FleetSite:
    """The election's deployed fleet, from its function's configuration (one sentence when there is none)."""
    fplan = fleet_model.fleet_plan(target.plan)
    function = Names(fplan.name).function(fleet_model.FUNCTION_ROLE)
    region = fplan.primary_region
    lam = target.client("lambda", region)
    try:
        env = (lam.get_function_configuration(FunctionName=function).get("Environment") or {}).get(
            "Variables") or {}
    except lam.exceptions.ResourceNotFoundException:
        raise ElectionError(f"No load fleet is deployed for plan '{target.plan.name}' in {region}; deploy it with "
                            "`election up --fleet` first.") from None
    allowed = tuple(u for u in env.get(worker.ENV_ALLOWED, "").split(",") if u)
    return FleetSite(region, env.get(worker.ENV_BUCKET, ""), function, allowed, target.is_local)


def send_fleet(target: Target, site: FleetSite, url: str, reqs: list[Req], rate: float, concurrency: int,
               timeout: float, live: Live, on_tick: Callable[[Live], None], rng: random.Random,
               ballots: dict[str, tuple[str, ...]], n: int) -> tuple[list[Outcome], float, float]:
    """Send the schedule from `n` fleet workers: their merged outcomes, seconds from the start to the last
    answer, and how late the latest worker started (a cold start longer than the lead; it shows in latency)."""
    try:
        worker.check_url(url, list(site.allowed))
    except worker.Refused as exc:
        raise ElectionError(f"Not sending: {exc} Deploy the fleet again (`election up --fleet`) if the "
                            "election's URLs changed.") from None
    s3 = target.client("s3", site.region)
    run = Run(s3, site.bucket, f"runs/{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}")
    try:
        keys = run.store_slices(url, reqs, rate, concurrency, timeout, rng, ballots, n)
        start_at = time.time() + LEAD_S["local" if site.local else "aws"]
        live.started = time.monotonic() + (start_at - time.time())
        docs = _run_workers(target, site, run, keys, start_at, live, on_tick, rate)
        outcomes = [worker.decode_outcome(row) for d in docs for row in d["outcomes"]]
        finished = max((float(d["finished_at"]) for d in docs), default=time.time())
        live.sent = live.done = len(outcomes)
        live.finished = time.monotonic() - (time.time() - finished)
        on_tick(live)
        late = max((float(d.get("late_start_s", 0.0)) for d in docs), default=0.0)
        return outcomes, max(0.0, finished - start_at), late
    finally:
        run.delete()


class Run:
    """One fleet run's objects under `runs/<id>/` in the run bucket: slices, stop key, outcomes."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.stop_key = f"{prefix}/stop"

    def store_slices(self, url: str, reqs: list[Req], rate: float, concurrency: int, timeout: float,
                     rng: random.Random, ballots: dict[str, tuple[str, ...]], n: int) -> list[str]:
        """Worker k's slice: requests k::n at rate / n, phase k / rate; its share of the connections."""
        keys = []
        for k in range(n):
            spec = {"worker": k, "url": url, "rate": rate / n, "phase": k / rate, "timeout": timeout,
                    "concurrency": max(1, -(-concurrency // n)), "seed": rng.getrandbits(64),
                    "ballots": {s: list(c) for s, c in ballots.items()},
                    "requests": [worker.encode_req(r) for r in reqs[k::n]],
                    "outcomes_key": f"{self.prefix}/outcomes/{k}.json", "stop_key": self.stop_key}
            key = f"{self.prefix}/slices/{k}.json"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(spec, separators=(",", ":")).encode())
            keys.append(key)
        return keys

    def outcomes(self, k: int) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/outcomes/{k}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        doc: dict[str, Any] = json.loads(body)
        return doc

    def stop(self) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.stop_key, Body=b"")

    def delete(self) -> None:
        """Everything of this run (slices hold voter IDs; outcomes link receipts to send times)."""
        s3util.delete_prefix(self.s3, self.bucket, self.prefix + "/")


def _run_workers(target: Target, site: FleetSite, run: Run, keys: list[str], start_at: float, live: Live,
                 on_tick: Callable[[Live], None], rate: float) -> list[dict[str, Any]]:
    """Start every worker, wait for all (Ctrl-C: ask them to stop, keep what they wrote); their outcome documents."""
    start = _local_starter(target, site, run) if site.local else _lambda_starter(target, site)
    pool = ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="fleet-worker")
    futures: dict[Future[Any], int] = {pool.submit(start, key, start_at): k for k, key in enumerate(keys)}
    try:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            live.sent = min(live.planned, max(0, int((time.time() - start_at) * rate) + 1))  # due by now
            on_tick(live)
        for fut in futures:
            fut.result()                    # a worker's failure, as one sentence
    except KeyboardInterrupt:
        live.interrupted = True
        run.stop()
        wait(futures, timeout=15)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    docs = [run.outcomes(k) for k in range(len(keys))]
    missing = [k for k, d in enumerate(docs) if d is None]
    if missing and not live.interrupted:
        log_group = Names(fleet_model.fleet_plan(target.plan).name).log_group(fleet_model.FUNCTION_ROLE)
        raise ElectionError(f"Fleet worker(s) {', '.join(map(str, missing))} wrote no outcomes; see the log group "
                            f"{log_group}.")
    return [d for d in docs if d is not None]


def _local_starter(target: Target, site: FleetSite, run: Run) -> Callable[[str, float], Any]:
    """A worker as a thread here: the Lambda handler's own run_slice(), on the local moto's S3."""
    def start(key: str, start_at: float) -> Any:
        s3 = target.client("s3", site.region)
        try:
            return worker.run_slice(s3, site.bucket, key, start_at, list(site.allowed))
        except worker.Refused as exc:
            raise ElectionError(str(exc)) from None
    return start


def _lambda_starter(target: Target, site: FleetSite) -> Callable[[str, float], Any]:
    """A worker as one synchronous invocation; never retried (a retry would send its votes twice)."""
    import botocore.config
    from botocore.exceptions import BotoCoreError, ClientError

    # tcp_keepalive: the answer comes after up to 15 idle minutes on one connection, and NAT gateways and
    # load balancers drop idle TCP flows after 350 s (AWS knowledge center "lambda-vpc-timeout").
    config = botocore.config.Config(read_timeout=fleet_model.TIMEOUT_S + 60, connect_timeout=10,
                                    retries={"total_max_attempts": 1, "mode": "standard"},
                                    max_pool_connections=MAX_FLEET, tcp_keepalive=True)
    lam = target.provider.raw_client("lambda", site.region, config=config)

    def start(key: str, start_at: float) -> Any:
        try:
            resp = lam.invoke(FunctionName=site.function, InvocationType="RequestResponse",
                              Payload=json.dumps({"slice": key, "start_at": start_at}).encode())
        except (BotoCoreError, ClientError) as exc:
            raise ElectionError(f"Fleet worker {key}: the invocation of {site.function} failed ({exc}); if it "
                                "started, it may still be sending until its schedule ends.") from None
        payload = json.loads(resp["Payload"].read() or b"null")
        if resp.get("FunctionError"):
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            raise ElectionError(f"A fleet worker failed ({key}): {message}")
        return payload
    return start



def allowed_urls(target: Target) -> list[str]:
    """The election's own API base URLs: the only places its fleet may send to (one sentence if it has none)."""
    if target.endpoints is not None:
        urls = [str(target.endpoints.get("router") or "")] + list((target.endpoints.get("regions") or {}).values())
    else:
        urls = ([f"https://api.{target.plan.domain}"] if target.plan.domain else []) + list(target.api_urls().values())
    urls = sorted({u.rstrip("/") for u in urls if u})
    if not urls:
        raise ElectionError(f"The election '{target.plan.name}' has no API yet, so its load fleet would have nowhere "
                            "to send; deploy the election first (election up).")
    return urls


def fleet_deployer(target: Target, sleep: Callable[[float], None] | None = None, removing: bool = False) -> Any:
    """The engine on the fleet plan of the target's election, allowed to send to that election's APIs only.

    `removing`: for `down --fleet`, which needs no URLs (the election may be gone already).
    """
    return fleet_model.deployer(target.plan, target.provider, [] if removing else allowed_urls(target), sleep=sleep)
