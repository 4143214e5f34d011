"""Inspect and replay dead-lettered votes.

Listing never consumes: messages are received with a visibility timeout and
released again at once. Redrive sends each message back to the queue it came
from, then deletes it from the dead-letter queue; a crash between the two
sends a vote twice, which the process handler recognises by its nonce.
Nothing shown contains a voter ID (vote messages carry only the ballot key).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from election.errors import ElectionError
from election.ops import polls
from election.ops.target import Target

HOLD_S = 30            # how long a listed message stays hidden before we release it again


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message, described without anything that identifies a voter."""

    region: str
    queue: str
    message_id: str
    receipt: str | None       # the ballot key (the voter's receipt), if the body is a vote
    state: str | None
    candidate: str | None
    receives: int
    sent_at: float
    readable: bool
    batch: dict[str, Any] | None = None   # a tally failure: the stream batch's location (DDBStreamBatchInfo)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _describe(region: str, queue: str, msg: dict[str, Any]) -> DeadLetter:
    attrs = msg.get("Attributes", {})
    try:
        body = json.loads(msg["Body"])
        ok = isinstance(body, dict) and "bk" in body
    except ValueError:
        body, ok = {}, False
    return DeadLetter(region=region, queue=queue, message_id=msg["MessageId"],
                      receipt=body.get("bk") if ok else None, state=body.get("state") if ok else None,
                      candidate=body.get("candidate") if ok else None,
                      receives=int(attrs.get("ApproximateReceiveCount", 0)),
                      sent_at=int(attrs.get("SentTimestamp", 0)) / 1000, readable=ok)


def _drain_receive(target: Target, region: str, queue: str, hold: int) -> Iterator[dict[str, Any]]:
    """Receive every message currently visible in `queue`, hiding each for `hold` seconds."""
    sqs = target.client("sqs", region)
    url = target.queue_url(region, queue)
    # On AWS a short poll samples a subset of SQS hosts and may answer empty while messages exist;
    # a long poll asks them all. moto is exact, so the local stack and tests need not wait.
    wait = 1 if target.plan.target == "aws" and not target.provider.endpoint_url else 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=hold,
                                  WaitTimeSeconds=wait, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return
        yield from got


def _regions(target: Target, region: str | None) -> tuple[str, ...]:
    if region is None:
        return target.plan.region_names
    if region not in target.plan.region_names:
        raise ElectionError(f"{region} is not a region of plan '{target.plan.name}' "
                            f"(its regions: {', '.join(target.plan.region_names)}).")
    return (region,)


def _describe_tally_failure(region: str, queue: str, msg: dict[str, Any]) -> DeadLetter:
    """A batch the tally's stream mapping gave up on: Lambda sends where it was, not the ballots in it."""
    out = _describe(region, queue, msg)
    try:
        info = json.loads(msg["Body"]).get("DDBStreamBatchInfo")
    except (ValueError, AttributeError):
        info = None
    return DeadLetter(**{**out.__dict__, "readable": False, "batch": info if isinstance(info, dict) else None})


def list_dead_letters(target: Target, region: str | None = None) -> list[DeadLetter]:
    """Every message in the dead-letter and tally-failures queues (of one region or all), left in place."""
    out: list[DeadLetter] = []
    for r in _regions(target, region):
        sqs = target.client("sqs", r)
        held = list(_drain_receive(target, r, target.names.tally_failures, HOLD_S))
        out.extend(_describe_tally_failure(r, target.names.tally_failures, m) for m in held)
        _release(sqs, target.queue_url(r, target.names.tally_failures), [m["ReceiptHandle"] for m in held])
        for dlq in target.names.dead_letter_queues:
            held = list(_drain_receive(target, r, dlq, HOLD_S))
            out.extend(_describe(r, dlq, m) for m in held)
            _release(sqs, target.queue_url(r, dlq), [m["ReceiptHandle"] for m in held])
    return sorted(out, key=lambda d: (d.region, d.queue, d.sent_at))


def _release(sqs: Any, url: str, handles: list[str]) -> None:
    for i in range(0, len(handles), 10):
        entries = [{"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0} for j, h in enumerate(handles[i:i + 10])]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def redrive(target: Target, region: str | None = None,
            on_moved: Callable[[int], None] = lambda n: None) -> dict[str, int]:
    """Move every readable dead-lettered vote back to its source queue; returns moved per region.

    Refused once the election is final (`close` recorded the final tally): nothing changes the
    results after close, and the messages stay where they are.
    """
    regions = _regions(target, region)
    if polls.is_final(target.provider, target.plan):
        raise ElectionError(f"The election of plan '{target.plan.name}' is closed and final: dead-lettered votes "
                            "can no longer be counted, and they stay where they are.")
    moved: dict[str, int] = {}
    for r in regions:
        sqs = target.client("sqs", r)
        moved[r] = 0
        for dlq, source in target.names.dead_letter_queues.items():
            dlq_url, src_url = target.queue_url(r, dlq), target.queue_url(r, source)
            unreadable: list[str] = []
            batch: list[dict[str, Any]] = []
            for msg in _drain_receive(target, r, dlq, 120):
                if not _describe(r, dlq, msg).readable:
                    unreadable.append(msg["ReceiptHandle"])
                    continue
                batch.append(msg)
                if len(batch) == 10:
                    n = _move(sqs, src_url, dlq_url, batch)
                    moved[r] += n
                    on_moved(n)
                    batch = []
            if batch:
                n = _move(sqs, src_url, dlq_url, batch)
                moved[r] += n
                on_moved(n)
            _release(sqs, dlq_url, unreadable)   # not votes: leave them for a human to look at
    return moved


def _move(sqs: Any, src_url: str, dlq_url: str, msgs: list[dict[str, Any]]) -> int:
    """Send up to 10 messages back to the source queue, then delete those that were sent."""
    sent = sqs.send_message_batch(QueueUrl=src_url, Entries=[
        {"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(msgs)])
    ok = {int(e["Id"]) for e in sent.get("Successful", [])}
    if ok:
        sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
            {"Id": str(i), "ReceiptHandle": msgs[i]["ReceiptHandle"]} for i in sorted(ok)])
    failed = [m["ReceiptHandle"] for i, m in enumerate(msgs) if i not in ok]
    if failed:
        _release(sqs, dlq_url, failed)
    return len(ok)


def age(dl: DeadLetter, now: Callable[[], float] = time.time) -> float:
    return max(0.0, now() - dl.sent_at)


def purge(target: Target) -> None:
    """Empty every dead-letter queue of every region (`close --force`, after counting what it leaves out).

    Messages are received and deleted rather than PurgeQueue'd: AWS allows one PurgeQueue per queue
    every 60 seconds and may take up to 60 seconds to finish one.
    """
    for r in target.plan.region_names:
        sqs = target.client("sqs", r)
        for q in target.names.dead_letter_queues:
            url = target.queue_url(r, q)
            held = [m["ReceiptHandle"] for m in _drain_receive(target, r, q, 120)]
            for i in range(0, len(held), 10):
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(j), "ReceiptHandle": h} for j, h in enumerate(held[i:i + 10])])
