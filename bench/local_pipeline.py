"""How fast is the local election, and how far from what moto itself allows?

Starts the local stack on config/local.yaml (two regions), seeds voters, casts
one vote per voter through the router from C threads (closed loop) in another
process (voters are outside the system), and reports:
  - accepted votes/s (202s over the casting time), accept latency p50/p99;
  - counted votes/s end to end (first vote sent -> results show every 202);
  - tally lag (last 202 -> results show every 202);
  - AWS calls per vote the pipeline made through boto3, by operation.
Next to it, the ceiling: the calls the pipeline makes per vote, made the same
way (the handlers' through boto3 and moto's request layer, stream reads and
replicated writes from moto's backends as the replicator and mappings do),
one after another with no pipeline around them (see ceiling()). Prints both
and their ratio. `--profile out.raw` samples the voting phase with py-spy
(threads holding the GIL, collapsed stacks).

    python bench/local_pipeline.py                 # before and after the moto patches, each in a fresh process
    python bench/local_pipeline.py --patches all   # one run (also: --patches none)
    python bench/local_pipeline.py --hotspots      # each moto hot spot alone, before and after its patch

Issue 14 (2026-12-01, 600 votes, 8 voters, patches all; the 2-core machine shared with 8 engineers,
load average 25-36, so absolute rates are a fraction of an idle machine's; each pair ran side by side).
Before: the replicator and the stream mapping through boto3 (GetRecords, replicated PutItem); after: they
and the SQS mapping read and write moto's backends directly, the tally mapping takes batches of 1,000 in a
0.5 s window, parsed UpdateExpressions are kept. The ceiling of the "before" runs is the old one (no stream
reads, no replication), so only the "after" ratios compare like with like.
  pair A: before accepted 17.5/s (p50 390 ms, p99 1,113 ms), counted 7.0/s, tally lag 50.9 s, calls per
          vote PutItem 2.79, GetRecords 2.37; after accepted 30.7/s (p50 224 ms, p99 711 ms), counted
          19.0/s, lag 12.0 s; ceiling 16.0/s: pipeline/ceiling 1.19 (caster still in-process, 0.1 s window)
  pair B: before accepted 14.1/s (p50 447 ms, p99 2,091 ms), counted 9.0/s, lag 24.3 s, PutItem 2.75,
          GetRecords 1.75; after accepted 28.0/s (p50 198 ms, p99 1,360 ms), counted 23.0/s, lag 4.6 s,
          calls per vote through boto3 BatchGetItem 1, SendMessage 1, PutItem 1, TransactWriteItems 0.06,
          GetItem 0.09; ceiling 22.5/s: pipeline/ceiling 1.02
  py-spy, share of GIL samples in the voting phase (--breakdown: stage = first frame that owns the call):
          before (A) pollers 41 % (GetRecords through boto3 36 %), replicator 15 %, tally 17 %, results
          watcher 9 %, process 8 %, enqueue 8 %; layers: moto's request layer 56 %, botocore 25 %, moto's
          models 17 %. after (B) enqueue 32 %, process 27 %, tally 18 %, health checks 7 %, results watcher
          6 %, pollers 5 %, replicator 2 %; layers: moto's request layer 48 %, botocore 26 %, models 17 %.
  Not reached here: 150 votes/s. At this load the ceiling itself (the same calls, serially) is 16-23/s; the
  pipeline is at 1.0-1.2x of it, and what is left is the handlers' own calls through moto's request layer.

Issue 14, second sitting (2026-12-01 19:00 UTC, 600 votes, 8 voters, patches all, load 8-14 on the shared
2-core machine; main and the change side by side, twice): IAM decisions kept per (principal, policy texts,
action, resources), moto's method listing kept per class, the observer reading moto's tables directly
(through boto3 its Scan every 0.25 s took ~10 % of the GIL samples). Counted 25.3 -> 32.7 and 23.0 ->
28.6 votes/s; accepted 40.9 -> 54.4 and 40.4 -> 43.7 (p99 648 -> 356 ms, 685 -> 514 ms); ceiling ratio
1.65 and 2.77 (the serial ceiling, run while the stack's pollers still poll, is no longer an upper bound).
Two SQS patches (a time.time() clock for visibility checks, a shallow message copy on receive; ~6 % and
~5 % of py-spy samples) measured 31.6 -> 32.1 and 33.3 -> 29.7: within the noise, not kept. What bounds
"counted" at this size is mostly fixed: the tally lag is ~7.3 s in every run, patched or not, because the
local plan mixes (k = 10, 1 s windows, two deferral rounds: ~5 s for the last votes of each state).
py-spy (100 Hz, GIL) after: enqueue 31 %, tally 22 % (TransactWriteItems' update validation), process
21 %, pollers 15 %, replicator 6 %, health checks 4 %, observer 1 %; layers: moto's request layer 43 %,
moto's models 24 %, botocore 21 %, this project 10 %. 150 votes/s was not reached.

Issue 14, third sitting (2026-12-01 21:40 UTC, 1000 votes, 8 voters, patches all, load 2-5 on the shared
2-core machine). The bench was broken on main (the results observer imported a function the contract split had
moved and swallowed the error, so it waited its full 300 s; it now catches only a table changing under it).
The ceiling now makes the pipeline's calls in their real shapes: the tally's transaction has one Update per state
in the batch (the votes carry the seeded voters' states) where it had one, the SQS mapping reads moto's backend as
DirectQueue does, process's polls read and its deferrals (ChangeMessageVisibilityBatch and a second receive, at the
measured rate) are in. New figures: stack CPU per vote (this process only, which a shared machine distorts less
than wall time) and the CPU of the handlers' three per-vote calls alone.
  old ceiling: counted 38.7/s (accepted 55.9, p99 344 ms, lag 8.0 s), ceiling 72.7/s, ratio 0.53; CPU per vote
          21.2 ms pipeline, 13.5 ms ceiling: the one-Update transaction made the old ceiling too cheap.
  new ceiling, run 1: counted 31.5/s (accepted 44.2, p50 158 ms, p99 455 ms, lag 9.1 s), ceiling 39.6/s, ratio
          0.80; CPU per vote 24.5 ms pipeline, 21.2 ms ceiling (0.87).
  new ceiling, run 2: counted 40.7/s (accepted 56.1, p50 124 ms, p99 353 ms, lag 6.8 s), ceiling 34.5/s, ratio
          1.18; CPU per vote 20.2 / 19.0 ms (0.94); the handlers' BatchGetItem + SendMessage + PutItem alone 12.9 ms
          (12.3 ms in a third run): at most ~80 votes/s in one interpreter however fast the rest gets.
  Where the ceiling's CPU goes (cProfile): a tally transaction of 9 state updates costs ~25 ms, two thirds of it
          moto's UpdateExpression validator (ten full walks of each update's tree, a deep copy per update);
          a conditional PutItem ~2.9 ms, spread over botocore (serialising, signing, User-Agent ~8 %) and moto's
          request layer (werkzeug request, parsing, response serialiser). Tried and not kept (within the noise):
          caching parsed ConditionExpressions and botocore's User-Agent sanitising (2.74 -> 2.67 and 3.58 -> 3.62
          ms per call, medians of 5), a 2 s tally window instead of 0.5 s (CPU per vote 22.0 ms, lag +2.5 s).
  3,000 votes, final main, two runs (the second beside the full test suite): counted 48.1 and 43.8/s (accepted
          54.9 / 51.4, p50 128 / 139 ms, p99 413 / 423 ms, lag 7.7 / 10.1 s), ceiling 54.0 / 43.2/s, ratio 0.89 / 1.02;
          CPU per vote 19.1 / 19.9 ms pipeline, 18.4 / 19.2 ms ceiling (0.96 both); handlers' calls 12.3 / 12.9 ms.
  So 150 votes/s is out of reach while the handlers' calls go through boto3 and moto's request layer (issue 14
  keeps them there, for IAM and request validation): they alone take ~12.5 ms of the one interpreter per vote.
  The pipeline itself is within 0.85-0.94 of the CPU its calls cost (94 % of its GIL samples are inside them).

Earlier figures (before issue 14; the ceiling then lacked stream reads and replication):
Measured on the 2-core development machine (shared, load ~3), 600 votes, 8 threads:
  patches none: accepted 45.7/s (p50 146 ms, p99 667 ms), counted 31.8/s, tally lag 5.8 s;
                ceiling 189.5/s in-process (ratio 0.17), 73.8/s over HTTP (0.43)
  patches all:  accepted 75.3/s (p50 96 ms, p99 374 ms), counted 74.6/s, tally lag 0.08 s;
                ceiling 219.4/s in-process (ratio 0.34), 62.0/s over HTTP (1.20)
  serial_dispatch (one lock per region+service around moto, 2026-11-27, patches all, 600 votes, 4 runs each,
                shared machine): without: accepted 62-76/s, counted 61-73/s, tally lag 0.23-0.53 s;
                with: accepted 63-85/s, counted 49-78/s, tally lag 0.69-2.8 s (one global lock: lag 1.7 s).
                Not kept: the deployer's threads take turns inside moto (provision/inprocess.py), which
                removes the race where it was seen (parallel deploy) at no cost to the pipeline.
  hot spots with 10k queued / 10k items: SendMessage 6.3 -> 1192/s, receive+delete 1.7 -> 3460 msgs/s,
                TransactWriteItems 1.0 -> 169-548/s
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from election.local import moto_patches
from election.local.stack import LocalStack
from election.ops import state
from election.ops.cast import cast_votes
from election.ops.seed import read_credentials, seed_voters
from election.ops.target import Target

SPEED_PATCHES = tuple(p for p in moto_patches.PATCHES if p not in moto_patches.FUNCTIONAL)


def count_calls() -> Counter[str]:
    """Count every botocore API call in this process (handlers build their own clients)."""
    import botocore.client

    calls: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
    return calls


def ceiling(provider: Any, states: list[str], label: str,
            deferral_calls_per_vote: float = 0.0) -> tuple[float, float, float]:
    """votes/s, stack CPU ms per vote, and CPU ms per vote of the handlers' three per-vote calls alone, for the
    calls the pipeline makes per vote, one after another.

    The same calls in the same shapes, made the same way, with no pipeline around them (no HTTP, no
    threads, no waiting): per vote, enqueue's BatchGetItem (voter + ballot) and SendMessage and process's
    conditional PutItem through boto3 and moto's request layer; per batch of 10 votes, the SQS mapping's
    receive and delete from moto's backend (as local/backends.DirectQueue does), process's polls GetItem,
    its ChangeMessageVisibilityBatch and a second receive for deferred votes at the rate the pipeline
    measured (`deferral_calls_per_vote`), the tally's stream read, checkpoint GetItem and
    TransactWriteItems with one Update per state in the batch (ADD per candidate, as tally._transact
    builds it) plus the checkpoint Put, and the replicator's stream reads and replicated writes in both
    regions. Votes carry the seeded voters' states, so the transactions touch as many states as the
    pipeline's. Left out: the health checks (a fixed few calls a second, not per vote).
    """
    from election.lambdas import logic
    from election.local import backends

    east, west = provider.client("dynamodb", "us-east-1"), provider.client("dynamodb", "us-west-2")
    sqs = provider.client("sqs", "us-east-1")
    direct = backends.DirectQueue("us-east-1")
    suffix = uuid.uuid4().hex[:6]
    names = {k: f"ceiling-{label}-{k}-{suffix}" for k in ("voters", "ballots", "results")}
    arns: dict[tuple[str, str], str] = {}
    for region, ddb in (("us-east-1", east), ("us-west-2", west)):
        for kind, table in names.items():
            ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
            arns[(region, kind)] = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    readers = {key: _StreamTail(backends.DirectStreams(key[0]), arn) for key, arn in arns.items()
               if key[1] != "voters"}   # the replicator's
    tally = _StreamTail(backends.DirectStreams("us-east-1"), arns[("us-east-1", "ballots")])
    queue = sqs.create_queue(QueueName=f"ceiling-{label}-{suffix}")["QueueUrl"]
    votes = len(states)
    for i in range(votes):
        east.put_item(TableName=names["voters"], Item={"k": {"S": f"v{i}"}, "state": {"S": states[i]}})
    candidates = ("Hillary Clinton", "Donald Trump", "Gary Johnson", "Jill Stein")
    deferred_owed = 0.0
    handler_cpu = 0.0   # the three per-vote calls the handlers make, alone
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, votes, 10):
        batch = range(start, min(votes, start + 10))
        mark = time.process_time()
        for i in batch:   # enqueue
            east.batch_get_item(RequestItems={names["voters"]: {"Keys": [{"k": {"S": f"v{i}"}}]},
                                              names["ballots"]: {"Keys": [{"k": {"S": f"b{i}"}}]}})
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(
                {"k": f"b{i}", "state": states[i], "candidate": candidates[i % len(candidates)]}))
        handler_cpu += time.process_time() - mark
        messages = direct.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                          AttributeNames=["All"]).get("Messages", [])
        east.get_item(TableName=names["results"], Key={"k": {"S": "polls"}}, ConsistentRead=True)
        deferred_owed += deferral_calls_per_vote * len(batch)
        if messages and deferred_owed >= 1:   # process defers a state short of k: back to the queue, read again
            deferred_owed -= 1
            sqs.change_message_visibility_batch(QueueUrl=queue, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for j, m in enumerate(messages)])
            messages = direct.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                              AttributeNames=["All"]).get("Messages", [])
        mark = time.process_time()
        for m in messages:   # process
            body = json.loads(m["Body"])
            east.put_item(TableName=names["ballots"], Item={"k": {"S": body["k"]}, "state": {"S": body["state"]},
                                                            "candidate": {"S": body["candidate"]}},
                          ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": "k"},
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
        handler_cpu += time.process_time() - mark
        if messages:
            direct.delete_message_batch(QueueUrl=queue, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(messages)])
        records = tally.read()   # the tally's mapping, then the tally: checkpoint, one transaction
        east.get_item(TableName=names["results"], Key={"k": {"S": "checkpoint"}}, ConsistentRead=True)
        east.transact_write_items(TransactItems=_tally_items(names["results"], records, start, logic.counter_attr))
        for kind in ("ballots", "results"):   # the replicator: east's changes to west, then west's echoes read
            for r in readers[("us-east-1", kind)].read():
                backends.write_item("us-west-2", names[kind], r["dynamodb"]["NewImage"])
            readers[("us-west-2", kind)].read()
    return (votes / (time.perf_counter() - started), 1000 * (time.process_time() - cpu) / votes,
            1000 * handler_cpu / votes)


def _tally_items(table: str, records: list[dict[str, Any]], checkpoint: int,
                 counter_attr: Any) -> list[dict[str, Any]]:
    """tally._transact's shape: one Update per state (ADD per candidate, SET state/region/time), then the
    conditional checkpoint Update."""
    by_state: dict[str, Counter[str]] = {}
    for r in records:
        image = r["dynamodb"]["NewImage"]
        by_state.setdefault(image["state"]["S"], Counter())[image["candidate"]["S"]] += 1
    items: list[dict[str, Any]] = []
    for st, counts in sorted(by_state.items()):
        names = {"#st": "state", "#rg": "region", "#ua": "updated_at"}
        values: dict[str, Any] = {":st": {"S": st}, ":rg": {"S": "us-east-1"}, ":ua": {"S": "2026-11-03T12:00:00Z"}}
        adds = []
        for i, (candidate, n) in enumerate(sorted(counts.items())):
            names[f"#c{i}"] = counter_attr(candidate)
            values[f":n{i}"] = {"N": str(n)}
            adds.append(f"#c{i} :n{i}")
        items.append({"Update": {"TableName": table, "Key": {"k": {"S": f"{st}#us-east-1"}},
                                 "UpdateExpression": "ADD " + ", ".join(adds) + " SET #st = :st, #rg = :rg, #ua = :ua",
                                 "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}})
    seq = {"S": f"{checkpoint:021d}"}
    items.append({"Update": {"TableName": table, "Key": {"k": {"S": "checkpoint"}},
                             "UpdateExpression": "SET #seq = :new, #ids = :ids, #th = :th, #rg = :rg, #sh = :sh, #ua = :ua",
                             "ConditionExpression": "attribute_not_exists(#seq) OR #seq < :new",
                             "ExpressionAttributeNames": {"#seq": "seq", "#ids": "ids", "#th": "through", "#rg": "region",
                                                          "#sh": "shard", "#ua": "updated_at"},
                             "ExpressionAttributeValues": {":new": seq, ":ids": {"L": []}, ":th": {"N": "0"},
                                                           ":rg": {"S": "us-east-1"}, ":sh": {"S": "all"},
                                                           ":ua": {"S": "2026-11-03T12:00:00Z"}}}})
    return items


class _StreamTail:
    """Reads a stream forward from where it last stopped, as the pollers do."""

    def __init__(self, streams: Any, arn: str) -> None:
        self.streams = streams
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        resp = self.streams.get_records(ShardIterator=self.iterator, Limit=100)
        self.iterator = resp["NextShardIterator"]
        return resp["Records"]


def counted_total(target: Target) -> int:
    """Votes the results show, read from moto's tables directly: the bench's observer must not load the
    system it measures (through boto3 and moto's request layer it took ~10 % of the pipeline's GIL time).
    The same items and the same sum as `election results` (state.read_results_items + aggregate)."""
    from election.lambdas import counting, logic
    from election.lambdas.contract import RESULTS_KEY
    from election.local import backends
    from election.local.moto_patches import region_lock

    items = []
    for region in target.plan.region_names:
        with region_lock(backends.ACCOUNT_ID, region):
            table = backends._backend(region).get_table(target.names.results)
            for item in table.all_items():
                plain = item.to_regular_json()
                pk = str(plain.get(RESULTS_KEY, ""))
                if pk.endswith(f"#{region}") and not pk.startswith(logic.CHECKPOINT_PREFIX):
                    items.append(plain)
    plan = target.plan
    ballots = {s: plan.ballot.for_state(s) for s in plan.state_regions()}
    return int(counting.aggregate_results(items, ballots, plan.ballot.candidates)["total"])


def profiler(path: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling this process (threads holding the GIL, collapsed stacks) from now until SIGINT."""
    if not path:
        return None
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(os.getpid()), "--gil", "--format", "raw", "-r", "100",
                            "-o", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)   # let it attach before the votes start
    return spy


