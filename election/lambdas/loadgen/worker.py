"""One fleet worker: read its slice of the schedule from S3, keep it from the shared start, write the outcomes.

The Lambda handler and `loadtest --fleet` on the local stack both call run_slice(), so the local
test exercises this very path. The worker sends only to the URLs its function was deployed with
(LOADGEN_ALLOWED_URLS, from the fleet plan): a slice naming any other URL is refused before one
request goes out. Standard library and boto3 only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import threading
import time
from typing import Any

from election.lambdas.loadgen.httpclient import Connection, Endpoint
from election.lambdas.loadgen.schedule import Firing, Live, Outcome, Req, no_full_collections

ENV_BUCKET = "LOADGEN_BUCKET"
ENV_ALLOWED = "LOADGEN_ALLOWED_URLS"      # comma-separated API base URLs; requests go to <base>/votes only
VOTES_PATH = "/votes"
_S3: Any = None


class Refused(ValueError):
    """A slice this worker must not run (a URL the fleet plan does not name)."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: {"slice": key} in the function's bucket; the outcomes go where the slice says."""
    global _S3
    if _S3 is None:
        import boto3
        _S3 = boto3.client("s3")
    allowed = [u for u in os.environ.get(ENV_ALLOWED, "").split(",") if u]
    return run_slice(_S3, os.environ[ENV_BUCKET], str(event["slice"]), allowed)


def check_url(url: str, allowed: list[str]) -> None:
    """Refuse any URL but <allowed base>/votes."""
    if not any(url == base.rstrip("/") + VOTES_PATH for base in allowed):
        raise Refused(f"{url} is not the voting API of an election this fleet was deployed for "
                      f"({', '.join(allowed) or 'none'}).")


def run_slice(s3: Any, bucket: str, key: str, allowed: list[str],
              stop: threading.Event | None = None) -> dict[str, Any]:
    """Run one slice; write {"worker", "started_at", "finished_at", "outcomes"} to the slice's outcomes key."""
    spec = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    check_url(spec["url"], allowed)
    reqs = [decode_req(r) for r in spec["requests"]]
    late = max(0.0, time.time() - spec["start_at"])
    outcomes, finished_at = asyncio.run(_fire(spec, reqs, stop))
    doc = {"worker": spec["worker"], "late_start_s": round(late, 3), "finished_at": finished_at,
           "outcomes": [encode_outcome(o) for o in outcomes]}
    s3.put_object(Bucket=bucket, Key=spec["outcomes_key"], Body=json.dumps(doc, separators=(",", ":")).encode())
    return {"worker": spec["worker"], "requests": len(reqs), "answered": len(outcomes), "late_start_s": doc[
        "late_start_s"]}


async def _fire(spec: dict[str, Any], reqs: list[Req], stop: threading.Event | None) -> tuple[list[Outcome], float]:
    """The slice on this loop: connections opened before the shared start, then the schedule."""
    loop = asyncio.get_running_loop()
    endpoint = Endpoint(spec["url"])
    conns = [Connection(endpoint, float(spec["timeout"])) for _ in range(min(int(spec["concurrency"]), len(reqs)))]
    await asyncio.gather(*(c.connect() for c in conns))
    pool = iter(conns)
    t0 = loop.time() + (float(spec["start_at"]) - time.time()) + float(spec["phase"])
    live = Live(planned=len(reqs))
    watch = asyncio.create_task(_watch(stop, asyncio.current_task())) if stop is not None else None
    with no_full_collections():
        firing = Firing(reqs, float(spec["rate"]), live, random.Random(spec["seed"]), spec["ballots"])
        outcomes = await firing.run(lambda: next(pool), len(conns), lambda _live: None, t0)
    if watch is not None:
        watch.cancel()
    return outcomes, time.time() - (time.monotonic() - live.finished)


async def _watch(stop: threading.Event, task: asyncio.Task[Any] | None) -> None:
    """Local workers only: the coordinator's Ctrl-C ends the schedule; the answers so far are kept."""
    while not stop.is_set():
        await asyncio.sleep(0.1)
    if task is not None:
        task.cancel()


def encode_req(req: Req) -> list[Any]:
    return [req.kind, req.voter_id, req.state, req.candidate, base64.b64encode(req.body).decode("ascii")]


def decode_req(row: list[Any]) -> Req:
    return Req(row[0], row[1], row[2], row[3], base64.b64decode(row[4]))


def encode_outcome(o: Outcome) -> list[Any]:
    """What verification needs of an outcome (a duplicate's voter and candidate are chosen when it is sent)."""
    return [o.req.kind, o.req.voter_id, o.req.state, o.req.candidate, o.status, round(o.latency, 6), o.receipt]


def decode_outcome(row: list[Any]) -> Outcome:
    return Outcome(Req(row[0], row[1], row[2], row[3]), int(row[4]), float(row[5]), row[6])
