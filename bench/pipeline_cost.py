"""Cost per million votes, every cost counted: this pipeline measured on moto, next to the reference.

Runs N voters through the real handlers (two regions, moto in-process) the way the voting page
does: GET /health (the page's first request), POST /ballot, POST /votes; then the process and
tally functions. It counts every AWS call per route and function, adds the calls the Lambda event
source mappings make on our behalf (SQS ReceiveMessage / DeleteMessageBatch, billed to the
account; DynamoDB Streams reads by a Lambda trigger are free), derives DynamoDB units by
DynamoDB's rules, and measures:

- Lambda duration: each invocation's own CPU time (process CPU time minus the CPU moto spends
  answering its calls) stretched by the memory's CPU share (1,769 MB = one vCPU), plus a stated typical latency
  per AWS call (LATENCY_MS), billed per 1 ms at the plan's memory and architecture;
- logs: what the handlers print (metrics), plus the runtime's START/END/REPORT lines unless the
  deployed logging config drops them (SystemLogLevel WARN);
- batch fill at a stated national rate: SQS receives carry 10 messages (the SQS maximum) and each
  process invocation the mapping's BatchSize once its batching window fills it; the tally's
  batch is what one stream shard gathers in its window at that rate, at most the mapping's
  BatchSize and what fits Lambda's 6 MB invocation payload (records measured here);
- per-batch calls (process's polls read) once per batch, per-container calls (the secrets, read
  once per container) once per container lifetime (CONTAINER_LIFE_S, stated), process's PutItems
  overlapped by its writer threads (process.WRITERS).

Two figures: per million API votes (POST /votes and what follows it) and per million page votes
(everything the voting page sends for one vote: capacity.PAGE_REQUESTS, which
tests/test_browser_vote.py checks against the page in Chromium), each next to the reference pattern (the 2018 demo) priced
with the same table (election/ops/prices.py) on the same basis.

    python3 bench/pipeline_cost.py [--votes 600] [--rate 5000] [--plan config/aws.yaml]

Not per vote, so not here: storage, alarms, dashboards, KMS keys, Route 53 health checks (see
`election plan` with a capacity section for the fixed monthly cost). KMS requests for the queues'
SSE are amortised by the data key reuse period (5 min per principal) and left out.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from election.ops import capacity, prices

SQS_BATCH = 10          # messages per ReceiveMessage / DeleteMessageBatch (the SQS maximum)
# Typical in-region latency of one call as a Lambda function sees it (ms). No AWS document
# promises these; they are the usual single-digit-millisecond figures, stated so the duration
# part of the bill can be checked and re-run with other values (--latency-scale).
LATENCY_MS = {
    "dynamodb:GetItem": 4.0, "dynamodb:BatchGetItem": 5.0, "dynamodb:PutItem": 6.0,
    "dynamodb:UpdateItem": 6.0, "dynamodb:TransactWriteItems": 15.0, "dynamodb:Scan": 8.0,
    "dynamodb:Query": 5.0, "dynamodb:DescribeTable": 6.0, "sqs:SendMessage": 8.0,
    "sqs:GetQueueAttributes": 5.0, "secretsmanager:GetSecretValue": 20.0,
}
DEFAULT_LATENCY_MS = 8.0
# Time between two health checks answered by one container. Under load Lambda keeps a warm container
# busy (concurrency = rate x duration, Little's law), so each serves about 1/duration requests a
# second: ~30 for a ~33 ms health check. The bench's health handlers run on a clock advanced by this
# much per check, so their reuse of a passing check (health.OK_REUSE_S) is what it would be at scale.
HEALTH_SPACING_S = 1 / 30
# What the voting page sends per vote (election/ops/capacity.py, shared with `election plan`): the ID
# lookup and the vote. GET /health only after a request failed (to pick the next endpoint), GET
# /results only when the results view is open, no CORS preflight (the POSTs are simple requests):
# none of them per vote. tests/test_browser_vote.py checks it against the page in Chromium.
PAGE_REQUESTS = capacity.PAGE_REQUESTS
# How long one Lambda container serves before it is replaced. AWS promises nothing; 5 minutes is
# well below what busy functions usually see, so per-container reads (the secrets) are not under-priced.
CONTAINER_LIFE_S = 300.0
# Lambda's payload limit for one invocation (a stream batch is cut there whatever BatchSize says):
# https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
REQUEST_ID = "8f507cfc-1b2c-4697-b07a-ac58fc914c95"


def runtime_log_bytes(duration_ms: float, memory_mb: int) -> int:
    """Bytes of the text START/END/REPORT lines Lambda writes for one warm invocation."""
    billed = math.ceil(duration_ms)
    lines = (f"START RequestId: {REQUEST_ID} Version: $LATEST\n",
             f"END RequestId: {REQUEST_ID}\n",
             (f"REPORT RequestId: {REQUEST_ID}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
              f"Memory Size: {memory_mb} MB\tMax Memory Used: {min(memory_mb, 96)} MB\t\n"))
    return sum(len(line.encode()) for line in lines)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB item size: attribute name lengths plus value sizes (strings UTF-8, numbers ~digits/2+1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, v), = value.items()
        if kind == "S":
            size += len(v.encode())
        elif kind == "N":
            size += len(v.strip("-").replace(".", "")) // 2 + 1
        elif kind == "BOOL" or kind == "NULL":
            size += 1
        else:
            size += len(json.dumps(v))
    return size


ITEMS = ("API requests", "Lambda requests", "Lambda duration", "SQS requests", "DynamoDB reads",
         "DynamoDB writes", "DynamoDB replicated writes", "DynamoDB ballots (provisioned)", "Logs (handlers)",
         "Logs (runtime lines)", "Secrets Manager")
BALLOTS_SUFFIX = "-ballots"   # the ballots table, whose units a provisioned plan pays by the hour


@dataclass
class Stage:
    """Billable units of one route or function, per vote."""

    api: str = "http_api"
    api_requests: float = 0.0
    invocations: float = 0.0
    gb_s: float = 0.0
    architecture: str = "arm64"
    sqs: float = 0.0
    rru: float = 0.0
    wru: float = 0.0
    rwru: float = 0.0
    ballots_rru: float = 0.0      # the part of rru / wru / rwru that is the ballots table's
    ballots_wru: float = 0.0
    ballots_rwru: float = 0.0
    log_bytes: float = 0.0
    runtime_log_bytes: float = 0.0
    secrets: float = 0.0

    def cost_per_million(self) -> dict[str, float]:
        m, pr = 1_000_000, prices.per_request
        return {
            "API requests": self.api_requests * m * pr(self.api) if self.api_requests else 0.0,
            "Lambda requests": self.invocations * m * pr("lambda_request"),
            "Lambda duration": prices.lambda_duration_usd(self.gb_s * m, self.architecture),
            "SQS requests": self.sqs * m * pr("sqs_request"),
            "DynamoDB reads": self.rru * m * pr("dynamodb_rru"),
            "DynamoDB writes": self.wru * m * pr("dynamodb_wru"),
            "DynamoDB replicated writes": self.rwru * m * pr("dynamodb_replicated_wru"),
            "DynamoDB ballots (provisioned)": 0.0,
            "Logs (handlers)": self.log_bytes * m / prices.GB * prices.LOGS_INGEST_GB,
            "Logs (runtime lines)": self.runtime_log_bytes * m / prices.GB * prices.LOGS_INGEST_GB,
            "Secrets Manager": self.secrets * m * pr("secrets_api"),
        }


def total(stages: list[Stage], provisioned: Any = None) -> dict[str, float]:
    """USD per million votes by item; with `provisioned` (a function of the ballots table's read and write
    units per vote to its USD per vote), the ballots table's units leave the per-request items for the
    hourly capacity instead."""
    out = dict.fromkeys(ITEMS, 0.0)
    for st in stages:
        for k, v in st.cost_per_million().items():
            out[k] += v
    if provisioned is not None:
        m, pr = 1_000_000, prices.per_request
        reads, writes = sum(st.ballots_rru for st in stages), sum(st.ballots_wru for st in stages)
        out["DynamoDB reads"] -= reads * m * pr("dynamodb_rru")
        out["DynamoDB writes"] -= writes * m * pr("dynamodb_wru")
        out["DynamoDB replicated writes"] -= sum(st.ballots_rwru for st in stages) * m * pr("dynamodb_replicated_wru")
        out["DynamoDB ballots (provisioned)"] = provisioned(reads, writes) * m
    return out


@dataclass
class Invocation:
    cpu_ms: float
    wait_ms: float
    log_bytes: int


@dataclass
class PhaseMeter:
    calls: Counter = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    replicable_wru: float = 0.0
    ballots_rru: float = 0.0
    ballots_wru: float = 0.0
    tx_items: list[int] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    record_bytes: list[int] = field(default_factory=list)   # stream records handed to the tally


class CallMeter:
    """botocore provide-client-params hook on the handlers' clients: calls and request units per phase."""

    def __init__(self) -> None:
        self.phases: dict[str, PhaseMeter] = defaultdict(PhaseMeter)
        self.phase = "setup"
        self.wait_ms = 0.0      # typical AWS latency of the calls made so far
        self.moto_s = 0.0       # time moto spent answering them (not the handler's own work)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        op = f"{model.service_model.service_name}:{model.name}"
        ph = self.phases[self.phase]
        ph.calls[op] += 1
        self.wait_ms += LATENCY_MS.get(op, DEFAULT_LATENCY_MS)
        if op == "dynamodb:GetItem":
            units = 1.0 if params.get("ConsistentRead") else 0.5
            ph.rru += units
            ph.ballots_rru += units if params["TableName"].endswith(BALLOTS_SUFFIX) else 0.0
        elif op == "dynamodb:BatchGetItem":
            # ConsistentRead is per table in BatchGetItem (default false); items < 4 KB: one unit
            # strongly consistent, half a unit eventually consistent.
            for table, t in params["RequestItems"].items():
                units = len(t["Keys"]) * (1.0 if t.get("ConsistentRead") else 0.5)
                ph.rru += units
                ph.ballots_rru += units if table.endswith(BALLOTS_SUFFIX) else 0.0
        elif op == "dynamodb:PutItem":
            units = math.ceil(item_size(params["Item"]) / 1024)
            ph.wru += units
            ph.replicable_wru += units
            ph.ballots_wru += units if params["TableName"].endswith(BALLOTS_SUFFIX) else 0.0
        elif op == "dynamodb:TransactWriteItems":
            n = len(params["TransactItems"])   # counter and checkpoint items are < 1 KB each
            ph.tx_items.append(n)
            ph.wru += 2 * n                    # transactional writes cost two units per KB
            ph.replicable_wru += n             # replicated as standard writes

    def invoke(self, phase: str, fn: Any, event: dict, out: io.StringIO) -> Any:
        """Call a handler as one Lambda invocation, recording its CPU time, AWS waits and log bytes."""
        self.phase = phase
        wait0, moto0, logs0 = self.wait_ms, self.moto_s, out.tell()
        t0 = time.process_time()     # CPU time, so a busy shared machine does not inflate it
        resp = fn(event, None)
        used = time.process_time() - t0
        cpu_ms = max(0.0, (used - (self.moto_s - moto0)) * 1000)
        self.phases[phase].invocations.append(Invocation(cpu_ms, self.wait_ms - wait0, out.tell() - logs0))
        self.phase = "driver"
        return resp


