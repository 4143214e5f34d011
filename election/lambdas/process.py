"""Votes queue -> ballots: authenticate, mix, and one conditional PutItem per ballot.

Mixing (README, "Ballot secrecy"): the event source mapping gathers up to a few
thousand votes over the plan's window (secrecy.window_s); the batch's authentic
votes are written in a uniformly random order (secrets.SystemRandom), all with
the same coarse time `t`, and a ballot carries nothing else that orders it (the
nonce is random). So the ballots table, its stream and point-in-time restores
show which batch a ballot came in, never where in the batch its vote arrived.
The state is on the ballot, so what hides a voter is the ballots of their state
in the batch: a state with fewer than k votes in the batch is deferred (failed
back to the queue, visible again after one window, metric `Deferred`) up to
MIX_DEFER_ROUNDS times, then written with whatever joined it; once the polls
are closed nothing is deferred (logic.deferred_states).

Refused (left to fail -> retries -> dead-letter queue, metric `Refused`): a
message whose tag does not verify under the plan's queue key (only the pipeline
can read it), whose state is not homed in this region, or whose candidate is not
on that state's ballot. Once the election is final (`close` recorded the final
tally) every message is refused (metric `RefusedFinal`): nothing changes the
results after close.

Per ballot: the key is new -> recorded. It exists -> the stored nonce tells a
redelivery of this very message (acknowledge) from a second vote by the same
voter (acknowledge, count as a rejected duplicate). Any other failure is
reported for that message only, so SQS retries it and finally dead-letters it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.config

from election.lambdas import common, contract, counting, keys, logic
from election.lambdas.metrics import Metrics

Handler = Callable[[dict, Any], dict]

WRITERS = 16   # parallel PutItems: a batch of 1,000 is written in well under a second
_CONFIG = botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"},
                                 max_pool_connections=WRITERS)
NO_CONTEXT_REMAINING_S = 10.0   # a test's call without a Lambda context: assume the plan's usual timeout


class Process:
    """One region's process function."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.time,
                 rng: Any = None) -> None:
        self.cfg = common.load_config(env)
        session = common.new_session()
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_CONFIG, session=session)
        self.key = keys.QueueKey(common.make_client(self.cfg, "secretsmanager", session=session),
                                 env.get(contract.ENV_QUEUE_KEY_SECRET, ""))
        self.min_mix = int(env.get(contract.ENV_MIX_MIN) or 1)
        self.window_s = int(env.get(contract.ENV_MIX_WINDOW) or 0)
        self.defer_rounds = int(env.get(contract.ENV_MIX_DEFER) or 0)
        self.sqs = common.make_client(self.cfg, "sqs", config=_CONFIG, session=session)
        self.clock = clock
        self.rng = rng or secrets.SystemRandom()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __call__(self, event: dict, context: Any = None) -> dict:
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Function": "process"})
        records = event.get("Records", [])
        try:
            polls = self.polls()
            final = counting.is_final(polls)
            message_key, ballot_key = self.key.message, self.key.ballot
        except Exception as exc:  # noqa: BLE001 - polls item or key unreadable: retry the whole batch
            metrics.add("Failed", len(records))
            metrics.props["error"] = common.error_code(exc)[:64]
            metrics.emit()
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
        if final:
            metrics.add("RefusedFinal", len(records))
            metrics.props["refused"] = (f"The election is final (closed and tallied): {len(records)} vote(s) "
                                        "refused and left in the queue.")
            metrics.emit()
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
        failures: list[str] = []
        refused: dict[str, int] = {}
        votes: list[tuple[str, logic.Vote]] = []
        by_id = {r["messageId"]: r for r in records}
        for record in records:
            mid = record["messageId"]
            try:
                vote = logic.parse_vote(record.get("body", ""))
            except ValueError:
                metrics.add("Poisoned")
                failures.append(mid)
                continue
            why = logic.refusal(vote, message_key, self.cfg.region, self.cfg.state_regions,
                                self.cfg.ballot.for_state(vote.state))
            if why:
                metrics.add("Refused")
                refused[why] = refused.get(why, 0) + 1
                failures.append(mid)
                continue
            votes.append((mid, vote))
        if refused:   # one searchable sentence per batch: why, never who
            metrics.props["refused"] = "Refused vote messages: " + "; ".join(
                f"{why} ({n})" for why, n in sorted(refused.items())) + "."
        votes = self._defer(votes, by_id, closing=polls.get("open", True) is False, metrics=metrics,
                            failures=failures)
        self.rng.shuffle(votes)   # the order of arrival is gone from here on
        remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else NO_CONTEXT_REMAINING_S
        t = logic.batch_time(self.clock(), remaining)
        for (mid, _), outcome in zip(votes, self._writers().map(lambda mv: self.apply(mv[1], ballot_key, t), votes)):
            metrics.add(outcome)
            if outcome == "Failed":
                failures.append(mid)
        metrics.add("Mixed", len(votes))
        if 0 < len(votes) < self.min_mix:
            metrics.add("SmallBatches")   # fewer than k votes in the window: the batch is the whole mix
        metrics.emit()
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    def polls(self) -> dict[str, Any]:
        """The polls item (plain values; {} = open): one consistent read per batch.

        Final (closed and tallied): refuse everything. Closed: defer nothing (the rest is the last mix).
        Strongly consistent on purpose (one read unit per batch, not per vote): right after `close`
        records the final tally, an eventually consistent read could still say open and let a late
        ballot in after the result was declared.
        """
        item = self.ddb.get_item(TableName=self.cfg.results_table, ConsistentRead=True,
                                 Key={contract.RESULTS_KEY: {"S": contract.POLLS_ITEM}}).get("Item") or {}
        return {k: common.plain(v) for k, v in item.items()}

    def _defer(self, votes: list[tuple[str, logic.Vote]], records: Mapping[str, dict], closing: bool,
               metrics: Metrics, failures: list[str]) -> list[tuple[str, logic.Vote]]:
        """Hold back the votes of states short of k in this batch; returns the votes to write now."""
        receives: dict[str, list[int]] = {}
        for mid, vote in votes:
            attrs = records[mid].get("attributes") or {}
            receives.setdefault(vote.state, []).append(int(attrs.get("ApproximateReceiveCount") or 1))
        held = logic.deferred_states(receives, self.min_mix, self.defer_rounds, closing)
        if not held:
            return votes
        keep, handles = [], []
        for mid, vote in votes:
            if vote.state in held:
                failures.append(mid)
                metrics.add("Deferred")
                handles.append(records[mid].get("receiptHandle"))
            else:
                keep.append((mid, vote))
        self._come_back([h for h in handles if h])
        return keep

    def _come_back(self, handles: list[str]) -> None:
        """Make deferred votes visible again after one window (not the queue's longer visibility timeout)."""
        url = self.cfg.votes_queue_urls.get(self.cfg.region)
        for i in range(0, len(handles) if url else 0, 10):   # ChangeMessageVisibilityBatch: 10 per call
            entries = [{"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": max(1, self.window_s)}
                       for j, h in enumerate(handles[i:i + 10])]
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            except Exception:  # noqa: BLE001, S110 - they come back after the visibility timeout instead
                pass

    def _writers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="process-write")
            return self._pool

    def apply(self, vote: logic.Vote, ballot_key: bytes, t: str) -> str:
        """Write one ballot; the outcome name is also the metric name."""
        try:
            self.ddb.put_item(TableName=self.cfg.ballots_table, Item=vote.item(ballot_key, t),
                              ConditionExpression="attribute_not_exists(#k)",
                              ExpressionAttributeNames={"#k": contract.BALLOTS_KEY},
                              ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return "Recorded"
        except self.ddb.exceptions.ConditionalCheckFailedException as exc:
            existing = exc.response.get("Item") or self._read(vote.bk)
        except Exception:  # noqa: BLE001 - throttling, timeouts...: retry this message only
            return "Failed"
        if existing is None:
            return "Failed"   # vanished between put and read: let SQS retry
        return "Redelivered" if existing.get("nonce", {}).get("S") == vote.nonce else "Duplicates"

    def _read(self, bk: str) -> dict | None:
        """The ballot that beat this one (only when the failed put did not return it): strongly consistent,
        because the conditional put has just seen the item, and a stale "not found" would fail the message
        into a retry; its nonce decides redelivery (acknowledge) against a second vote (duplicate)."""
        try:
            resp = self.ddb.get_item(TableName=self.cfg.ballots_table, Key={contract.BALLOTS_KEY: {"S": bk}},
                                     ConsistentRead=True)
        except Exception:  # noqa: BLE001
            return None
        return resp.get("Item")


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's process handler from its environment."""
    return Process(env)


handler = common.LazyHandler(make_handler)