def _cast(url: str, plan_path: str, voters: list[tuple[str, str]], concurrency: int) -> tuple[float, float, Any]:
    from election.plan import load_plan

    plan = load_plan(plan_path)
    started = time.perf_counter()   # CLOCK_MONOTONIC: the same clock in every process on Linux
    report = cast_votes(url, plan, voters, concurrency=concurrency, seed=7)
    return started, time.perf_counter(), report


def cast_elsewhere(url: str, plan_path: str, voters: list[tuple[str, str]],
                   concurrency: int) -> tuple[float, float, Any]:
    """Cast from another process, as voters are outside the system: their HTTP clients do not share the
    stack's interpreter (on 2 cores they would take a third of its time)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_cast, (url, plan_path, voters, concurrency))


def run(votes: int, concurrency: int, patches: str, profile: str | None = None) -> dict[str, Any]:
    chosen: bool | tuple[str, ...] = True if patches == "all" else ()
    tmp = Path(tempfile.mkdtemp(prefix="bench-local-"))
    with LocalStack(ROOT / "config/local.yaml", state_dir=tmp, patches=chosen) as stack:
        target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
        seed_voters(target, tmp / "voters.csv", votes)
        voters = read_credentials(tmp / "voters.csv")
        stack.wait_idle(120)
        calls = count_calls()
        done = threading.Event()
        counted_at: list[float] = []
        accepted_target: list[int] = []

        def watch() -> None:
            while not done.is_set():
                try:
                    total = counted_total(target)
                except RuntimeError:   # a table changing under the read (dict changed size): look again
                    time.sleep(0.1)
                    continue
                if accepted_target and total >= accepted_target[0]:
                    counted_at.append(time.perf_counter())
                    return
                time.sleep(0.25)   # a Scan of the results table: often enough to time the end, not a load

        spy = profiler(profile)
        cpu = time.process_time()   # this process only: the stack (the voters cast from another process)
        started, cast_end, report = cast_elsewhere(stack.endpoints["router"], stack.plan_path, voters, concurrency)
        accepted = report.statuses.get(202, 0)
        accepted_target.append(accepted)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        watcher.join(300)
        done.set()
        cpu_ms_per_vote = 1000 * (time.process_time() - cpu) / max(1, accepted)
        if spy is not None:
            spy.send_signal(signal.SIGINT)   # py-spy writes its file on Ctrl-C
            spy.wait(60)
        pipeline_calls = dict(calls)
        if counted_at:   # the observer read what `election results` reads (checked once, after the clock stopped)
            assert counted_total(target) == state.results(target)["total"]
        counted = counted_at[0] if counted_at else float("nan")
        result = {
            "patches": patches, "votes": votes, "concurrency": concurrency, "statuses": dict(report.statuses),
            "accepted_per_s": accepted / (cast_end - started),
            "counted_per_s": accepted / (counted - started),
            "accept_p50_ms": report.percentile(50), "accept_p99_ms": report.percentile(99),
            "tally_lag_s": counted - cast_end,
            "calls_per_vote": {k: round(v / max(1, accepted), 2) for k, v in sorted(pipeline_calls.items())},
        }
        result["cpu_ms_per_vote"] = cpu_ms_per_vote
        deferral = pipeline_calls.get("sqs:ChangeMessageVisibilityBatch", 0) / max(1, accepted)
        result["ceiling_in_process_per_s"], result["ceiling_cpu_ms_per_vote"], result["handler_calls_cpu_ms"] = ceiling(
            stack.provider, [state for _, state in voters], "inproc", deferral)
    return result


def hotspots(patches: tuple[str, ...], backlog: int = 10_000) -> dict[str, float]:
    """Rates of the calls moto slows down as state grows, with only `patches` applied (fresh process)."""
    from moto import mock_aws

    moto_patches.apply(moto_patches.FUNCTIONAL + patches)
    out: dict[str, float] = {}
    with mock_aws():
        import boto3
        from moto.sqs.models import Message, sqs_backends

        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="backlog")["QueueUrl"]
        queue = sqs_backends["123456789012"]["us-east-1"].get_queue("backlog")
        for i in range(backlog):   # straight into moto: filling through the API would itself be O(n^2)
            message = Message(str(uuid.uuid4()), "x" * 200)
            message.mark_sent()
            queue._messages.append(message)
        t = time.perf_counter()
        for _ in range(20):
            sqs.send_message(QueueUrl=url, MessageBody="y")
        out["SendMessage/s (10k queued)"] = 20 / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(10):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(got)])
        out["messages received+deleted/s (10k queued)"] = 100 / (time.perf_counter() - t)
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="big", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        for start in range(0, backlog, 25):
            ddb.batch_write_item(RequestItems={"big": [{"PutRequest": {"Item": {"k": {"S": f"i{start + i}"}}}}
                                                       for i in range(25)]})
        t = time.perf_counter()
        for i in range(5):
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "big", "Key": {"k": {"S": "counter"}}, "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": "big", "Item": {"k": {"S": "checkpoint"}, "s": {"N": str(i)}}}}])
        out["TransactWriteItems/s (10k items + stream)"] = 5 / (time.perf_counter() - t)
    return out


def show_hotspots() -> None:
    variants = {"none": (), **{p: (p,) for p in SPEED_PATCHES}, "all": SPEED_PATCHES}
    rows: dict[str, dict[str, float]] = {}
    for name, chosen in variants.items():
        out = subprocess.run([sys.executable, __file__, "--hotspots-run", ",".join(chosen)], check=True,
                             capture_output=True, text=True).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
    metrics = list(rows["none"])
    print(f"{'moto patches applied':28}" + "".join(f"{m:>44}" for m in metrics))
    for name, r in rows.items():
        print(f"{name:28}" + "".join(f"{r[m]:>44.1f}" for m in metrics))


STAGES = (("replicator", "replicator.py"), ("tally", "lambdas/tally.py"), ("process", "lambdas/process.py"),
          ("enqueue", "lambdas/enqueue.py"), ("health checks", "lambdas/health.py"),
          ("pollers (reads, deletes)", "election/local/pollers.py"), ("results watcher", "local_pipeline.py"))
LAYERS = (("moto's request layer", ("moto/core/", "werkzeug", "moto/utilities", "/responses.py", "local/iam.py",
                                    "policyeval")),
          ("moto's models", ("moto/dynamodb/models", "moto/dynamodb/parsing", "moto/sqs/models")),
          ("botocore", ("botocore/",)), ("http (stdlib)", ("http/client", "http/server", "socketserver", "socket.py")))


def breakdown(path: str) -> None:
    """Shares of a `--profile` file's samples by pipeline stage (first matching frame) and by layer (innermost)."""
    stages: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        total += int(n)
        stages[next((name for name, key in STAGES if key in stack), "other")] += int(n)
        layer = "election and the rest"
        for frame in reversed(stack.split(";")):
            hit = next((name for name, keys in LAYERS if any(k in frame for k in keys)), None)
            if hit:
                layer = hit
                break
        layers[layer] += int(n)
    print(f"{total} samples")
    for title, shares in (("stage", stages), ("layer", layers)):
        for name, n in shares.most_common():
            print(f"  {title} {name:28} {100 * n / max(1, total):5.1f} %")