def time_moto(meter: CallMeter) -> None:
    """Count the time moto spends answering each request, so it is not billed as the handler's."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def timed(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return original(self, event_name, request, **kwargs)
        finally:
            meter.moto_s += time.process_time() - t0

    BotocoreStubber.__call__ = timed  # type: ignore[method-assign]


def handler_clients(handler: Any) -> list[Any]:
    """The boto3 clients a handler instance holds (attributes, dicts of them, and the peppers' client)."""
    found: list[Any] = []
    values = list(vars(handler).values())
    while values:
        v = values.pop()
        if hasattr(v, "meta") and hasattr(v.meta, "events"):
            if all(v is not f for f in found):   # the polls cache shares the handler's client
                found.append(v)
        elif isinstance(v, dict):
            values.extend(v.values())
        elif type(v).__name__ in ("Peppers", "PollsCache", "QueueKey"):   # QueueKey: process's secrets client
            values.extend(vars(v).values())
    return found


@dataclass(frozen=True)
class Deployed:
    """What the deployer sets, read from the model of the plan (so the bench follows main)."""

    memory_mb: int
    timeout_s: int
    architecture: str
    system_log_level: str
    process_batch: int
    process_window_s: int
    tally_batch: int
    tally_window_s: int
    region_states: dict[str, int]
    region_share: dict[str, float]
    ballots_billing: str = "PAY_PER_REQUEST"   # the ballots table's capacity mode (plan `tables.ballots`)
    plan: Any = None

    @classmethod
    def of(cls, plan_path: str) -> Deployed:
        from election.ops import data
        from election.plan import load_plan
        from election.provision.model import desired

        plan = load_plan(plan_path)
        res = {(r.kind, r.name): r.props for r in desired(plan, edge=False) if r.region == plan.primary_region}
        fn = res[("lambda_function", f"{plan.name}-enqueue")]
        esm_p = res[("event_source_mapping", f"{plan.name}-process-votes")]
        esm_t = res[("event_source_mapping", f"{plan.name}-tally-ballots")]
        turnout = data.turnout()
        national = sum(turnout.values())
        return cls(memory_mb=fn["memory_mb"], timeout_s=fn["timeout_s"], architecture=fn["architecture"],
                   system_log_level=(fn.get("logging") or {}).get("system_level", "INFO"),
                   process_batch=esm_p["batch_size"], process_window_s=esm_p.get("batching_window_s", 0),
                   tally_batch=esm_t["batch_size"], tally_window_s=esm_t.get("batching_window_s", 0),
                   region_states={r.name: len(r.states) for r in plan.regions},
                   region_share={r.name: sum(turnout[s] for s in r.states) / national for r in plan.regions},
                   ballots_billing=res[("table", f"{plan.name}-ballots")]["billing_mode"], plan=plan)


@dataclass(frozen=True)
class Fill:
    """Batch sizes at the stated national rate."""

    rate: float                 # votes/s nationally
    process_batch: float        # messages per process invocation
    tally_batch: float          # stream records per tally invocation
    shards: int                 # ballots stream shards in the busiest region
    tally_cut: str = ""         # what bounds the tally's batch

    @classmethod
    def at(cls, rate: float, d: Deployed, record_bytes: float = 0.0) -> Fill:
        busiest = max(d.region_share.values()) * rate
        # One stream shard per table partition; a partition takes at most 1,000 write units a second.
        shards = max(1, math.ceil(busiest / 1000))
        per_shard = busiest / shards
        # A mapping with a batching window invokes when the batch is full or the window ends.
        # Without a window a poller invokes with what one receive got (at most 10).
        process = (min(d.process_batch, busiest * d.process_window_s) if d.process_window_s
                   else min(d.process_batch, SQS_BATCH))
        bounds = {"BatchSize": float(d.tally_batch), "window": max(1.0, per_shard * max(d.tally_window_s, 1))}
        if record_bytes:
            bounds["6 MB payload"] = float(PAYLOAD_LIMIT_BYTES // math.ceil(record_bytes))
        cut = min(bounds, key=lambda k: bounds[k])
        return cls(rate=rate, process_batch=max(1.0, process), tally_batch=bounds[cut], shards=shards, tally_cut=cut)


@dataclass
class Measured:
    """What one run through the handlers gave: per-phase meters and the metrics lines flushed at the end."""

    phases: dict[str, PhaseMeter]
    voters: int
    flushed: dict[str, int]     # phase -> bytes of metrics lines still buffered at the end
    speed: float                # page votes/s through the handlers on moto (shared machine)

    @property
    def record_bytes(self) -> float:
        sizes = self.phases["tally"].record_bytes
        return sum(sizes) / max(1, len(sizes))


def measure(voters: int) -> Measured:
    """Run `voters` page votes through the handlers on moto, metering every call per phase."""
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws
    from pipeline_fixture import REGIONS, Pipeline, api_event

    from election.lambdas import health
    from election.lambdas.metrics import MetricsBuffer

    meter = CallMeter()
    time_moto(meter)
    logs = io.StringIO()
    with mock_aws(), redirect_stdout(logs):
        p = Pipeline(str(ROOT / "config" / "local.yaml"))
        for region in p.regions.values():
            for role in ("enqueue", "process", "tally", "health"):   # built here (the fixture builds lazily)
                for client in handler_clients(region.handlers[role]):
                    client.meta.events.register("provide-client-params", meter)
        clock = [0.0]
        for region in p.regions.values():   # production settings: caches on, metrics per class per 10 s
            region.handlers["enqueue"].polls._ttl = 2.0           # type: ignore[attr-defined]
            region.handlers["enqueue"].metrics = MetricsBuffer()  # type: ignore[attr-defined]
            h = region.handlers["health"]
            h.ok_reuse_s = health.OK_REUSE_S                      # type: ignore[attr-defined]
            h.metrics = MetricsBuffer(clock=lambda: clock[0])     # type: ignore[attr-defined]
            h.clock = lambda: clock[0]                            # type: ignore[attr-defined]
        states = tuple(p.plan.state_regions())
        ids = p.seed(1, tuple(states[i % len(states)] for i in range(voters)))
        meter.phases.clear()
        started = time.perf_counter()
        for i, (vid, state) in enumerate(ids.items()):
            handlers = p.regions[REGIONS[i % 2]].handlers
            clock[0] += HEALTH_SPACING_S
            meter.invoke("health", handlers["health"], api_event("GET", "/health"), logs)
            resp = meter.invoke("ballot", handlers["enqueue"], api_event("POST", "/ballot", {"voter_id": vid}), logs)
            assert resp["statusCode"] == 200, resp
            resp = meter.invoke("votes", handlers["enqueue"], api_event(
                "POST", "/votes", {"voter_id": vid, "candidate": p.plan.ballot.for_state(state)[i % 3]}), logs)
            assert resp["statusCode"] == 202, resp
        for region in REGIONS:
            sqs = boto3.client("sqs", region_name=region)
            while records := p.receive(region, max_messages=SQS_BATCH):
                out = meter.invoke("process", p.regions[region].handlers["process"], {"Records": records}, logs)
                assert out["batchItemFailures"] == []
                sqs.delete_message_batch(QueueUrl=p.queue_urls[region], Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(records)])
            while True:
                shard, records = p.stream_batch(region, 10000)
                if not records:
                    break
                meter.phases["tally"].record_bytes.extend(len(json.dumps(r, default=str).encode()) for r in records)
                out = meter.invoke("tally", p.regions[region].handlers["tally"],
                                   {"Records": records, "shardId": shard}, logs)
                assert out["batchItemFailures"] == []
        elapsed = time.perf_counter() - started
        before = logs.tell()
        for region in p.regions.values():
            region.handlers["enqueue"].metrics.maybe_flush(force=True)  # type: ignore[attr-defined]
        flushed = logs.tell() - before
        before = logs.tell()
        for region in p.regions.values():
            region.handlers["health"].metrics.maybe_flush(force=True)  # type: ignore[attr-defined]
        flushed_health = logs.tell() - before
        ballots = sum(len(p.ballots(r)) for r in REGIONS)
        assert ballots == voters, (ballots, voters)
    return Measured(dict(meter.phases), voters, {"votes": flushed, "health": flushed_health}, voters / elapsed)


def secrets_per_vote(m: PhaseMeter, regions: int, busy_s_per_vote: float) -> float:
    """Secrets Manager reads per vote: each container reads its secrets once (measured: the calls of
    one handler instance per region), and rate x busy time containers are each replaced every
    CONTAINER_LIFE_S (Little's law), so a container's reads are spread over its lifetime's votes."""
    per_container = m.calls["secretsmanager:GetSecretValue"] / regions
    return per_container * busy_s_per_vote / CONTAINER_LIFE_S


def stages(run: Measured, d: Deployed, fill: Fill, regions: int) -> dict[str, Stage]:
    """Units per vote for each phase, with batch-driven parts scaled to the national fill."""
    from election.lambdas import process

    ph, voters = run.phases, run.voters
    stretch = max(1.0, prices.FULL_VCPU_MB / d.memory_mb)
    runtime_lines = d.system_log_level in ("DEBUG", "INFO")

    def per_invocation(name: str, api: bool) -> Stage:
        m = ph[name]
        n = len(m.invocations)
        gb_s = sum(prices.lambda_gb_seconds(i.cpu_ms, i.wait_ms, d.memory_mb) for i in m.invocations) / n
        dur = sum(i.cpu_ms * stretch + i.wait_ms for i in m.invocations) / n
        return Stage(api_requests=1.0 if api else 0.0, invocations=1.0, gb_s=gb_s, architecture=d.architecture,
                     sqs=(m.calls["sqs:SendMessage"] + m.calls["sqs:GetQueueAttributes"]) / voters,
                     rru=m.rru / voters, wru=m.wru / voters, rwru=m.replicable_wru * (regions - 1) / voters,
                     ballots_rru=m.ballots_rru / voters, ballots_wru=m.ballots_wru / voters,
                     ballots_rwru=m.ballots_wru * (regions - 1) / voters,
                     log_bytes=(sum(i.log_bytes for i in m.invocations) + run.flushed.get(name, 0)) / voters,
                     runtime_log_bytes=runtime_log_bytes(dur, d.memory_mb) if runtime_lines else 0.0,
                     secrets=secrets_per_vote(m, regions, dur / 1000))

    def per_record(name: str, batch: float) -> Stage:
        """A batch function: CPU per record as measured, AWS waits per invocation, at the national batch.

        process: its one polls read per batch is waited once; its PutItems, one per record, run on
        process.WRITERS threads, so their waits overlap (the CPU does not: it is summed)."""
        m = ph[name]
        n = len(m.invocations)
        cpu = sum(i.cpu_ms for i in m.invocations) / voters
        wait = sum(i.wait_ms for i in m.invocations) / n
        if name == "tally":
            dur_ms = cpu * stretch * batch + wait
        else:
            per_batch_ms = m.calls["dynamodb:GetItem"] / n * LATENCY_MS["dynamodb:GetItem"]
            per_record_ms = (sum(i.wait_ms for i in m.invocations) - per_batch_ms * n) / voters
            dur_ms = cpu * stretch * batch + per_batch_ms + per_record_ms * batch / process.WRITERS
        gb_s = math.ceil(dur_ms) / 1000 * d.memory_mb / 1024 / batch
        st = Stage(invocations=1.0 / batch, gb_s=gb_s, architecture=d.architecture,
                   log_bytes=sum(i.log_bytes for i in m.invocations) / n / batch,
                   runtime_log_bytes=runtime_log_bytes(dur_ms, d.memory_mb) / batch if runtime_lines else 0.0,
                   secrets=secrets_per_vote(m, regions, dur_ms / 1000 / batch))
        if name == "process":
            # The only reads are the polls item, once per batch (ConsistentRead: 1 unit); the bench
            # writes no duplicate, so the conflict read-back (a rare, per-record read) never happens.
            st.rru = m.rru / n / batch
            st.wru, st.rwru = m.wru / voters, m.replicable_wru * (regions - 1) / voters
            st.ballots_wru, st.ballots_rwru = m.ballots_wru / voters, m.ballots_wru * (regions - 1) / voters
            st.sqs = 2.0 / SQS_BATCH    # the mapping's ReceiveMessage and DeleteMessageBatch, 10 messages each
        else:
            items = sum(m.tx_items) / max(1, len(m.tx_items))   # counters touched + the checkpoint
            reads = m.rru / n                                  # the checkpoint read, once per batch
            st.wru, st.rwru, st.rru = 2 * items / batch, items * (regions - 1) / batch, reads / batch
        return st

    return {"health": per_invocation("health", True), "ballot": per_invocation("ballot", True),
            "votes": per_invocation("votes", True), "process": per_record("process", fill.process_batch),
            "tally": per_record("tally", fill.tally_batch)}


def page_stages(st: dict[str, Stage]) -> list[Stage]:
    """The stages of one page vote: each request the page sends, as often as it sends it, and what follows."""
    out = [st["process"], st["tally"]]
    for name, times in PAGE_REQUESTS.items():
        if times:
            out.append(dataclasses.replace(st[name], **{f: getattr(st[name], f) * times for f in (
                "api_requests", "invocations", "gb_s", "sqs", "rru", "wru", "rwru", "ballots_rru", "ballots_wru",
                "ballots_rwru", "log_bytes", "runtime_log_bytes", "secrets")}))
    return out


def reference_rest_event_bytes() -> int:
    """Size of a typical API Gateway REST (v1 proxy) event from a browser, as the reference logs it."""
    headers = {
        "Accept": "application/json, text/plain, */*", "Accept-Encoding": "gzip, deflate, br",
        "Accept-Language": "en-US,en;q=0.9", "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Desktop-Viewer": "true", "CloudFront-Is-Mobile-Viewer": "false",
        "CloudFront-Is-SmartTV-Viewer": "false", "CloudFront-Is-Tablet-Viewer": "false",
        "CloudFront-Viewer-Country": "US", "content-type": "application/json;charset=UTF-8",
        "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com", "origin": "https://vote.example.org",
        "Referer": "https://vote.example.org/", "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Via": "2.0 0123456789abcdef0123456789abcdef.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": "Qm9ndXMgQ2xvdWRGcm9udCBJRCBmb3IgYSBiZW5jaG1hcms9PQ==", "X-Amzn-Trace-Id":
        "Root=1-5e1b4151-5ac6c58f5cbd9bb4b1a4d6e2", "X-Forwarded-For": "203.0.113.7, 70.132.20.1",
        "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
    event = {
        "resource": "/votes", "path": "/votes", "httpMethod": "POST", "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourceId": "abc123", "resourcePath": "/votes", "httpMethod": "POST",
                           "extendedRequestId": "Ab1CdE2fGhI=", "requestTime": "03/Nov/2026:10:31:07 +0000",
                           "path": "/prod/votes", "accountId": "123456789012", "protocol": "HTTP/1.1",
                           "stage": "prod", "domainPrefix": "abcdef1234", "requestTimeEpoch": 1793701867000,
                           "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                           "identity": {"sourceIp": "203.0.113.7", "userAgent": headers["User-Agent"],
                                        "cognitoIdentityPoolId": None, "accountId": None, "caller": None,
                                        "apiKey": None, "accessKey": None, "user": None, "userArn": None},
                           "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com", "apiId": "abcdef1234"},
        "body": json.dumps({"voter_id": "ABCDE-FGHJK-LMNPQ-RSTUV", "candidate": "Hillary Clinton"}),
        "isBase64Encoded": False}
    return len(json.dumps(event).encode())


