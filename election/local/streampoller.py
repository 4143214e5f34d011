"""The DynamoDB stream event source mapping, played locally (the tally's, and the replicator's reader).

A `StreamPoller` plays the stream mapping: batches in order per shard, a
failed batch is retried (same records, same order) until it succeeds, or, with
`max_retries` / `max_record_age_s` set as the deployer sets them on the tally,
until those run out: then, like Lambda, it sends the batch's location (not its
records) to `on_failure` and moves on. Unlike Lambda it does not bisect first.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from election.lambdas.contract import TALLY_TUMBLING_WINDOW_S
from election.local.pollers import Handler, LambdaContext, Poller

log = logging.getLogger("election.local")


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
    """A stream record as Lambda delivers it: JSON values, the real region (moto says us-east-1).

    The copy is needed even after DirectStreams': that one copies two levels, so the images are still moto's
    own, which the shard's other readers (tally, replicator) and later reads get too; a handler may change its
    event, as on Lambda (tests/test_local_exactly_once.py, a handler that changes its event).
    """
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
