"""Ballots stream -> this region's counter items, exactly once per ballot.

Per batch: read the shard's checkpoint, keep the INSERTs of ballots homed in
this region that lie after it, and apply their counts in one TransactWriteItems
that also moves the checkpoint forward under a condition on its old value. A
replayed batch finds the checkpoint already past its records and adds nothing;
a concurrent replay loses the condition race and re-reads. More than 99 states
in a batch are split into several transactions, each advancing the checkpoint
to its own last record.

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

from election.lambdas import common, contract, logic

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
        metrics = common.Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Function": "tally"})
        records = event.get("Records", [])
        shard = str(event.get("shardId") or DEFAULT_SHARD)
        failures = self.apply(records, shard, metrics)
        metrics.add("Records", len(records))
        metrics.emit()
        # `state` is required in the answer when the mapping uses a tumbling window; harmless otherwise.
        return {"batchItemFailures": failures, "state": {}}

    def apply(self, records: list[dict], shard: str, metrics: common.Metrics) -> list[dict[str, str]]:
        """Count the batch; on failure, the first record not yet applied (Lambda resumes there)."""
        original = {int(r["dynamodb"]["SequenceNumber"]): r["dynamodb"]["SequenceNumber"] for r in records}
        cp_key = logic.checkpoint_pk(self.cfg.region, shard)
        for _ in range(5):
            try:
                checkpoint = self._checkpoint(cp_key)
            except Exception:  # noqa: BLE001 - nothing applied yet: retry the whole batch
                return [{"itemIdentifier": original[min(original)]}] if original else []
            counted = logic.select_records(records, self.cfg.region, checkpoint, self.clock())
            replayed = sum(1 for s in original if checkpoint is not None and s <= checkpoint)
            lost_race = False
            for chunk in logic.chunk_counts(counted, self.max_items):
                try:
                    self._transact(cp_key, shard, chunk, checkpoint)
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
                checkpoint = chunk.last_seq
                metrics.add("Counted", sum(chunk.counts.values()))
                metrics.add("Transactions")
            if not lost_race:
                metrics.add("Replayed", replayed)
                return []
        return [{"itemIdentifier": original[min(original)]}] if original else []

    def _checkpoint(self, cp_key: str) -> int | None:
        resp = self.ddb.get_item(TableName=self.cfg.results_table, Key={contract.RESULTS_KEY: {"S": cp_key}},
                                 ConsistentRead=True)
        seq = resp.get("Item", {}).get("seq", {}).get("S")
        return int(seq) if seq else None

    def _transact(self, cp_key: str, shard: str, chunk: logic.Chunk, checkpoint: int | None) -> None:
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
                                     ":rg": {"S": self.cfg.region}, ":sh": {"S": shard}, ":ua": {"S": now}}
        if checkpoint is None:
            condition = "attribute_not_exists(#seq)"
        else:
            condition = "#seq = :old"
            cp_values[":old"] = {"S": logic.pad_seq(checkpoint)}
        items.append({"Update": {
            "TableName": self.cfg.results_table,
            "Key": {contract.RESULTS_KEY: {"S": cp_key}},
            "UpdateExpression": "SET #seq = :new, #th = :th, #rg = :rg, #sh = :sh, #ua = :ua",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#seq": "seq", "#th": "through", "#rg": "region", "#sh": "shard",
                                         "#ua": "updated_at"},
            "ExpressionAttributeValues": cp_values}})
        self.ddb.transact_write_items(TransactItems=items)


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's tally handler from its environment."""
    return Tally(env)


handler = common.LazyHandler(make_handler)
