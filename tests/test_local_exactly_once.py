"""Exactly-once under concurrency (issue 14): moto's stream numbers, the replicator, the tally's dedupe.

The local stack once counted a ballot twice and, in another run, never counted six, under overload. The
path: two threads writing one table at once could get the same stream sequence number from moto
(StreamShard.add numbered a record by the list's length, then appended it). A stream reader then
re-delivered one record and skipped another; the replicator wrote a re-delivered echo back to its source as
a stale image (a counter or checkpoint item went back in time); and the tally, whose checkpoint is a
sequence number, skipped a distinct record that shared the checkpoint's number. These tests pin each link.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pipeline_fixture import Pipeline

from election.lambdas import contract, counting, logic
from election.local import moto_patches
from election.local.motoserver import InProcessProvider
from election.local.replicator import Replicator

EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture(autouse=True, scope="module")
def patched() -> None:
    """The local runtime's moto patches (process-wide once applied, as in `election dev`)."""
    moto_patches.apply()


@pytest.fixture
def aws(aws_env: None) -> Iterator[InProcessProvider]:
    with mock_aws():
        yield InProcessProvider()


def table_with_stream(ddb: Any, name: str) -> str:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def read_all(streams: Any, arn: str, limit: int, cap: int = 1000) -> list[dict]:
    """Read a stream from the start through its iterators, `limit` records per call, as a poller does."""
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out: list[dict] = []
    while len(out) < cap:
        resp = streams.get_records(ShardIterator=it, Limit=limit)
        if not resp["Records"]:
            return out
        out.extend(resp["Records"])
        it = resp["NextShardIterator"]
    return out


# --- moto: one number per record, whatever the threads do -------------------------------------------------

