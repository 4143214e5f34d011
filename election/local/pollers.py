"""The event source mappings, played locally: SQS queues and DynamoDB streams feeding handlers.

An `SqsPoller` behaves like Lambda's SQS mapping with ReportBatchItemFailures:
it receives up to `batch_size` messages (the queue's visibility timeout then
hides them), calls the handler with an SQS event, deletes what succeeded and
leaves the failures to reappear after the visibility timeout. After
`maxReceiveCount` receives, moto's own redrive moves a message to the
dead-letter queue on the next receive (verified in tests/test_local_pollers.py).
The stream mapping is election/local/streampoller.py.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