def reference(enqueue_cpu_ms: float, process_cpu_ms: float, rest_bytes: int) -> Stage:
    """The reference pattern per vote, on the same basis: REST API; enqueue Lambda GetItem + SendMessage;
    process Lambda (SQS batches of 10, no window: the full batches assume the same national rate)
    doing two UpdateItems (voter item + results counter) on global tables in two regions, plus the
    voters table's index: three writes in the home region, three replicated; every vote logged twice
    (the incoming event, a REST event's size each); Terraform's defaults for its functions (128 MB,
    x86_64) and Lambda's default logging (START/END/REPORT on every invocation); the same CPU per
    request as ours and the same call latencies. Its page sends the vote only (no ballot lookup and
    no health check from the page), so its page vote costs what its API vote does."""
    mem, arch = 128, "x86_64"
    enq = enqueue_cpu_ms * prices.FULL_VCPU_MB / mem + LATENCY_MS["dynamodb:GetItem"] + LATENCY_MS["sqs:SendMessage"]
    proc = (process_cpu_ms * prices.FULL_VCPU_MB / mem + 2 * LATENCY_MS["dynamodb:UpdateItem"]) * SQS_BATCH
    gb_s = prices.lambda_gb_seconds(0, enq, mem) + prices.lambda_gb_seconds(0, proc, mem) / SQS_BATCH
    return Stage(api="rest_api", api_requests=1.0, invocations=1.0 + 1.0 / SQS_BATCH, gb_s=gb_s, architecture=arch,
                 sqs=1.0 + 2.0 / SQS_BATCH, rru=1.0, wru=3.0, rwru=3.0, log_bytes=2.0 * rest_bytes,
                 runtime_log_bytes=runtime_log_bytes(enq, mem) + runtime_log_bytes(proc, mem) / SQS_BATCH)


