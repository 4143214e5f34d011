"""Ballots stream -> this region's counter items, exactly once per ballot.

Per batch: read the shard's checkpoint, keep the INSERTs of ballots homed in
this region that lie after it, and apply their counts in one TransactWriteItems
that also moves the checkpoint forward under a condition on its old value. A
replayed batch finds the checkpoint already past its records and adds nothing;
a concurrent replay loses the condition race and re-reads. More than 99 states
in a batch are split into several transactions, each advancing the checkpoint
to its own last record.

Re-delivered and duplicated records are never counted twice, whatever the
source does. Lambda's event source mappings "process each event at least once,
and duplicate processing of records can occur" (Lambda developer guide, How
Lambda processes records from stream and queue-based event sources), although
DynamoDB Streams itself shows each record once. So: within a batch, a record
repeated (same sequence number and eventID) or a second INSERT of one ballot
key is dropped; across batches the checkpoint skips what is at or before it.
The checkpoint also keeps the eventIDs it passed at its own sequence number,
so a distinct record that an emulator gave the same number (moto did, before
election/local/moto_patches.py's dynamodb_atomic_writes) is counted, never
skipped; a record repeated at that number is recognised by its eventID.

The shard id comes from the event's `shardId`, which Lambda includes when the
event source mapping has a tumbling window (contract.TALLY_TUMBLING_WINDOW_S);
without it every record is treated as one shard (exact when the stream has one
shard, as on the local stack).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common, contract, counting, logic
from election.lambdas.metrics import Metrics

Handler = Callable[[dict, Any], dict]

_CONFIG = botocore.config.Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 4, "mode": "standard"})
DEFAULT_SHARD = "all"


class Tally:
    """One region's tally function."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self.cfg = common.load_config(env)
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_CONFIG)
        self.clock = clock
        self.max_items = logic.MAX_TRANSACTION_ITEMS

    def __call__(self, event: dict, context: Any = None) -> dict:
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Function": "tally"})
        records = event.get("Records", [])
        shard = str(event.get("shardId") or DEFAULT_SHARD)
        failures = self.apply(records, shard, metrics)
        metrics.add("Records", len(records))
        metrics.emit()
        # `state` is required in the answer when the mapping uses a tumbling window; harmless otherwise.
        return {"batchItemFailures": failures, "state": {}}

    def apply(self, records: list[dict], shard: str, metrics: Metrics) -> list[dict[str, str]]:
        """Count the batch; on failure, the first record not yet applied (Lambda resumes there)."""
        original = {int(r["dynamodb"]["SequenceNumber"]): r["dynamodb"]["SequenceNumber"] for r in records}
        unique = unique_records(records)
        if len(unique) < len(records):
            metrics.add("DuplicateRecords", len(records) - len(unique))
        cp_key = logic.checkpoint_pk(self.cfg.region, shard)
        for _ in range(5):
            try:
                checkpoint, passed = self._checkpoint(cp_key)
            except Exception:  # noqa: BLE001 - nothing applied yet: retry the whole batch
                return [{"itemIdentifier": original[min(original)]}] if original else []
            fresh = after_checkpoint(unique, checkpoint, passed)
            counted, event_ids = self._select(fresh)
            replayed = len(unique) - len(fresh)
            lost_race = False
            done = 0
            for chunk in counting.chunk_counts(counted, self.max_items):
                done += sum(chunk.counts.values())
                at_last = {event_ids[i] for i in range(done) if counted[i].seq == chunk.last_seq}
                if checkpoint is not None and chunk.last_seq == checkpoint and passed:
                    at_last |= passed   # still at the old number: what was passed there stays passed
                try:
                    self._transact(cp_key, shard, chunk, checkpoint, sorted(at_last))
                except self.ddb.exceptions.TransactionCanceledException as exc:
                    reasons = logic.transaction_reasons(exc)
                    if reasons and reasons[-1] == "ConditionalCheckFailed":
                        lost_race = True   # someone else moved the checkpoint: re-read and re-select
                        metrics.add("CheckpointConflicts")
                        break
                    metrics.add("Failed")
                    return [{"itemIdentifier": original[chunk.first_seq]}]
                except Exception:  # noqa: BLE001
                    metrics.add("Failed")
                    return [{"itemIdentifier": original[chunk.first_seq]}]
                checkpoint, passed = chunk.last_seq, at_last
                metrics.add("Counted", sum(chunk.counts.values()))
                metrics.add("Transactions")
            if not lost_race:
                metrics.add("Replayed", replayed)
                return []
        return [{"itemIdentifier": original[min(original)]}] if original else []

    def _select(self, records: list[dict]) -> tuple[list[counting.Counted], list[str]]:
        """The ballots to count (in stream order) and the eventID of each."""
        now = self.clock()            # the fallback creation time, one per batch
        pairs = [(c, str(r.get("eventID", ""))) for r in records
                 for c in counting.select_records([r], self.cfg.region, None, now)]
        pairs.sort(key=lambda p: p[0].seq)
        return [c for c, _ in pairs], [e for _, e in pairs]

    def _checkpoint(self, cp_key: str) -> tuple[int | None, set[str] | None]:
        """The shard's checkpoint: the last counted sequence number and the eventIDs passed at it
        (None for a checkpoint written before eventIDs were kept: everything at its number was passed)."""
        resp = self.ddb.get_item(TableName=self.cfg.results_table, Key={contract.RESULTS_KEY: {"S": cp_key}},
                                 ConsistentRead=True)
        item = resp.get("Item", {})
        seq = item.get("seq", {}).get("S")
        passed = {v.get("S", "") for v in item["ids"].get("L", [])} if "ids" in item else None
        return (int(seq) if seq else None), passed

    def _transact(self, cp_key: str, shard: str, chunk: counting.Chunk, checkpoint: int | None,
                  at_last: list[str]) -> None:
        now = common.now_iso(self.clock)
        items: list[dict[str, Any]] = []
        by_state: dict[str, dict[str, int]] = {}
        for (state, candidate), n in chunk.counts.items():
            by_state.setdefault(state, {})[candidate] = n
        for state, counts in sorted(by_state.items()):
            names = {"#st": "state", "#rg": "region", "#ua": "updated_at"}
            values: dict[str, Any] = {":st": {"S": state}, ":rg": {"S": self.cfg.region}, ":ua": {"S": now}}
            adds = []
            for i, (candidate, n) in enumerate(sorted(counts.items())):
                names[f"#c{i}"] = logic.counter_attr(candidate)
                values[f":n{i}"] = {"N": str(n)}
                adds.append(f"#c{i} :n{i}")
            items.append({"Update": {
                "TableName": self.cfg.results_table,
                "Key": {contract.RESULTS_KEY: {"S": logic.counter_pk(state, self.cfg.region)}},
                "UpdateExpression": "ADD " + ", ".join(adds) + " SET #st = :st, #rg = :rg, #ua = :ua",
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}})
        cp_values: dict[str, Any] = {":new": {"S": logic.pad_seq(chunk.last_seq)}, ":th": {"N": str(chunk.through)},
                                     ":rg": {"S": self.cfg.region}, ":sh": {"S": shard}, ":ua": {"S": now},
                                     ":ids": {"L": [{"S": e} for e in at_last]}}
        if checkpoint is None:
            condition = "attribute_not_exists(#seq)"
        else:
            condition = "#seq = :old"
            cp_values[":old"] = {"S": logic.pad_seq(checkpoint)}
        items.append({"Update": {
            "TableName": self.cfg.results_table,
            "Key": {contract.RESULTS_KEY: {"S": cp_key}},
            "UpdateExpression": "SET #seq = :new, #ids = :ids, #th = :th, #rg = :rg, #sh = :sh, #ua = :ua",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#seq": "seq", "#ids": "ids", "#th": "through", "#rg": "region",
                                         "#sh": "shard", "#ua": "updated_at"},
            "ExpressionAttributeValues": cp_values}})
        self.ddb.transact_write_items(TransactItems=items)


def _seq(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def unique_records(records: list[dict]) -> list[dict]:
    """The batch without repeats: a record seen before (sequence number and eventID), or a second INSERT of a
    ballot key (a ballot is written once, by a conditional put, so one key has one INSERT)."""
    seen: set[tuple[int, str]] = set()
    ballots: set[str] = set()
    out = []
    for r in records:
        ident = (_seq(r), str(r.get("eventID", "")))
        if ident in seen:
            continue
        seen.add(ident)
        if r.get("eventName") == "INSERT":
            key = ((r.get("dynamodb") or {}).get("Keys") or {}).get(contract.BALLOTS_KEY, {}).get("S")
            if key is not None:
                if key in ballots:
                    continue
                ballots.add(key)
        out.append(r)
    return out


def after_checkpoint(records: list[dict], checkpoint: int | None, passed: set[str] | None) -> list[dict]:
    """The records not yet passed: after the checkpoint, or at it with an eventID not passed there."""
    if checkpoint is None:
        return list(records)
    return [r for r in records if _seq(r) > checkpoint or (
        _seq(r) == checkpoint and passed is not None and str(r.get("eventID", "")) not in passed)]


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's tally handler from its environment."""
    return Tally(env)


handler = common.LazyHandler(make_handler)
