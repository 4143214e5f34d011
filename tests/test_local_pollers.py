"""The local event source mappings and global tables: SQS pollers, stream pollers, the replicator, the router."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from moto import mock_aws

from election.local import moto_patches
from election.local.gateway import Gateway
from election.local.motoserver import InProcessProvider
from election.local.pollers import SqsPoller
from election.local.replicator import Replicator
from election.local.router import Router
from election.local.streampoller import StreamPoller, stream_handler_adapter


@pytest.fixture(autouse=True, scope="module")
def patched() -> None:
    """The local runtime's moto patches (process-wide once applied, as in `election dev`)."""
    moto_patches.apply()


def until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield InProcessProvider()


def queue_with_dlq(sqs: Any, max_receives: int, visibility: int = 0) -> tuple[str, str, str]:
    dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq


def depth(sqs: Any, url: str) -> int:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def test_a_failing_message_ends_in_the_dead_letter_queue_after_max_receives(aws: Any) -> None:
    sqs = aws.client("sqs", "us-east-1")
    url, arn, dlq = queue_with_dlq(sqs, max_receives=3)
    for body in ("good-1", "poison", "good-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    calls: list[str] = []

    def handler(event: dict, context: Any) -> dict:
        assert event["Records"][0]["eventSource"] == "aws:sqs" and event["Records"][0]["eventSourceARN"] == arn
        calls.extend(r["body"] for r in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "poison"]}

    poller = SqsPoller("p", sqs, url, arn, "us-east-1", handler, batch_size=10)
    poller.start()
    try:
        assert until(lambda: depth(sqs, dlq) == 1)
    finally:
        poller.stop()
    assert depth(sqs, url) == 0
    assert calls.count("poison") == 3 and calls.count("good-1") == 1 and calls.count("good-2") == 1
    dead = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert [m["Body"] for m in dead] == ["poison"]


def test_a_crashing_handler_fails_the_whole_batch_and_batch_size_is_honoured(aws: Any) -> None:
    sqs = aws.client("sqs", "us-east-1")
    url, arn, dlq = queue_with_dlq(sqs, max_receives=2)
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sizes: list[int] = []

    def handler(event: dict, context: Any) -> None:
        sizes.append(len(event["Records"]))
        raise RuntimeError("boom")

    poller = SqsPoller("p", sqs, url, arn, "us-east-1", handler, batch_size=2)
    poller.start()
    try:
        assert until(lambda: depth(sqs, dlq) == 5)
    finally:
        poller.stop()
    assert max(sizes) == 2 and sum(sizes) == 10   # every message received exactly max_receives times


def table_with_stream(ddb: Any, name: str) -> str:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def test_stream_poller_delivers_in_order_and_retries_a_failed_batch(aws: Any) -> None:
    ddb = aws.client("dynamodb", "us-west-2")
    arn = table_with_stream(ddb, "t")
    seen: list[str] = []
    fail_once = threading.Event()

    def on_batch(records: list[dict], shard_id: str) -> None:
        assert shard_id.startswith("shardId-")
        assert all(r["awsRegion"] == "us-west-2" and r["eventSourceARN"] == arn for r in records)
        if not fail_once.is_set():
            fail_once.set()
            raise RuntimeError("first delivery fails")
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in records)

    for i in range(25):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"{i:02d}"}})
    poller = StreamPoller("s", aws.client("dynamodbstreams", "us-west-2"), arn, "us-west-2", on_batch, batch_size=10)
    poller.start()
    try:
        assert until(lambda: len(seen) == 25)
    finally:
        poller.stop()
    assert seen == [f"{i:02d}" for i in range(25)]


def test_replicator_copies_writes_and_deletes_both_ways_without_echoes(aws: Any) -> None:
    arns = {r: table_with_stream(aws.client("dynamodb", r), "t") for r in ("us-east-1", "us-west-2")}
    rep = Replicator(aws, {"t": {r: ("t", arns[r]) for r in arns}})
    rep.start()
    east, west = aws.client("dynamodb", "us-east-1"), aws.client("dynamodb", "us-west-2")
    try:
        east.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
        west.update_item(TableName="t", Key={"pk": {"S": "b"}}, UpdateExpression="SET v = :v",
                         ExpressionAttributeValues={":v": {"N": "2"}})
        assert until(lambda: "Item" in west.get_item(TableName="t", Key={"pk": {"S": "a"}})
                     and east.get_item(TableName="t", Key={"pk": {"S": "b"}}).get("Item", {}).get("v") == {"N": "2"})
        east.delete_item(TableName="t", Key={"pk": {"S": "a"}})
        assert until(lambda: "Item" not in west.get_item(TableName="t", Key={"pk": {"S": "a"}}))
        time.sleep(0.5)
        # a: put + delete copied to west; b: moto's key-only INSERT and the MODIFY of one UpdateItem arrive in one
        # batch, and only the newest image of a key in a batch is copied to east. Nothing came back.
        assert rep.replicated == 3
    finally:
        rep.stop()