def print_provisioned(console: Any, d: Deployed, rate: float, st: dict[str, Stage],
                      api_on_demand: dict[str, float], page_on_demand: dict[str, float]) -> None:
    """The provisioned ballots table's sizing at the stated rate, its assumption, and the on-demand figures."""
    cap = d.plan.ballots_capacity
    api_reads = sum(s.ballots_rru for s in (st["votes"], st["process"], st["tally"]))
    page_reads = sum(s.ballots_rru for s in page_stages(st))
    writes = sum(s.ballots_wru for s in (st["votes"], st["process"], st["tally"]))
    for what, reads in (("API", api_reads), ("page", page_reads)):
        p = capacity.ballots_provisioned(d.plan, rate, reads, writes)
        console.print(
            f"Ballots table provisioned (tables.ballots: write {cap.write_min:,}-{cap.write_max:,}, read "
            f"{cap.read_min:,}-{cap.read_max:,}, target {cap.target_percent} %), {what} votes at {rate:,.0f}/s: "
            f"{writes:.2f} write + {reads:.2f} read units per vote -> {p.wcu:,} WCU in each of {len(p.rcu)} regions "
            f"(every replica takes every ballot) and RCU " + ", ".join(f"{r} {u:,}" for r, u in p.rcu.items())
            + f": ${p.usd_per_hour:,.2f} an hour = ${p.usd_per_vote * 1e6:.3f} per million votes"
            + (" (CAPPED at the maximum: this rate would throttle)" if p.capped else "") + ".")
    console.print("Assumes auto scaling holds the target utilization at a steady rate; a ramp (scaling lags a "
                  "rising load), a minimum above the rate and the idle hours around the election cost more "
                  f"(the minimum alone: ${capacity.provisioned_minimum_monthly(d.plan):,.0f} a month). On demand "
                  f"instead: API vote ${sum(api_on_demand.values()):.2f} / M, page vote "
                  f"${sum(page_on_demand.values()):.2f} / M.")


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=600, help="page votes to run through the handlers on moto")
    ap.add_argument("--rate", type=float, default=5000.0,
                    help="national votes/s the batch fill is computed at (default 5,000: 137 M ballots over "
                         "13 polling hours average ~2,900/s, the evening peak is about twice that)")
    ap.add_argument("--plan", default=str(ROOT / "config" / "aws.yaml"),
                    help="plan whose deployed settings (memory, logging, mappings) are priced")
    args = ap.parse_args()
    console = Console()
    d = Deployed.of(args.plan)
    run = measure(args.votes)
    fill = Fill.at(args.rate, d, run.record_bytes)
    phases, speed, regions = run.phases, run.speed, len(d.region_share)
    st = stages(run, d, fill, regions)

    t = Table(title=f"AWS calls per vote made by the handlers ({args.votes} page votes, moto, two regions)")
    t.add_column("phase")
    t.add_column("operation")
    t.add_column("per vote", justify="right")
    t.add_column("invocations", justify="right")
    t.add_column("CPU ms / invocation", justify="right")
    t.add_column("AWS wait ms / invocation", justify="right")
    for name in ("health", "ballot", "votes", "process", "tally"):
        m = phases[name]
        n = len(m.invocations)
        cpu = sum(i.cpu_ms for i in m.invocations) / n
        wait = sum(i.wait_ms for i in m.invocations) / n
        for j, (op, c) in enumerate(sorted(m.calls.items())):
            t.add_row(name if j == 0 else "", op, f"{c / args.votes:.3f}", str(n) if j == 0 else "",
                      f"{cpu:.2f}" if j == 0 else "", f"{wait:.1f}" if j == 0 else "")
    console.print(t)
    console.print(f"Deployed ({Path(args.plan).name}): {d.memory_mb} MB {d.architecture}, system log level "
                  f"{d.system_log_level}; process mapping BatchSize {d.process_batch} window {d.process_window_s} s; "
                  f"tally BatchSize {d.tally_batch} window {d.tally_window_s} s.")
    console.print(f"At {args.rate:,.0f} votes/s nationally (busiest region {max(d.region_share.values()):.0%} of it, "
                  f"~{fill.shards} stream shard(s)): SQS receives carry {SQS_BATCH} messages, process invocations "
                  f"{fill.process_batch:,.0f}, tally invocations {fill.tally_batch:,.0f} records (cut by its "
                  f"{fill.tally_cut}; stream records ~{run.record_bytes:,.0f} B). "
                  f"{speed:.0f} page votes/s through the handlers on moto in-process (shared machine).")

    enq_cpu = sum(i.cpu_ms for i in phases["votes"].invocations) / len(phases["votes"].invocations)
    proc_cpu = sum(i.cpu_ms for i in phases["process"].invocations) / args.votes
    ref = reference(enq_cpu, proc_cpu, reference_rest_event_bytes())
    ref_vote = total([ref])
    prov = None
    if d.ballots_billing == "PROVISIONED":
        def prov(reads: float, writes: float) -> float:
            return capacity.ballots_provisioned(d.plan, args.rate, reads, writes).usd_per_vote
    api_on_demand = total([st["votes"], st["process"], st["tally"]])
    page_on_demand = total(page_stages(st))
    api_vote = total([st["votes"], st["process"], st["tally"]], prov)
    page_vote = total(page_stages(st), prov)
    c = Table(title="Cost per million votes (USD, list prices, election/ops/prices.py)")
    c.add_column("item")
    c.add_column("API vote", justify="right")
    c.add_column("page vote", justify="right")
    c.add_column("reference API vote", justify="right")
    c.add_column("reference page vote", justify="right")
    for item in ITEMS:
        c.add_row(item, f"{api_vote[item]:.3f}", f"{page_vote[item]:.3f}", f"{ref_vote[item]:.3f}",
                  f"{ref_vote[item]:.3f}")
    a, pg, r = sum(api_vote.values()), sum(page_vote.values()), sum(ref_vote.values())
    c.add_row("[bold]total[/bold]", f"[bold]{a:.2f}[/bold]", f"[bold]{pg:.2f}[/bold]", f"[bold]{r:.2f}[/bold]",
              f"[bold]{r:.2f}[/bold]")
    console.print(c)
    pm = phases["process"]
    per_msg_cpu = sum(i.cpu_ms for i in pm.invocations) / args.votes
    per_msg_wait = sum(i.wait_ms for i in pm.invocations) / args.votes
    for batch in sorted({SQS_BATCH, d.process_batch}):
        secs = batch * (per_msg_cpu * max(1.0, prices.FULL_VCPU_MB / d.memory_mb)) / 1000
        console.print(f"process: a batch of {batch:,} takes ~{secs:.1f} s of CPU at {d.memory_mb} MB "
                      f"(+ {batch * per_msg_wait / 1000:.1f} s of PutItem waits if sequential; the function's "
                      f"timeout is {d.timeout_s} s).")
    others = []
    for mem in (128, 256, 512):
        if mem != d.memory_mb:
            alt = dataclasses.replace(d, memory_mb=mem)
            s2 = stages(run, alt, fill, regions)
            others.append(f"{mem} MB: API vote ${sum(total([s2['votes'], s2['process'], s2['tally']], prov).values()):.2f}, "
                          f"page vote ${sum(total(page_stages(s2), prov).values()):.2f}")
    console.print("Same measurements at other memory sizes: " + "; ".join(others) + ".")
    if prov is not None:
        print_provisioned(console, d, args.rate, st, api_on_demand, page_on_demand)
    health = sum(total([st["health"]]).values())
    console.print("Page requests per vote (PAGE_REQUESTS, checked in Chromium): "
                  + ", ".join(f"{k} {v:g}" for k, v in PAGE_REQUESTS.items())
                  + f". One GET /health costs ${health:.2f} / M (sent only after a failed request).")
    console.print(f"API vote ${a:.2f} / M ({'meets' if a <= 3.0 else 'misses'} the $3.00 target; "
                  f"{a / r:.2f} of the reference); page vote ${pg:.2f} / M ({'meets' if pg <= 4.0 else 'misses'} "
                  f"the $4.00 target; {pg / r:.2f} of the reference's page vote).")


if __name__ == "__main__":
    main()
