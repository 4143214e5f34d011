"""Request-driven AWS cost per million votes: this pipeline, measured on moto, next to the reference design.

Runs N votes through the real handlers (two regions, moto in-process), counts every AWS
call the handlers make per operation, adds the calls the Lambda event source mappings make
on our behalf (SQS ReceiveMessage / DeleteMessageBatch, billed to the account), derives
DynamoDB read/write units from the requests by DynamoDB's rules, measures the bytes written
to logs, and prices all of it at list prices. The reference pattern (the 2018 demo this
project replaces) is priced with the same table.

    python3 bench/pipeline_cost.py [--votes 1000] [--stream-batch 1000]

Not included, on either side: Lambda duration (GB-s), storage, data transfer, KMS, alarms,
Lambda's own START/END/REPORT log lines (the same count of invocations on both sides, minus
our batching). Per-container calls (peppers, polls-item cache refresh) are measured and
included as they occurred in this run, though they shrink with traffic.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# List prices, US East (N. Virginia), USD per million requests/units unless noted. Sources:
# https://aws.amazon.com/api-gateway/pricing/ (HTTP API $1.00/M first 300M; REST API $3.50/M first 333M),
# https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests),
# https://aws.amazon.com/sqs/pricing/ (standard queue $0.40 per 1M requests after the free tier),
# https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per 1M write request units,
#   $0.125 per 1M read request units, replicated write request units at the write price),
# https://aws.amazon.com/cloudwatch/pricing/ (logs ingestion $0.50 per GB).
PRICES: dict[str, float] = {
    "http_api": 1.00,
    "rest_api": 3.50,
    "lambda_request": 0.20,
    "sqs_request": 0.40,
    "dynamodb_wru": 0.625,
    "dynamodb_rru": 0.125,
    "dynamodb_replicated_wru": 0.625,
    "logs_gb": 0.50,
    "secrets_api": 0.05 * 100,     # $0.05 per 10,000 API calls = $5 per million
}
GB = 1024 ** 3
SQS_BATCH = 10          # messages per ReceiveMessage / DeleteMessageBatch (the SQS maximum)


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


@dataclass
class Usage:
    """What a run consumed, in billable units."""

    votes: int
    api_requests: int
    lambda_requests: int
    sqs_requests: int
    rru: float
    wru: float
    replicated_wru: float
    log_bytes: int
    secrets_calls: int

    def cost_per_million(self, api: str) -> dict[str, float]:
        per = 1_000_000 / self.votes
        return {
            "API requests": self.api_requests * per * PRICES[api] / 1e6,
            "Lambda requests": self.lambda_requests * per * PRICES["lambda_request"] / 1e6,
            "SQS requests": self.sqs_requests * per * PRICES["sqs_request"] / 1e6,
            "DynamoDB reads": self.rru * per * PRICES["dynamodb_rru"] / 1e6,
            "DynamoDB writes": self.wru * per * PRICES["dynamodb_wru"] / 1e6,
            "DynamoDB replicated writes": self.replicated_wru * per * PRICES["dynamodb_replicated_wru"] / 1e6,
            "Logs": self.log_bytes * per / GB * PRICES["logs_gb"],
            "Secrets Manager": self.secrets_calls * per * PRICES["secrets_api"] / 1e6,
        }


class CallMeter:
    """botocore provide-client-params hook on the handlers' session: counts calls and request units."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.rru = 0.0
        self.wru = 0.0
        self.replicable_wru = 0.0   # writes that global tables replicate to every other region

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        op = f"{model.service_model.service_name}:{model.name}"
        self.calls[op] += 1
        if op == "dynamodb:GetItem":
            self.rru += 1.0 if params.get("ConsistentRead") else 0.5
        elif op == "dynamodb:BatchGetItem":
            keys = sum(len(t["Keys"]) for t in params["RequestItems"].values())
            self.rru += 0.5 * keys      # eventually consistent, items < 4 KB
        elif op == "dynamodb:PutItem":
            units = math.ceil(item_size(params["Item"]) / 1024)
            self.wru += units
            self.replicable_wru += units
        elif op == "dynamodb:TransactWriteItems":
            n = len(params["TransactItems"])   # counter and checkpoint items are < 1 KB each
            self.wru += 2 * n                  # transactional writes cost two units per KB
            self.replicable_wru += n           # replicated as standard writes
        elif op == "dynamodb:Scan":
            pass                               # results reads are viewer-driven, not per vote


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
        elif type(v).__name__ in ("Peppers", "PollsCache"):
            values.extend(vars(v).values())
    return found


