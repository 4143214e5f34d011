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
import time
from collections.abc import Callable
from typing import Any

from election.lambdas.loadgen.httpclient import Connection, Endpoint
from election.lambdas.loadgen.schedule import Firing, Live, Outcome, Req, no_full_collections

ENV_BUCKET = "LOADGEN_BUCKET"
ENV_ALLOWED = "LOADGEN_ALLOWED_URLS"      # comma-separated API base URLs; requests go to <base>/votes only
VOTES_PATH = "/votes"
STOP_POLL_S = 1.0
_S3: Any = None


class Refused(ValueError):
    """A slice this worker must not run (a URL the fleet plan does not name)."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: {"slice": key, "start_at": epoch seconds}; the bucket is the function's own."""
    global _S3
    if _S3 is None:
        import boto3
        _S3 = boto3.client("s3")
    allowed = [u for u in os.environ.get(ENV_ALLOWED, "").split(",") if u]
    return run_slice(_S3, os.environ[ENV_BUCKET], str(event["slice"]), float(event["start_at"]), allowed)


def check_url(url: str, allowed: list[str]) -> None:
    """Refuse any URL but <allowed base>/votes."""
    if not any(url == base.rstrip("/") + VOTES_PATH for base in allowed):
        raise Refused(f"{url} is not the voting API of an election this fleet was deployed for "
                      f"({', '.join(allowed) or 'none'}).")


def run_slice(s3: Any, bucket: str, key: str, start_at: float, allowed: list[str]) -> dict[str, Any]:
    """Run one slice from the shared start; write {"worker", "late_start_s", "finished_at", "outcomes"}.

    The coordinator's Ctrl-C puts the slice's stop key: the schedule ends within a second and the
    answers so far are written as usual.
    """
    spec = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    check_url(spec["url"], allowed)
    reqs = [decode_req(r) for r in spec["requests"]]
    late = max(0.0, time.time() - start_at)

    def stopped() -> bool:
        return _exists(s3, bucket, spec["stop_key"])

    outcomes, finished_at = asyncio.run(_fire(spec, reqs, start_at, stopped))
    doc = {"worker": spec["worker"], "late_start_s": round(late, 3), "finished_at": finished_at,
           "outcomes": [encode_outcome(o) for o in outcomes]}
    s3.put_object(Bucket=bucket, Key=spec["outcomes_key"], Body=json.dumps(doc, separators=(",", ":")).encode())
    return {"worker": spec["worker"], "requests": len(reqs), "answered": len(outcomes), "late_start_s": doc[
        "late_start_s"]}


async def _fire(spec: dict[str, Any], reqs: list[Req], start_at: float,
                stopped: Callable[[], bool]) -> tuple[list[Outcome], float]:
    """The slice on this loop: connections opened before the shared start, then the schedule."""
    loop = asyncio.get_running_loop()
    endpoint = Endpoint(spec["url"])
    conns = [Connection(endpoint, float(spec["timeout"])) for _ in range(min(int(spec["concurrency"]), len(reqs)))]
    await asyncio.gather(*(c.connect() for c in conns))
    pool = iter(conns)
    t0 = loop.time() + (start_at - time.time()) + float(spec["phase"])
    live = Live(planned=len(reqs))
    watch = asyncio.create_task(_watch(stopped, asyncio.current_task()))
    with no_full_collections():
        firing = Firing(reqs, float(spec["rate"]), live, random.Random(spec["seed"]), spec["ballots"])
        outcomes = await firing.run(lambda: next(pool), len(conns), lambda _live: None, t0)
    watch.cancel()
    return outcomes, time.time() - (time.monotonic() - live.finished)


async def _watch(stopped: Callable[[], bool], task: asyncio.Task[Any] | None) -> None:
    """Once a second: has the coordinator asked to stop (its Ctrl-C)? Then end the schedule, keep the answers."""
    while True:
        await asyncio.sleep(STOP_POLL_S)
        if await asyncio.to_thread(stopped):
            break
    if task is not None:
        task.cancel()


def _exists(s3: Any, bucket: str, key: str) -> bool:
    """Whether an object exists. Without s3:ListBucket (the worker's role has none) S3 answers a missing
    key with 403, not 404 (S3 API reference, HeadObject "Permissions"), so any client error means no."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001 - 403/404 (absent) or a transient error: not asked to stop
        return False
    return True


def encode_req(req: Req) -> list[Any]:
    return [req.kind, req.voter_id, req.state, req.candidate, base64.b64encode(req.body).decode("ascii")]


def decode_req(row: list[Any]) -> Req:
    return Req(row[0], row[1], row[2], row[3], base64.b64decode(row[4]))


def encode_outcome(o: Outcome) -> list[Any]:
    """What verification needs of an outcome (a duplicate's voter and candidate are chosen when it is sent)."""
    return [o.req.kind, o.req.voter_id, o.req.state, o.req.candidate, o.status, round(o.latency, 6), o.receipt]


def decode_outcome(row: list[Any]) -> Outcome:
    return Outcome(Req(row[0], row[1], row[2], row[3]), int(row[4]), float(row[5]), row[6])
