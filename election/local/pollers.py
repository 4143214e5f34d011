"""The event source mappings, played locally: SQS queues and DynamoDB streams feeding handlers.

An `SqsPoller` behaves like Lambda's SQS mapping with ReportBatchItemFailures:
it receives up to `batch_size` messages (the queue's visibility timeout then
hides them), calls the handler with an SQS event, deletes what succeeded and
leaves the failures to reappear after the visibility timeout. After
`maxReceiveCount` receives, moto's own redrive moves a message to the
dead-letter queue on the next receive (verified in tests/test_local_pollers.py).

A `StreamPoller` plays the stream mapping: batches in order per shard, a
failed batch is retried (same records, same order) until it succeeds, or, with
`max_retries` / `max_record_age_s` set as the deployer sets them on the tally,
until those run out: then, like Lambda, it sends the batch's location (not its
records) to `on_failure` and moves on. Unlike Lambda it does not bisect first.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from election.lambdas.contract import TALLY_TUMBLING_WINDOW_S

log = logging.getLogger("election.local")

Handler = Callable[[Mapping[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The few context attributes handlers read."""

    function_name: str
    timeout_s: float = 10.0
    aws_request_id: str = ""
    memory_limit_in_mb: int = 256

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Poller:
    """A background loop with stop/start, counters and an 'idle' signal for wait_idle().

    An idle poller backs off from `min_sleep` to `max_sleep` (doubling), so a
    quiet stack does not spend the GIL on empty polls; any work resets it.
    """

    min_sleep = 0.005
    max_sleep = 0.2

    def __init__(self, name: str) -> None:
        self.name = name
        self.processed = 0        # records handed to the handler and finished
        self.failures = 0         # records reported failed (or whole failed batches)
        self.empty_polls = 0      # polls that found nothing: used to prove idleness
        self.busy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def signal_stop(self) -> None:
        """Ask the loop to end (join later with stop()), so many pollers stop in parallel."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        sleep = self.min_sleep
        while not self._stop.is_set():
            try:
                worked = self.poll_once()
            except Exception as exc:  # noqa: BLE001 - a poller must survive a bad poll, like Lambda's
                log.warning("%s: poll failed: %s", self.name, exc)
                worked = False
            if worked:
                sleep = self.min_sleep
            else:
                self.empty_polls += 1
                self._stop.wait(sleep)
                sleep = min(self.max_sleep, sleep * 2)

    def poll_once(self) -> bool:
        """Do one unit of work; False when there was nothing to do."""
        raise NotImplementedError


class SqsPoller(Poller):
    """Feeds one queue to one handler, with partial batch responses."""

    max_sleep = 0.0   # the receive itself waits (long polling), woken by moto as soon as a message arrives

    def __init__(self, name: str, sqs: Any, queue_url: str, queue_arn: str, region: str, handler: Handler,
                 batch_size: int = 10, function_name: str = "", timeout_s: float = 10.0,
                 wait_s: int = 1, window_s: float = 0.0) -> None:
        super().__init__(name)
        self.wait_s = wait_s
        self.window_s = window_s   # like the mapping's MaximumBatchingWindowInSeconds: fill short batches
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.handler = handler
        self.batch_size = batch_size
        self.function_name = function_name or name
        self.timeout_s = timeout_s

    def poll_once(self) -> bool:
        messages = self._receive(self.wait_s)
        if not messages:
            return False
        self.busy = True   # (received messages count as in flight in the queue until deleted)
        try:
            messages += self._gather(len(messages))
            failed = self._invoke(messages)
            done = [m for m in messages if m["MessageId"] not in failed]
            for i in range(0, len(done), 10):   # DeleteMessageBatch takes at most 10 entries
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(done[i:i + 10])])
            self.processed += len(done)
            self.failures += len(messages) - len(done)
            return True
        finally:
            self.busy = False

    def _receive(self, wait_s: int, limit: int = 10) -> list[dict[str, Any]]:
        """One ReceiveMessage of at most 10 messages (SQS's limit per call)."""
        return self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=max(1, min(10, limit, self.batch_size)),
            WaitTimeSeconds=wait_s, AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])

    def _gather(self, have: int) -> list[dict[str, Any]]:
        """Like the mapping's batching window: keep receiving until `batch_size` or `window_s` has passed.

        Lambda gathers a batch of up to BatchSize (10,000 for SQS) for up to
        MaximumBatchingWindowInSeconds; the process mapping uses it to mix votes (README, "Ballot
        secrecy"). One local poller per queue gathers the whole window's votes; on AWS several
        pollers may split a busy window into smaller batches.
        """
        more: list[dict[str, Any]] = []
        if not self.window_s:
            return more
        deadline = time.monotonic() + self.window_s
        while have + len(more) < self.batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            got = self._receive(0, self.batch_size - have - len(more))
            if got:
                more += got
            else:
                self._stop.wait(min(left, 0.02))
        return more

    def _invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """Call the handler; the IDs of the messages that failed (all of them if it raised)."""
        event = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}
        every = {m["MessageId"] for m in messages}
        try:
            result = self.handler(event, LambdaContext(self.function_name, self.timeout_s))
        except Exception as exc:  # noqa: BLE001 - a crashing function fails its whole batch
            log.warning("%s: handler raised %s; the batch returns to the queue", self.name, exc)
            return every
        if result is None:
            return set()
        try:
            failures = result.get("batchItemFailures", [])
            ids = {f["itemIdentifier"] for f in failures}
        except (AttributeError, KeyError, TypeError):
            return every   # Lambda treats a malformed partial-batch response as a failed batch
        return min(ids, every)


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's SQS event shows it."""
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes = {}
    for key, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[key] = {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                                   "stringListValues": [], "binaryListValues": [],
                                   "dataType": value.get("DataType", "String")}
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"], "attributes": attributes, "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": region}