def test_cancelled_transaction_leaves_stream_readers_working(aws: Any) -> None:
    ddb = aws.client("dynamodb", "us-east-1")
    arn = table_with_stream(ddb, "t")
    streams = aws.client("dynamodbstreams", "us-east-1")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    ddb.put_item(TableName="t", Item={"pk": {"S": "x"}, "n": {"N": "1"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "y"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(pk)"}}])
    ddb.put_item(TableName="t", Item={"pk": {"S": "z"}})
    records = streams.get_records(ShardIterator=it)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["x", "z"]   # no rolled-back y; later z seen
    assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "y"}})
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "x"}})["Item"]["n"] == {"N": "1"}


def test_sqs_patches_keep_counts_and_deletes_right(aws: Any) -> None:
    sqs = aws.client("sqs", "us-east-1")
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    for i in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                    for i, m in enumerate(got[:4])])
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]) == ("20", "6")
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_a_down_region_refuses_messages(aws: Any) -> None:
    sqs = aws.client("sqs", "us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    moto_patches.DOWN_REGIONS.add("us-east-1")
    try:
        with pytest.raises(sqs.exceptions.ClientError, match="ServiceUnavailable"):
            sqs.send_message(QueueUrl=url, MessageBody="x")
    finally:
        moto_patches.DOWN_REGIONS.discard("us-east-1")
    sqs.send_message(QueueUrl=url, MessageBody="x")


def test_router_prefers_plan_order_and_fails_over_to_a_healthy_region() -> None:
    def handler(name: str) -> Any:
        return lambda event, ctx: {"statusCode": 200, "body": json.dumps({"region": name})}

    gateways = {r: Gateway(r, {"health": handler(r), "results": handler(r)}) for r in ("a-1", "b-2")}
    for g in gateways.values():
        g.start()
    router = Router({r: g.url for r, g in gateways.items()}, interval_s=0.1)
    router.start()
    try:
        def who() -> str:
            with urllib.request.urlopen(router.url + "/results", timeout=5) as r:
                return json.loads(r.read())["region"]
        assert who() == "a-1"
        gateways["a-1"].stop()
        assert who() == "b-2"                  # refused at once: retried on the next region
        router.wait_checked(2)
        assert router.health == {"a-1": False, "b-2": True}
        gateways["a-1"].start()
        router.wait_checked(2)
        assert who() == "a-1" and router.health["a-1"] is True
    finally:
        router.stop()
        for g in gateways.values():
            g.stop()


def test_stream_events_carry_the_shard_window_and_state_like_a_tumbling_window_mapping(aws: Any) -> None:
    ddb = aws.client("dynamodb", "us-west-2")
    arn = table_with_stream(ddb, "t")
    streams = aws.client("dynamodbstreams", "us-west-2")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    events: list[dict] = []

    def handler(event: dict, context: Any) -> dict:
        events.append(event)
        return {"batchItemFailures": [], "state": {"batches": event["state"].get("batches", 0) + 1}}

    now = [1_800_000_030.0]      # 30 s into a minute
    on_batch = stream_handler_adapter(handler, "tally", stream_arn=arn, window_s=60, clock=lambda: now[0])
    poller = StreamPoller("s", streams, arn, "us-west-2", on_batch, batch_size=2)
    for i in range(4):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"{i}"}})
    assert poller.poll_once() and len(events) == 1
    first = events[0]
    assert first["shardId"] == shard and first["eventSourceARN"] == arn and first["state"] == {}
    assert first["window"] == {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T08:01:00Z"}
    assert poller.poll_once() and events[1]["state"] == {"batches": 1}          # same window: state carried
    now[0] += 60
    ddb.put_item(TableName="t", Item={"pk": {"S": "late"}})
    assert poller.poll_once() and events[2]["state"] == {}                     # next window starts afresh
