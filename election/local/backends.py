"""The parts that play AWS itself reach moto's backends directly, not through boto3 and moto's request layer.

DESIGN §4 allows it for the replicator and the pollers (the handlers' own calls always go through boto3 and
moto's request layer, so IAM and validation apply to them). Measured (issue 14): a record read through
GetRecords cost ~645 µs, ~11 µs read here; a replicated PutItem ~1 ms, ~0.1 ms here.

`DirectStreams` offers the three DynamoDB Streams calls the stream poller makes (DescribeStream,
GetShardIterator, GetRecords) with the answers' shapes, read from moto's stream under the region's lock
(moto_patches.region_lock, so a transaction's records are seen whole or not at all). With `checked_by` (a
boto3 client acting as the function's role, as the mapping reads on AWS), DescribeStream and GetShardIterator
go through it and each new shard's first GetRecords is also asked of it, so the role's policy is still
enforced: a role without GetRecords reads nothing. Later reads come from the backend. Iterators are plain
positions ("arn|shard|sequence number"), never expire and can be reused; on AWS a shard iterator expires
15 minutes after it is returned. `write_item` and `delete_item` apply a replicated change to a region's
table and return the eventID of the stream record the change made there, so the replicator knows its own
echoes exactly. `DirectQueue` does the same for the SQS mapping's ReceiveMessage and DeleteMessageBatch.
"""

from __future__ import annotations

import calendar
import copy
from datetime import datetime
from typing import Any

from election.local import moto_patches

ACCOUNT_ID = "123456789012"


def _backend(region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT_ID][region]


def _table_name(stream_arn: str) -> str:
    return stream_arn.split(":", 5)[5].split("/")[1]   # arn:aws:dynamodb:<region>:<acct>:table/<name>/stream/<label>


def _epoch(value: Any) -> Any:
    """moto keeps a naive UTC datetime; the API (and Lambda) show epoch seconds."""
    return calendar.timegm(value.utctimetuple()) if isinstance(value, datetime) else value


