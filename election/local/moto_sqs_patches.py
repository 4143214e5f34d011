"""The SQS patches of moto 5.2.5 that the local runtime applies (never on AWS); moto_patches.apply() applies them.

Split from moto_patches.py by concern (the DynamoDB and moto core patches stay there); each
patch removes an O(n) cost measured on this machine (DESIGN §4, bench/local_pipeline.py) or,
for `region_outage`, plays a region's outage:

- `sqs_send_counters`: SendMessage reads `queue.attributes` only for
  ContentBasedDeduplication, which computes the three ApproximateNumber*
  counters by scanning every message. While sending, `attributes` answers
  just that one key.
- `sqs_retention_check`: ReceiveMessage calls get_queue_attributes (nine
  scans) per returned message for the retention period; read the field.
- `sqs_lazy_visible`: ReceiveMessage built the list of every visible message
  before taking ten; `messages` is now a lazy view (iteration stops early,
  len() and truthiness still work for the counters and long polling).
- `sqs_delete_single_pass`: DeleteMessage scanned the queue twice and
  rebuilt the whole list; find the message once and delete it in place.
- `region_outage`: lets the runtime make a region's queues refuse messages
  (503) while that region is "down", so other regions see the outage and
  use their hand-off queues, as they would on AWS. It answers a
  non-retryable error at once, so callers fail over without backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_cheap = threading.local()
DOWN_REGIONS: set[str] = set()   # regions whose queues answer 503 (stack.py's drill adds and discards)


# --- SQS -------------------------------------------------------------------------------

def sqs_send_counters() -> None:
    from moto.sqs.models import Queue, SQSBackend

    full_attributes = vars(Queue)["attributes"].fget   # the property object itself, not its value

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(_cheap, "on", False):
            return {"ContentBasedDeduplication": self.content_based_deduplication}
        return full_attributes(self)

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]

    def cheap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _cheap.on = True
            try:
                return fn(*args, **kwargs)
            finally:
                _cheap.on = False
        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    SQSBackend.send_message = cheap(SQSBackend.send_message)  # type: ignore[method-assign]
    SQSBackend.send_message_batch = cheap(SQSBackend.send_message_batch)  # type: ignore[method-assign]


def sqs_retention_check() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_valid(self: Any, queue_name: str, message: Any) -> bool:
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_valid  # type: ignore[method-assign]


class _VisibleMessages:
    """The visible, undelayed messages of a queue, computed as they are iterated."""

    __slots__ = ("_all",)

    def __init__(self, messages: list[Any]) -> None:
        self._all = messages

    def __iter__(self) -> Any:
        return (m for m in self._all if m.visible and not m.delayed)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None


def sqs_lazy_visible() -> None:
    from moto.sqs.models import Queue

    Queue.messages = property(lambda self: _VisibleMessages(self._messages))  # type: ignore[assignment]


def sqs_delete_single_pass() -> None:
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return
        for i, message in enumerate(self._messages):
            if message.had_receipt_handle(receipt_handle):
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                del self._messages[i]
                return
        raise ReceiptHandleIsInvalid()

    Queue.delete_message = delete_message  # type: ignore[method-assign]


def region_outage() -> None:
    import warnings

    from moto.sqs.exceptions import SQSException
    from moto.sqs.models import SQSBackend

    warnings.filterwarnings("ignore", message=r".*code ServiceUnavailable does not match an error shape")

    def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.region_name in DOWN_REGIONS:
                raise SQSException("ServiceUnavailable", f"The region {self.region_name} is down (local drill).")
            return fn(self, *args, **kwargs)
        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    SQSBackend.send_message = guard(SQSBackend.send_message)  # type: ignore[method-assign]
    SQSBackend.send_message_batch = guard(SQSBackend.send_message_batch)  # type: ignore[method-assign]
