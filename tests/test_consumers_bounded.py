"""Issue 9.4: the tally's stream mapping gives up on a poison batch (bounded retries and age, its location
sent to a failure queue); the SQS mappings have a maximum concurrency; the voting API has reserved
concurrency. On moto (the deployer) and locally (the stream poller plays Lambda's mapping)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from provision_support import AWS_PLAN, changed, deployer, single_region, with_settings

from election.lambdas import contract
from election.local.streampoller import StreamPoller, failure_record
from election.plan import load_plan
from election.provision import model

PLAN = "election-2026"
R = "us-east-1"


def by_key(plan: Any) -> dict[str, Any]:
    return {r.key: r for region in plan.region_names for r in model.mapping_resources(plan, region)}


def test_the_model_bounds_every_consumer() -> None:
    plan = load_plan(AWS_PLAN)
    for region in plan.region_names:
        maps = {r.name: r.props for r in model.mapping_resources(plan, region)}
        tally = maps[f"{PLAN}-tally-ballots"]
        assert tally["max_retries"] == contract.TALLY_MAX_RETRY_ATTEMPTS
        assert tally["max_record_age_s"] == contract.TALLY_MAX_RECORD_AGE_S
        assert tally["bisect_on_error"] is True
        assert tally["on_failure"].key == model.key(region, "queue", f"{PLAN}-tally-failures")
        for sqs_map in (f"{PLAN}-process-votes", f"{PLAN}-forward-handoff"):
            assert maps[sqs_map]["max_concurrency"] == plan.queue.max_concurrency
        # AWS's documented ranges for the stream settings (services-ddb-params)
        assert 0 <= tally["max_retries"] <= 10_000 and 60 <= tally["max_record_age_s"] <= 604_800
        # the records outlive the age limit in the stream (24 h), so an operator can still read them
        assert tally["max_record_age_s"] < 24 * 3600


def test_tally_role_may_send_to_its_failure_queue_only() -> None:
    plan = load_plan(AWS_PLAN)
    policy = model.function_policy(plan, R, "tally")
    sends = [s for s in policy["Statement"] if "sqs:SendMessage" in s["Action"]]
    assert len(sends) == 1 and [r.key for r in sends[0]["Resource"]] == [model.key(R, "queue", f"{PLAN}-tally-failures")]
    for role in contract.FUNCTIONS:
        if role != "tally":
            for st in model.function_policy(plan, R, role)["Statement"]:
                assert all(getattr(r, "key", "").split("/")[-1] != f"{PLAN}-tally-failures" for r in st["Resource"])


def test_up_sets_the_limits_on_aws_and_a_changed_one_updates_only_it(moto: None) -> None:
    plan = single_region(load_plan(AWS_PLAN))
    d = deployer(plan, edge=False)
    d.apply()
    lam = boto3.client("lambda", region_name=R)
    maps = {m["FunctionArn"].rsplit(":", 1)[-1]: m for m in lam.list_event_source_mappings()["EventSourceMappings"]}
    tally = maps[f"{PLAN}-tally"]
    assert tally["MaximumRetryAttempts"] == contract.TALLY_MAX_RETRY_ATTEMPTS
    assert tally["MaximumRecordAgeInSeconds"] == contract.TALLY_MAX_RECORD_AGE_S
    assert tally["BisectBatchOnFunctionError"] is True
    failures_arn = boto3.client("sqs", region_name=R).get_queue_attributes(
        QueueUrl=boto3.client("sqs", region_name=R).get_queue_url(QueueName=f"{PLAN}-tally-failures")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert tally["DestinationConfig"] == {"OnFailure": {"Destination": failures_arn}}
    assert maps[f"{PLAN}-process"]["ScalingConfig"] == {"MaximumConcurrency": 50}
    assert maps[f"{PLAN}-forward"]["ScalingConfig"] == {"MaximumConcurrency": 50}
    assert lam.get_function(FunctionName=f"{PLAN}-enqueue")["Concurrency"] == {"ReservedConcurrentExecutions": 100}
    assert "Concurrency" not in lam.get_function(FunctionName=f"{PLAN}-process")

    d2 = deployer(with_settings(plan, queue={"max_concurrency": 20}, lambda_={"enqueue_reserved_concurrency": 0}),
                  edge=False)
    diff = changed(d2.diff())
    assert diff == {f"{R}/event_source_mapping/{PLAN}-process-votes": ["max_concurrency"],
                    f"{R}/event_source_mapping/{PLAN}-forward-handoff": ["max_concurrency"],
                    f"{R}/lambda_function/{PLAN}-enqueue": ["reserved_concurrency"]}
    d2.provider.reset_counts()
    d2.apply()
    assert set(d2.provider.mutating_calls()) == {"lambda:UpdateEventSourceMapping", "lambda:DeleteFunctionConcurrency"}
    maps = {m["FunctionArn"].rsplit(":", 1)[-1]: m for m in lam.list_event_source_mappings()["EventSourceMappings"]}
    assert maps[f"{PLAN}-process"]["ScalingConfig"] == {"MaximumConcurrency": 20}
    assert "Concurrency" not in lam.get_function(FunctionName=f"{PLAN}-enqueue")
    assert not changed(d2.diff())


# --- the local stream poller plays the same limits ------------------------------------------------


class FakeStreams:
    """One shard; each get_records returns the next batch of records (as DynamoDB Streams would)."""

    def __init__(self, batches: list[list[dict[str, Any]]]) -> None:
        self.batches = batches

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shardId-1"}]}}

    def get_shard_iterator(self, **kw: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        i = int(ShardIterator)
        records = self.batches[i] if i < len(self.batches) else []
        return {"Records": records, "NextShardIterator": str(i + 1 if records else i)}


def rec(seq: int, created: int) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(seq), "ApproximateCreationDateTime": created}}


def test_poison_batch_is_given_up_after_max_retries_and_its_location_reported() -> None:
    seen: list[list[str]] = []
    reports: list[dict[str, Any]] = []

    def on_batch(records: list[dict[str, Any]], shard: str) -> None:
        seen.append([r["dynamodb"]["SequenceNumber"] for r in records])
        if records[0]["dynamodb"]["SequenceNumber"] == "1":
            raise RuntimeError("poison")

    poller = StreamPoller("t", FakeStreams([[rec(1, 1000), rec(2, 1001)], [rec(3, 1002)]]), "arn:stream", R,
                          on_batch, max_retries=2, max_record_age_s=3600, on_failure=reports.append,
                          function_arn="arn:fn", clock=lambda: 1010.0)
    poller.retry_sleep = 0
    for _ in range(6):
        poller.poll_once()
    assert seen == [["1", "2"]] * 3 + [["3"]]      # first try + 2 retries, then the next batch
    assert len(reports) == 1 and poller.discarded == 2
    info = reports[0]["DDBStreamBatchInfo"]
    assert info == {"shardId": "shardId-1", "startSequenceNumber": "1", "endSequenceNumber": "2",
                    "approximateArrivalOfFirstRecord": "1970-01-01T00:16:40Z",
                    "approximateArrivalOfLastRecord": "1970-01-01T00:16:41Z", "batchSize": 2,
                    "streamArn": "arn:stream"}
    assert reports[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert reports[0]["requestContext"]["functionArn"] == "arn:fn"
    assert "Records" not in json.dumps(reports[0])   # like Lambda: where the batch was, never the ballots


def test_records_older_than_the_age_limit_are_reported_without_an_invoke() -> None:
    seen: list[int] = []
    reports: list[dict[str, Any]] = []
    poller = StreamPoller("t", FakeStreams([[rec(1, 0)], [rec(2, 5000)]]), "arn:stream", R,
                          lambda records, shard: seen.append(len(records)), max_retries=5, max_record_age_s=3600,
                          on_failure=reports.append, clock=lambda: 5000.0)
    poller.poll_once()
    poller.poll_once()
    assert seen == [1] and [r["requestContext"]["condition"] for r in reports] == ["RecordAgeExceeded"]


def test_without_limits_the_poller_retries_forever() -> None:
    attempts = []

    def on_batch(records: list[dict[str, Any]], shard: str) -> None:
        attempts.append(1)
        raise RuntimeError("poison")

    poller = StreamPoller("t", FakeStreams([[rec(1, 0)]]), "arn:stream", R, on_batch, clock=lambda: 10**9)
    poller.retry_sleep = 0
    for _ in range(30):
        poller.poll_once()
    assert len(attempts) == 30 and poller.discarded == 0


def test_failure_record_shape() -> None:
    out = failure_record([rec(7, 60)], "s", "arn:st", "arn:fn", "RetryAttemptsExhausted", 3, 61.5)
    assert set(out) == {"requestContext", "responseContext", "version", "timestamp", "DDBStreamBatchInfo"}
    assert out["timestamp"] == "1970-01-01T00:01:01.500Z" and out["requestContext"]["approximateInvokeCount"] == 3


# --- the operator sees a given-up batch: dlq list, audit, recount ----------------------------------

from test_ops_audit import cast, election_fixture  # noqa: F401 - the moto election of the ops tests

from election.ops import dlq, state
from election.ops.audit import audit
from election.ops.recount import recount


def test_a_given_up_tally_batch_is_listed_fails_the_audit_and_recount_settles_it(election: Any) -> None:
    target, pipe = election
    cast(pipe, 5)
    pipe.run()
    region = target.plan.home_region("TX")
    lost: list[dict[str, Any]] = []
    pipe.tally[region] = lambda event, ctx: (lost.extend(event["Records"]), {"batchItemFailures": []})[1]
    for vid in ("ABCDE-FGHJK-LMNPQ-RSTUV", "ABCDE-FGHJK-LMNPQ-RSTUW", "ABCDE-FGHJK-LMNPQ-RSTUX"):
        pipe.vote(vid, "TX", "Gary Johnson")
    pipe.run()                       # processed into ballots, but the tally "gave up" on them
    assert len(lost) == 3
    record = failure_record(lost, "shardId-1", "arn:stream", "arn:fn", "RetryAttemptsExhausted", 51, 1e9)
    sqs = target.client("sqs", region)
    sqs.send_message(QueueUrl=target.queue_url(region, target.names.tally_failures), MessageBody=json.dumps(record))

    listed = [d for d in dlq.list_dead_letters(target) if d.queue == target.names.tally_failures]
    assert len(listed) == 1 and listed[0].region == region and listed[0].batch["batchSize"] == 3
    assert listed[0].receipt is None and not listed[0].readable
    from rich.console import Console

    from election.ops import render
    console = Console(width=160, record=True)
    console.print(render.dlq_view(listed))
    shown = console.export_text()   # (export_text clears the record)
    assert "(tally batch of 3)" in shown and target.names.tally_failures in shown
    assert state.queue_depth(target, region, target.names.tally_failures) == 1    # listing leaves it in place
    assert dlq.redrive(target)[region] == 0                                     # nothing to redrive it to

    report = audit(target)
    assert any(f"The tally in {region} gave up on 1 stream batch(es)" in d and "election recount" in d
               for d in report.discrepancies), report.discrepancies
    assert any("3 fewer counted than cast" in d for d in report.discrepancies), report.discrepancies

    fixed = recount(target)
    assert sum(f.now - f.was for f in fixed.fixes) == 3
    assert state.queue_depth(target, region, target.names.tally_failures) == 0
    assert audit(target).ok


def test_close_refuses_while_a_given_up_batch_is_uncounted_and_recount_lets_it_finish(election: Any) -> None:
    from election.errors import ElectionError
    from election.ops.closing import close_polls, pepper_exists

    target, pipe = election
    cast(pipe, 4)
    pipe.run()
    region = target.plan.region_names[0]
    target.client("sqs", region).send_message(
        QueueUrl=target.queue_url(region, target.names.tally_failures),
        MessageBody=json.dumps(failure_record([rec(1, 0)], "s", "arn:st", "arn:fn", "RecordAgeExceeded", 0, 10.0)))
    with pytest.raises(ElectionError, match=r"gave up on 1 stream batch\(es\).*run `election recount`"):
        close_polls(target, timeout=1, grace=0, sleep=lambda s: None)
    assert all(pepper_exists(target, r) for r in target.plan.region_names)
    recount(target)
    assert close_polls(target, timeout=5, grace=0, sleep=lambda s: None).drain.drained


def test_esm_kind_updates_the_nested_fields_in_the_shape_lambda_takes() -> None:
    """UpdateEventSourceMapping gets DestinationConfig.OnFailure.Destination and ScalingConfig.MaximumConcurrency."""
    from election.provision.kinds.esm import EventSourceMapping
    from election.provision.resources import Actual, Change, Resource

    calls: list[dict[str, Any]] = []

    class Lam:
        def update_event_source_mapping(self, **kw: Any) -> None:
            calls.append(kw)

    class Ctx:
        def client(self, service: str, region: str) -> Lam:
            return Lam()

    res = Resource("event_source_mapping", R, "m", {"function": "f", "source_arn": "s"})
    EventSourceMapping().update(Ctx(), res, Actual({}, {"uuid": "u"}), [
        Change("on_failure", None, "arn:aws:sqs:us-east-1:1:q"), Change("max_concurrency", None, 7),
        Change("max_retries", -1, 50), Change("max_record_age_s", -1, 3600)])
    assert calls == [{"UUID": "u", "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:q"}},
                      "ScalingConfig": {"MaximumConcurrency": 7}, "MaximumRetryAttempts": 50,
                      "MaximumRecordAgeInSeconds": 3600}]


def test_the_enqueue_reserve_never_caps_it_below_the_capacity_the_plan_asks_for() -> None:
    """Reserved concurrency is also a ceiling: a large election raises it to the region's peak need."""
    import dataclasses

    from election.ops import capacity
    from election.plan import CapacitySettings

    plan = load_plan(AWS_PLAN)
    fn = {r.region: r for r in model.desired(plan, edge=False) if r.name == f"{PLAN}-enqueue"}
    assert {r: f.props["reserved_concurrency"] for r, f in fn.items()} == {r: 100 for r in plan.region_names}
    big = dataclasses.replace(plan, capacity=CapacitySettings(voters=230_000_000, peak_votes_per_s=50_000))
    needs = {n.region: n.concurrency["enqueue"] for n in capacity.needs(big)}
    assert max(needs.values()) > 100
    fn = {r.region: r for r in model.desired(big, edge=False) if r.name == f"{PLAN}-enqueue"}
    assert {r: f.props["reserved_concurrency"] for r, f in fn.items()} == {r: max(100, needs[r]) for r in needs}
    off = dataclasses.replace(big, lambda_=dataclasses.replace(big.lambda_, enqueue_reserved_concurrency=0))
    assert all(r.props["reserved_concurrency"] is None for r in model.desired(off, edge=False)
               if r.name == f"{PLAN}-enqueue")