class StreamPoller(Poller):
    """Reads every shard of one DynamoDB stream in order and hands batches to `on_batch`.

    `on_batch(records, shard_id)` must succeed before the poller moves on; if it raises,
    the same batch is retried after a short pause (never skipped). Like
    Lambda's MaximumBatchingWindowInSeconds, `window_s` > 0 waits that long
    to fill a short batch: fewer, larger batches (fewer tally transactions
    and fewer replicated counter writes) for a little more lag.
    """

    retry_sleep = 0.2

    def __init__(self, name: str, streams: Any, stream_arn: str, region: str,
                 on_batch: Callable[[list[dict[str, Any]], str], None], batch_size: int = 100,
                 start: str = "TRIM_HORIZON", window_s: float = 0.0, max_retries: int | None = None,
                 max_record_age_s: float | None = None,
                 on_failure: Callable[[dict[str, Any]], None] | None = None,
                 function_arn: str = "", clock: Callable[[], float] = time.time) -> None:
        super().__init__(name)
        self.max_retries = max_retries
        self.max_record_age_s = max_record_age_s
        self.on_failure = on_failure
        self.function_arn = function_arn
        self.clock = clock
        self._attempts: dict[str, int] = {}
        self.discarded = 0
        self.window_s = window_s
        self.streams = streams
        self.stream_arn = stream_arn
        self.region = region
        self.on_batch = on_batch
        self.batch_size = batch_size
        self.start_type = start
        self._iterators: dict[str, str | None] = {}
        self._pending: dict[str, tuple[list[dict[str, Any]], str | None]] = {}
        self.last_sequence: dict[str, str] = {}

    def _discover(self) -> None:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"].get("Shards", [])
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self._iterators:
                self._iterators[sid] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=sid, ShardIteratorType=self.start_type)["ShardIterator"]

    def poll_once(self) -> bool:
        if not self._iterators:
            self._discover()
        worked = False
        for sid in list(self._iterators):
            if sid in self._pending:
                records, next_it = self._pending[sid]
            else:
                iterator = self._iterators[sid]
                if iterator is None:
                    continue
                response = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
                records = [lambda_stream_record(r, self.stream_arn, self.region) for r in response.get("Records", [])]
                next_it = response.get("NextShardIterator")
                if not records:
                    self._iterators[sid] = next_it
                    continue
                self.busy = True
                if self.window_s and len(records) < self.batch_size and next_it:
                    self._stop.wait(self.window_s)
                    more = self.streams.get_records(ShardIterator=next_it, Limit=self.batch_size - len(records))
                    records += [lambda_stream_record(r, self.stream_arn, self.region) for r in more.get("Records", [])]
                    next_it = more.get("NextShardIterator")
            self.busy = True
            if self._too_old(records):
                self._give_up(sid, records, next_it, "RecordAgeExceeded")
                self.busy = False
                worked = True
                continue
            try:
                self.on_batch(records, sid)
            except Exception as exc:  # noqa: BLE001 - keep the batch and retry it, in order
                self.failures += 1
                self._attempts[sid] = self._attempts.get(sid, 0) + 1
                if self.max_retries is not None and self._attempts[sid] > self.max_retries:
                    log.warning("%s: batch of %d failed %d times (%s); giving up on it", self.name, len(records),
                                self._attempts[sid], exc)
                    self._give_up(sid, records, next_it, "RetryAttemptsExhausted")
                    return True
                log.warning("%s: batch of %d failed (%s); retrying", self.name, len(records), exc)
                self._pending[sid] = (records, next_it)
                self._stop.wait(self.retry_sleep)
                return True
            finally:
                self.busy = False
            self._attempts.pop(sid, None)
            self._pending.pop(sid, None)
            self._iterators[sid] = next_it
            self.processed += len(records)
            self.last_sequence[sid] = records[-1]["dynamodb"].get("SequenceNumber", "")
            worked = True
        return worked


    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        if self.max_record_age_s is None:
            return False
        first = records[0].get("dynamodb", {}).get("ApproximateCreationDateTime")
        return isinstance(first, (int, float)) and self.clock() - first > self.max_record_age_s

    def _give_up(self, sid: str, records: list[dict[str, Any]], next_it: str | None, condition: str) -> None:
        """Skip the batch as Lambda does once retries or age run out, reporting where it was."""
        if self.on_failure is not None:
            self.on_failure(failure_record(records, sid, self.stream_arn, self.function_arn, condition,
                                           self._attempts.get(sid, 0), self.clock()))
        self.discarded += len(records)
        self._attempts.pop(sid, None)
        self._pending.pop(sid, None)
        self._iterators[sid] = next_it