def test_a_write_during_another_gets_the_next_sequence_number(aws: InProcessProvider,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: the first write is held after moto numbered its record; a second write comes meanwhile."""
    from moto.dynamodb.models import table as moto_table

    ddb = aws.client("dynamodb", EAST)
    arn = table_with_stream(ddb, "t")
    real = moto_table.StreamRecord
    first_numbered, second_done = threading.Event(), threading.Event()

    def record(table: Any, view: str, name: str, old: Any, new: Any, seq: int) -> Any:
        if new is not None and new.hash_key.value == "first":
            first_numbered.set()
            second_done.wait(1.0)   # unpatched moto: the second write completes here, with this same number
        return real(table, view, name, old, new, seq)

    monkeypatch.setattr(moto_table, "StreamRecord", record)
    first = threading.Thread(target=lambda: aws.client("dynamodb", EAST).put_item(
        TableName="t", Item={"pk": {"S": "first"}}))
    first.start()
    assert first_numbered.wait(5)
    ddb.put_item(TableName="t", Item={"pk": {"S": "second"}})   # waits for the first write (region lock)
    second_done.set()
    first.join()
    records = read_all(aws.client("dynamodbstreams", EAST), arn, limit=1, cap=10)
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["first", "second"]
    assert seqs[1] == seqs[0] + 1


def test_concurrent_writers_each_record_is_read_exactly_once(aws: InProcessProvider) -> None:
    """8 writers at once (switching threads every 10 µs), read back in batches of 7: each record exactly once."""
    ddb = aws.client("dynamodb", EAST)
    arn = table_with_stream(ddb, "t")

    def write(n: int) -> None:
        client = aws.client("dynamodb", EAST)
        for i in range(60):
            client.put_item(TableName="t", Item={"pk": {"S": f"{n}-{i}"}})

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    records = read_all(aws.client("dynamodbstreams", EAST), arn, limit=7, cap=2000)
    keys = Counter(r["dynamodb"]["Keys"]["pk"]["S"] for r in records)
    assert len(keys) == 480 and set(keys.values()) == {1}
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(set(seqs))


# --- the replicator: never a stale image --------------------------------------------------------------------

def stream_records(aws: InProcessProvider, region: str, arn: str) -> list[dict]:
    return read_all(aws.client("dynamodbstreams", region), arn, limit=100)


def test_replicator_skips_a_redelivered_record_and_never_writes_an_echo_back(aws: InProcessProvider) -> None:
    arns = {r: table_with_stream(aws.client("dynamodb", r), "t") for r in (EAST, WEST)}
    rep = Replicator(aws, {"t": {r: ("t", arns[r]) for r in arns}})
    east, west = aws.client("dynamodb", EAST), aws.client("dynamodb", WEST)
    east.put_item(TableName="t", Item={"pk": {"S": "c"}, "n": {"N": "1"}})
    east.put_item(TableName="t", Item={"pk": {"S": "c"}, "n": {"N": "2"}})
    [v1, v2] = stream_records(aws, EAST, arns[EAST])
    rep.apply("t", EAST, [v1])
    rep.apply("t", EAST, [v1, v2])   # re-delivered v1 with the next record: v1 is not written again after v2
    assert west.get_item(TableName="t", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "2"}
    echoes = stream_records(aws, WEST, arns[WEST])
    assert [r["dynamodb"]["NewImage"]["n"]["N"] for r in echoes] == ["1", "2"]
    east.put_item(TableName="t", Item={"pk": {"S": "c"}, "n": {"N": "3"}})   # the source moves on
    rep.apply("t", WEST, echoes)
    rep.apply("t", WEST, echoes)   # the target's stream re-delivers the echoes: still never written back
    assert east.get_item(TableName="t", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "3"}
    assert rep.replicated == 2


def test_replicator_applies_only_the_newest_image_of_a_key_in_a_batch(aws: InProcessProvider) -> None:
    arns = {r: table_with_stream(aws.client("dynamodb", r), "t") for r in (EAST, WEST)}
    rep = Replicator(aws, {"t": {r: ("t", arns[r]) for r in arns}})
    east = aws.client("dynamodb", EAST)
    for n in range(5):
        east.put_item(TableName="t", Item={"pk": {"S": "c"}, "n": {"N": str(n)}})
    east.put_item(TableName="t", Item={"pk": {"S": "d"}})
    rep.apply("t", EAST, stream_records(aws, EAST, arns[EAST]))
    assert rep.replicated == 2
    west = aws.client("dynamodb", WEST)
    assert west.get_item(TableName="t", Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "4"}
    assert "Item" in west.get_item(TableName="t", Key={"pk": {"S": "d"}})


# --- the tally: a duplicated or re-delivered record is never counted twice ---------------------------------

def counters(p: Pipeline, region: str = EAST) -> Counter[tuple[str, str]]:
    """Every counter value of `region`'s own counter items: (item key, attribute) -> count."""
    out: Counter[tuple[str, str]] = Counter()
    clients = p.__dict__.setdefault("test_clients", {})   # one per region: creating one costs ~0.1 s
    ddb = clients.get(region) or clients.setdefault(region, boto3.client("dynamodb", region_name=region))
    for item in ddb.scan(TableName=p.names["results"], ConsistentRead=True)["Items"]:
        pk = item[contract.RESULTS_KEY]["S"]
        if pk.startswith(logic.CHECKPOINT_PREFIX) or item.get("region", {}).get("S") != region:
            continue
        for attr, value in item.items():
            if "N" in value:
                out[(pk, attr)] += int(value["N"])
    return out


def expected_counts(records: list[dict], region: str = EAST) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for c in counting.select_records(records, region, None, 0.0):
        out[(logic.counter_pk(c.state, region), logic.counter_attr(c.candidate))] += 1
    return out


def ballot_records(p: Pipeline, n: int, states: tuple[str, ...] = ("NY", "FL", "OH")) -> tuple[str, list[dict]]:
    """`n` ballots written in EAST (voters spread over `states`, all homed there): the stream's records."""
    for i in range(n):
        [v] = p.seed(1, (states[i % len(states)],))
        p.vote(EAST, v, "Jill Stein")
    p.drain(EAST)
    shard, records = p.stream_batch(EAST)
    assert len(records) == n
    return shard, records


def tally(p: Pipeline, shard: str, records: list[dict]) -> dict:
    return p.call(EAST, "tally", {"Records": records, "shardId": shard})


def test_records_repeated_in_a_batch_count_once(pipeline: Pipeline) -> None:
    p = pipeline
    shard, records = ballot_records(p, 3)
    assert tally(p, shard, records + records[::-1] + records[:1])["batchItemFailures"] == []
    assert counters(p) == expected_counts(records)


def test_a_distinct_record_sharing_the_checkpoints_number_is_counted_and_a_repeat_is_not(pipeline: Pipeline) -> None:
    """What unpatched moto produced: two records, one sequence number, delivered in two batches."""
    p = pipeline
    shard, records = ballot_records(p, 2)
    a, b = records
    b = dict(b, dynamodb=dict(b["dynamodb"], SequenceNumber=a["dynamodb"]["SequenceNumber"]))
    assert tally(p, shard, [a])["batchItemFailures"] == []
    assert tally(p, shard, [b])["batchItemFailures"] == []      # after the checkpoint's number: counted
    assert tally(p, shard, [a, b])["batchItemFailures"] == []   # both re-delivered: nothing added
    assert tally(p, shard, [b])["batchItemFailures"] == []
    assert counters(p) == expected_counts(records)


class Flaky:
    """Wraps the tally's TransactWriteItems: fails the next call, before or after it is applied."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.next: str | None = None

    def __call__(self, **kwargs: Any) -> Any:
        mode, self.next = self.next, None
        if mode == "before":
            raise ConnectionError("injected: the request never reached DynamoDB")
        out = self.real(**kwargs)
        if mode == "after":
            raise ConnectionError("injected: applied, but the answer was lost")
        return out


deliveries = st.lists(st.tuples(
    st.integers(0, 4),                                  # how far back before the acknowledged position it starts
    st.integers(0, 5),                                  # how many records after that position it reaches
    st.lists(st.integers(0, 20), max_size=4),           # records repeated inside the batch (by index, modulo)
    st.randoms(use_true_random=False),                  # order inside the batch
    st.sampled_from([None, None, "before", "after"])),  # a failure of the transaction
    max_size=8)


def test_tally_counts_every_ballot_once_under_redelivery_duplicates_reordering_and_failures(aws_env: None) -> None:
    """Property: any sequence of batches Lambda (at least once) or an emulator could deliver, and any transaction
    failure, ends with each ballot counted exactly once, once the stream has been delivered through its end."""
    with mock_aws():
        p = Pipeline("config/local.yaml")
        _, base = ballot_records(p, 8, ("NY", "FL"))
        tal = p.regions[EAST].handlers["tally"]
        flaky = Flaky(tal.ddb.transact_write_items)
        tal.ddb.transact_write_items = flaky
        shards = iter(range(10**6))

        @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(deliveries, st.sets(st.integers(1, 7), max_size=3))
        def run(plan: list[tuple[int, int, list[int], Any, str | None]], shared: set[int]) -> None:
            # Records at `shared` positions take their predecessor's number (as unpatched moto numbered them).
            records = [dict(r, dynamodb=dict(r["dynamodb"])) for r in base]
            for i in sorted(shared):
                records[i]["dynamodb"]["SequenceNumber"] = records[i - 1]["dynamodb"]["SequenceNumber"]
            shard = f"shard-{next(shards)}"   # a fresh checkpoint per example; counters accumulate
            before = counters(p)
            acked = 0
            for back, ahead, repeats, rng, failure in plan:
                start, end = max(0, acked - back), min(len(records), acked + ahead)
                batch = records[start:end] + [records[start + k % max(1, end - start)] for k in repeats
                                              if end > start]
                rng.shuffle(batch)
                if not batch:
                    continue
                flaky.next = failure
                ok = tally(p, shard, batch)["batchItemFailures"] == []
                flaky.next = None
                if ok:
                    acked = max(acked, end)
            while acked < len(records):   # Lambda keeps retrying from the first record not acknowledged
                assert tally(p, shard, records[acked:])["batchItemFailures"] == []
                acked = len(records)
            after = counters(p)
            assert after - before == expected_counts(base) and before - after == Counter()

        run()


# --- the mapping's direct reads: the same records as the API, the role still checked ------------------------

def test_direct_stream_reads_give_what_get_records_gives(aws: InProcessProvider) -> None:
    from election.local.backends import DirectStreams
    from election.local.streampoller import lambda_stream_record

    ddb = aws.client("dynamodb", EAST)
    arn = table_with_stream(ddb, "t")
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.delete_item(TableName="t", Key={"pk": {"S": "a"}})
    via_api = [lambda_stream_record(r, arn, EAST) for r in read_all(aws.client("dynamodbstreams", EAST), arn, 2)]
    via_backend = [lambda_stream_record(r, arn, EAST) for r in read_all(DirectStreams(EAST), arn, 2)]
    assert [r["eventName"] for r in via_api] == ["INSERT", "MODIFY", "REMOVE"]
    assert via_backend == via_api


def test_a_handler_that_changes_its_event_changes_no_other_readers_records(aws: InProcessProvider) -> None:
    """DirectStreams copies only a record's top two levels: its images are moto's own. lambda_stream_record's
    copy is what gives each handler a private event, as Lambda does (tally and replicator read one shard)."""
    from election.local.backends import DirectStreams
    from election.local.streampoller import lambda_stream_record

    ddb = aws.client("dynamodb", EAST)
    arn = table_with_stream(ddb, "t")
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    first = [lambda_stream_record(r, arn, EAST) for r in read_all(DirectStreams(EAST), arn, 10)]
    first[0]["dynamodb"]["NewImage"]["n"]["N"] = "999"
    first[0]["dynamodb"]["Keys"].clear()
    again = [lambda_stream_record(r, arn, EAST) for r in read_all(DirectStreams(EAST), arn, 10)]
    assert again[0]["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "n": {"N": "1"}}
    assert again[0]["dynamodb"]["Keys"] == {"pk": {"S": "a"}}


def test_direct_stream_reads_ask_the_roles_client_first(aws: InProcessProvider) -> None:
    from election.local.backends import DirectStreams

    arn = table_with_stream(aws.client("dynamodb", EAST), "t")

    class Refusing:
        def describe_stream(self, StreamArn: str) -> dict:
            return aws.client("dynamodbstreams", EAST).describe_stream(StreamArn=StreamArn)

        def get_shard_iterator(self, **kwargs: Any) -> dict:
            return aws.client("dynamodbstreams", EAST).get_shard_iterator(**kwargs)

        def get_records(self, **kwargs: Any) -> dict:
            raise PermissionError("AccessDeniedException: not authorized to perform dynamodb:GetRecords")

    with pytest.raises(PermissionError, match="GetRecords"):
        read_all(DirectStreams(EAST, checked_by=Refusing()), arn, 10)


def test_direct_queue_receives_deletes_and_dead_letters_like_the_api(aws: InProcessProvider) -> None:
    import json as _json

    from election.local.backends import DirectQueue

    sqs = aws.client("sqs", EAST)
    dlq = sqs.create_queue(QueueName="dq-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="dq", Attributes={"VisibilityTimeout": "0", "RedrivePolicy": _json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="keep")
    calls: list[str] = []

    class Role:   # the function role's client: counts what goes through it
        def receive_message(self, **kwargs: Any) -> dict:
            calls.append("receive")
            return sqs.receive_message(**kwargs)

        def delete_message_batch(self, **kwargs: Any) -> dict:
            calls.append("delete")
            return sqs.delete_message_batch(**kwargs)

    direct = DirectQueue(EAST, checked_by=Role())
    first = direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                   MessageAttributeNames=["All"])["Messages"]
    second = direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                    MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first + second] == ["keep", "keep"]
    assert second[0]["MessageId"] == first[0]["MessageId"]
    assert set(second[0]) == set(first[0]) and second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10) == {}   # third receive: dead-lettered
    assert sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"] == "keep"
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
        [m] = direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert direct.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": m["ReceiptHandle"]}]
                                           )["Successful"] == [{"Id": "0"}]
    assert direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10) == {}
    assert calls == ["receive", "delete"]   # the role asked once per action, the rest from the backend