def measure(votes: int, stream_batch: int) -> tuple[Usage, dict[str, int], float]:
    """Run `votes` votes through the handlers on moto; (usage, calls per operation, votes/s)."""
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws
    from pipeline_fixture import REGIONS, Pipeline

    from election.lambdas.common import MetricsBuffer

    meter = CallMeter()
    logs = io.StringIO()
    with mock_aws(), redirect_stdout(logs):
        p = Pipeline(str(ROOT / "config" / "local.yaml"))
        for region in p.regions.values():
            for role in ("enqueue", "process", "tally"):   # built here (the fixture builds lazily)
                for client in handler_clients(region.handlers[role]):
                    client.meta.events.register("provide-client-params", meter)
        for region in p.regions.values():   # production settings: caches on, metrics per class per 10 s
            region.handlers["enqueue"].polls._ttl = 2.0           # type: ignore[attr-defined]
            region.handlers["enqueue"].metrics = MetricsBuffer()  # type: ignore[attr-defined]
        states = tuple(p.plan.state_regions())
        voters = p.seed(1, tuple(states[i % len(states)] for i in range(votes)))
        meter.calls.clear()
        meter.rru = meter.wru = meter.replicable_wru = 0.0
        esm_sqs = lambda_batches = 0
        started = time.perf_counter()
        for i, (vid, state) in enumerate(voters.items()):
            resp = p.vote(REGIONS[i % 2], vid, p.plan.ballot.for_state(state)[i % 3])
            assert resp["statusCode"] == 202, resp
        for region in REGIONS:
            sqs = boto3.client("sqs", region_name=region)
            url = p.queue_urls[region]
            while True:
                records = p.receive(region, max_messages=SQS_BATCH)
                esm_sqs += 1
                if not records:
                    break
                assert p.call(region, "process", {"Records": records})["batchItemFailures"] == []
                lambda_batches += 1
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(records)])
                esm_sqs += 1
            while True:
                shard, records = p.stream_batch(region, stream_batch)
                if not records:
                    break
                assert p.call(region, "tally", {"Records": records, "shardId": shard})["batchItemFailures"] == []
                lambda_batches += 1
        elapsed = time.perf_counter() - started
        for region in p.regions.values():
            region.handlers["enqueue"].metrics.maybe_flush(force=True)  # type: ignore[attr-defined]
        ballots = sum(len(p.ballots(r)) for r in REGIONS)
        assert ballots == votes, (ballots, votes)
    calls = dict(meter.calls)
    usage = Usage(
        votes=votes,
        api_requests=votes,
        lambda_requests=votes + lambda_batches,
        sqs_requests=calls.get("sqs:SendMessage", 0) + esm_sqs,
        rru=meter.rru,
        wru=meter.wru,
        replicated_wru=meter.replicable_wru * (len(REGIONS) - 1),
        log_bytes=len(logs.getvalue().encode()),
        secrets_calls=calls.get("secretsmanager:GetSecretValue", 0),
    )
    calls["sqs:ReceiveMessage (event source mapping)"] = esm_sqs - esm_sqs // 2
    calls["sqs:DeleteMessageBatch (event source mapping)"] = esm_sqs // 2
    return usage, calls, votes / elapsed


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


def reference(votes: int) -> Usage:
    """The reference pattern per vote: REST API; enqueue Lambda GetItem + SendMessage; process Lambda
    (SQS batches of 10) doing two UpdateItems (voter item + results counter) on global tables in two
    regions, plus the voters table's index: three writes in the home region, three replicated —
    six writes; every vote logged twice (the incoming event, about a REST event's size each)."""
    return Usage(votes=votes, api_requests=votes, lambda_requests=votes + votes // SQS_BATCH,
                 sqs_requests=votes + 2 * votes // SQS_BATCH, rru=1.0 * votes, wru=3.0 * votes,
                 replicated_wru=3.0 * votes, log_bytes=2 * reference_rest_event_bytes() * votes, secrets_calls=0)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=1000)
    ap.add_argument("--stream-batch", type=int, default=1000,
                    help="records per tally invocation (event source mapping BatchSize; 1000 with a batching window)")
    args = ap.parse_args()
    console = Console()
    ours, calls, rate = measure(args.votes, args.stream_batch)
    ref = reference(args.votes)

    t = Table(title=f"AWS calls made by the handlers for {args.votes} votes (moto, two regions)")
    t.add_column("operation")
    t.add_column("calls", justify="right")
    t.add_column("per vote", justify="right")
    for op, n in sorted(calls.items()):
        t.add_row(op, str(n), f"{n / args.votes:.3f}")
    console.print(t)
    console.print(f"DynamoDB per vote: {ours.rru / ours.votes:.3f} read units, {ours.wru / ours.votes:.3f} write units, "
                  f"{ours.replicated_wru / ours.votes:.3f} replicated write units; logs {ours.log_bytes / ours.votes:.1f} "
                  f"bytes per vote; Lambda invocations per vote {ours.lambda_requests / ours.votes:.3f}; "
                  f"{rate:.0f} votes/s through the handlers on moto in-process.")

    mine, theirs = ours.cost_per_million("http_api"), ref.cost_per_million("rest_api")
    c = Table(title="Request-driven cost per million votes (USD, list prices)")
    c.add_column("item")
    c.add_column("this pipeline", justify="right")
    c.add_column("reference", justify="right")
    for item in mine:
        c.add_row(item, f"{mine[item]:.3f}", f"{theirs[item]:.3f}")
    total_mine, total_ref = sum(mine.values()), sum(theirs.values())
    c.add_row("[bold]total[/bold]", f"[bold]{total_mine:.2f}[/bold]", f"[bold]{total_ref:.2f}[/bold]")
    console.print(c)
    verdict = "meets" if total_mine <= total_ref / 3 else "misses"
    console.print(f"ratio {total_mine / total_ref:.3f} (this / reference): {verdict} the target of 1/3. "
                  f"Reference log line: {reference_rest_event_bytes()} bytes (a REST proxy event).")


if __name__ == "__main__":
    main()