def failure_record(records: list[dict[str, Any]], shard_id: str, stream_arn: str, function_arn: str,
                   condition: str, invokes: int, now: float) -> dict[str, Any]:
    """What Lambda sends a stream mapping's on-failure destination: the batch's location, no records.

    Shape of https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html (an invocation
    record with requestContext and DDBStreamBatchInfo).
    """
    def arrival(r: dict[str, Any]) -> str:
        return _iso(int(r.get("dynamodb", {}).get("ApproximateCreationDateTime") or now))

    return {
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invokes},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0].get("dynamodb", {}).get("SequenceNumber", ""),
            "endSequenceNumber": records[-1].get("dynamodb", {}).get("SequenceNumber", ""),
            "approximateArrivalOfFirstRecord": arrival(records[0]),
            "approximateArrivalOfLastRecord": arrival(records[-1]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A stream record as Lambda delivers it: JSON values, the real region (moto says us-east-1)."""
    out = _jsonable(dict(record))
    out["awsRegion"] = region
    out["eventSourceARN"] = stream_arn
    out.setdefault("eventSource", "aws:dynamodb")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def stream_handler_adapter(handler: Handler, function_name: str, timeout_s: float = 10.0, stream_arn: str = "",
                           window_s: int = TALLY_TUMBLING_WINDOW_S, clock: Callable[[], float] = time.time
                           ) -> Callable[[list[dict[str, Any]], str], None]:
    """Turns a Lambda stream handler into an on_batch callback; a reported failure fails the batch.

    Events look like those of a mapping with a tumbling window (as the deployer sets on the tally):
    `shardId`, `eventSourceARN`, `window` and the `state` the handler returned earlier in the same
    window of that shard, so the local runtime runs the handler's per-shard path as AWS does.
    """
    states: dict[str, tuple[int, dict[str, Any]]] = {}

    def on_batch(records: list[dict[str, Any]], shard_id: str) -> None:
        start = int(clock() // window_s * window_s)
        kept = states.get(shard_id)
        event = {"Records": records, "shardId": shard_id, "eventSourceARN": stream_arn,
                 "window": {"start": _iso(start), "end": _iso(start + window_s)},
                 "state": dict(kept[1]) if kept and kept[0] == start else {},
                 "isFinalInvokeForWindow": False, "isWindowTerminatedEarly": False}
        result = handler(event, LambdaContext(function_name, timeout_s))
        if isinstance(result, Mapping) and result.get("batchItemFailures"):
            raise RuntimeError(f"{function_name} reported {len(result['batchItemFailures'])} failed records")
        if isinstance(result, Mapping) and isinstance(result.get("state"), Mapping):
            states[shard_id] = (start, dict(result["state"]))

    return on_batch


def _iso(epoch_s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