def show(r: dict[str, Any]) -> None:
    print(f"\n== moto patches: {r['patches']} ({r['votes']} votes, {r['concurrency']} threads) ==")
    print(f"  statuses                 {r['statuses']}")
    print(f"  accepted (202)           {r['accepted_per_s']:7.1f} votes/s   p50 {r['accept_p50_ms']:.0f} ms, "
          f"p99 {r['accept_p99_ms']:.0f} ms")
    print(f"  counted end to end       {r['counted_per_s']:7.1f} votes/s   tally lag {r['tally_lag_s']:.2f} s")
    print(f"  ceiling, moto in-process {r['ceiling_in_process_per_s']:7.1f} votes/s   "
          f"(pipeline/ceiling: {r['counted_per_s'] / r['ceiling_in_process_per_s']:.2f})")
    print(f"  stack CPU per vote       {r['cpu_ms_per_vote']:7.1f} ms pipeline, {r['ceiling_cpu_ms_per_vote']:.1f} ms ceiling "
          f"(ceiling/pipeline: {r['ceiling_cpu_ms_per_vote'] / r['cpu_ms_per_vote']:.2f}; CPU time is what a shared "
          "machine distorts least)")
    floor = r["handler_calls_cpu_ms"]
    print(f"  handlers' per-vote calls {floor:7.1f} ms CPU (BatchGetItem, SendMessage, PutItem through boto3 and moto): "
          f"at most {1000 / floor:.0f} votes/s in one interpreter, whatever else is made faster")
    top = sorted(r["calls_per_vote"].items(), key=lambda kv: -kv[1])
    print("  AWS calls per vote       " + ", ".join(f"{k} {v}" for k, v in top if v >= 0.05))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--patches", choices=("none", "all", "both"), default="both")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--profile", default=None, metavar="PATH",
                        help="py-spy the voting phase (GIL holders, collapsed stacks) into PATH (pip install py-spy)")
    parser.add_argument("--hotspots", action="store_true", help="measure each moto hot spot before/after its patch")
    parser.add_argument("--breakdown", default=None, metavar="PATH", help="print a --profile file's shares by stage")
    parser.add_argument("--hotspots-run", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hotspots_run is not None:
        print(json.dumps(hotspots(tuple(p for p in args.hotspots_run.split(",") if p))))
        return
    if args.hotspots:
        show_hotspots()
        return
    if args.breakdown:
        breakdown(args.breakdown)
        return
    if args.patches == "both":   # patches are process-wide: each variant runs in a fresh process
        results = []
        for variant in ("none", "all"):
            out = subprocess.run([sys.executable, __file__, "--votes", str(args.votes), "--concurrency",
                                  str(args.concurrency), "--patches", variant, "--json"],
                                 check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    else:
        results = [run(args.votes, args.concurrency, args.patches, args.profile)]
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return
    for r in results:
        show(r)


if __name__ == "__main__":
    main()