class DirectStreams:
    """The stream poller's DynamoDB Streams client, answered from moto's backend of `region`.

    Its methods take boto3's parameter names (StreamArn, ShardIterator...), so it stands in for the client.
    """

    def __init__(self, region: str, checked_by: Any = None) -> None:
        self.region = region
        self.checked_by = checked_by

    def _shard(self, stream_arn: str) -> Any:
        table = _backend(self.region).get_table(_table_name(stream_arn))
        if table.stream_shard is None:
            raise LookupError(f"{stream_arn}: the table has no stream")
        return table.stream_shard

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        if self.checked_by is not None:
            return self.checked_by.describe_stream(StreamArn=StreamArn)
        shard = self._shard(StreamArn)
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": [shard.to_json()]}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,
                           SequenceNumber: str | None = None) -> dict[str, Any]:
        if self.checked_by is not None:   # IAM: the role may read this stream (an AccessDenied raises here)
            it = self.checked_by.get_shard_iterator(StreamArn=StreamArn, ShardId=ShardId,
                                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            self.checked_by.get_records(ShardIterator=it, Limit=1)
        shard = self._shard(StreamArn)
        with moto_patches.region_lock(ACCOUNT_ID, self.region):
            start = {"TRIM_HORIZON": shard.starting_sequence_number,
                     "LATEST": shard.starting_sequence_number + len(shard.items)}.get(ShardIteratorType)
        if start is None:
            start = int(SequenceNumber or 0) + (ShardIteratorType == "AFTER_SEQUENCE_NUMBER")
        return {"ShardIterator": f"{StreamArn}|{ShardId}|{start}"}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        arn, shard_id, position = ShardIterator.rsplit("|", 2)
        shard = self._shard(arn)
        start = int(position)
        with moto_patches.region_lock(ACCOUNT_ID, self.region):
            first = start - shard.starting_sequence_number
            found = shard.items[first:first + Limit] if first >= 0 else []
            records = [dict(r.to_json()) for r in found]
        for r in records:   # two levels copied (the readers never change the images), the time as the API shows it
            r["dynamodb"] = dict(r["dynamodb"], ApproximateCreationDateTime=_epoch(
                r["dynamodb"].get("ApproximateCreationDateTime")))
        return {"Records": records, "NextShardIterator": f"{arn}|{shard_id}|{start + len(records)}"}


def _write(region: str, table_name: str, change: Any) -> str | None:
    """Run `change(backend)` under the region's lock; the eventID of the one stream record it made, if any."""
    backend = _backend(region)
    with moto_patches.region_lock(ACCOUNT_ID, region):
        shard = backend.get_table(table_name).stream_shard
        before = len(shard.items) if shard is not None else 0
        change(backend)
        if shard is None or len(shard.items) != before + 1:
            return None
        return str(shard.items[-1].to_json()["eventID"])


def write_item(region: str, table_name: str, item: dict[str, Any]) -> str | None:
    """Put `item` (attribute values as DynamoDB JSON) in `region`'s table, as a replica write."""
    return _write(region, table_name, lambda b: b.put_item(table_name, copy.deepcopy(item)))


def delete_item(region: str, table_name: str, key: dict[str, Any]) -> str | None:
    """Delete the item with `key` from `region`'s table, as a replica write (no record if it was absent)."""
    return _write(region, table_name, lambda b: b.delete_item(table_name, copy.deepcopy(key)))


class DirectQueue:
    """The SQS mapping's client for one queue (ReceiveMessage, DeleteMessageBatch), answered by moto's backend.

    With `checked_by` (a boto3 client acting as the function's role, as Lambda's SQS mapping reads on AWS),
    the first receive and the first delete go through it, so the role's policy is still enforced; later
    calls come from the backend. Answers have boto3's shapes (Messages with MessageId, ReceiptHandle, Body,
    MD5OfBody, Attributes, MessageAttributes; Successful/Failed).
    """

    SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp")

    def __init__(self, region: str, checked_by: Any = None) -> None:
        self.region = region
        self.checked_by = checked_by
        self._checked: set[str] = set()

    def _backend(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[ACCOUNT_ID][self.region]

    def _via_role(self, action: str) -> bool:
        """True (once per action) when this call must go through the role's own client."""
        if self.checked_by is None or action in self._checked:
            return False
        self._checked.add(action)
        return True

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int = 1, WaitTimeSeconds: int = 0,
                        AttributeNames: list[str] | None = None,
                        MessageAttributeNames: list[str] | None = None) -> dict[str, Any]:
        if self._via_role("receive"):
            return self.checked_by.receive_message(  # type: ignore[no-any-return]
                QueueUrl=QueueUrl, MaxNumberOfMessages=MaxNumberOfMessages, WaitTimeSeconds=WaitTimeSeconds,
                AttributeNames=AttributeNames or [], MessageAttributeNames=MessageAttributeNames or [])
        backend = self._backend()
        name = QueueUrl.rstrip("/").rsplit("/", 1)[-1]
        queue = backend.get_queue(name)
        found = backend.receive_message(name, MaxNumberOfMessages, WaitTimeSeconds, queue.visibility_timeout,
                                        list(MessageAttributeNames or []))
        out = []
        for m in found:
            msg: dict[str, Any] = {"MessageId": m.id, "ReceiptHandle": m.receipt_handle, "MD5OfBody": m.body_md5,
                                   "Body": m.body}
            if m.message_attributes:
                msg["MessageAttributes"] = copy.deepcopy(m.message_attributes)
            if AttributeNames:
                msg["Attributes"] = {"SenderId": m.sender_id, "SentTimestamp": str(m.sent_timestamp),
                                     "ApproximateReceiveCount": str(m.approximate_receive_count),
                                     "ApproximateFirstReceiveTimestamp": str(m.approximate_first_receive_timestamp)}
            out.append(msg)
        return {"Messages": out} if out else {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        if self._via_role("delete"):
            return self.checked_by.delete_message_batch(QueueUrl=QueueUrl, Entries=Entries)  # type: ignore[no-any-return]
        name = QueueUrl.rstrip("/").rsplit("/", 1)[-1]
        done, failed = self._backend().delete_message_batch(name, Entries)
        return {"Successful": [{"Id": i} for i in done], "Failed": failed}
