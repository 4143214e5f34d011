"""Global tables, played locally: every write to a region's table is applied to the others.

moto accepts ReplicaUpdates but replicates nothing, so the local runtime tails
each regional table's stream and replays its changes on the same table in
the other regions (puts of the new image, deletes of the key): last writer
wins, as with global tables. The replayed writes show up in the target's own
stream, as they do on AWS; the replicator recognises its own echoes (a
multiset of the images it wrote) and does not send them back.

Never a stale image (issue 14): a record at or before the last one replicated
from that source (a re-delivery) is skipped, and of the changes to one key in
a batch only the newest is applied, so an older image never lands after a
newer one. Before moto's stream numbers were made unique
(moto_patches.dynamodb_atomic_writes), a re-delivered echo was written back
to its source as a stale copy: a counter or checkpoint item went back in time.

Where this differs from AWS: global tables resolve concurrent writes to one
key in two regions by last writer wins on the write time; here the last change
applied wins. The election never writes one key in two regions (each region
writes only its own ballots and counter items), so the two agree for it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from election.local.pollers import StreamPoller


def _signature(kind: str, value: Mapping[str, Any]) -> str:
    return kind + json.dumps(value, sort_keys=True, default=str)


class Replicator:
    """Replicates `tables` ({logical name: {region: (table name, stream ARN)}}) across regions."""

    def __init__(self, provider: Any, tables: Mapping[str, Mapping[str, tuple[str, str]]]) -> None:
        self.provider = provider
        self.tables = tables
        self.replicated = 0
        self._echoes: dict[tuple[str, str], Counter[str]] = {}
        self._high: dict[tuple[str, str], int] = {}   # (table, source region) -> last sequence number replicated
        self._lock = threading.Lock()
        self.pollers: list[StreamPoller] = []
        for logical, per_region in tables.items():
            for region, (_, stream_arn) in per_region.items():
                self.pollers.append(StreamPoller(
                    f"replicate-{logical}-{region}", provider.client("dynamodbstreams", region), stream_arn, region,
                    on_batch=self._applier(logical, region), window_s=0.05))

    def pollers_for(self, region: str) -> list[StreamPoller]:
        return [p for p in self.pollers if p.region == region]

    def start(self) -> None:
        for p in self.pollers:
            p.start()

    def stop(self) -> None:
        for p in self.pollers:
            p.stop()

    def _applier(self, logical: str, source: str) -> Any:
        def apply(records: list[dict[str, Any]], shard_id: str) -> None:
            self.apply(logical, source, records)
        return apply

    def apply(self, logical: str, source: str, records: list[dict[str, Any]]) -> None:
        """Replay `records` of `source`'s copy of table `logical` on every other region's copy."""
        high = self._high.get((logical, source), -1)
        newest: dict[str, tuple[str, dict[str, Any]]] = {}   # key -> (signature, change), newest last
        taken: list[str] = []   # echoes recognised in this batch, given back if the batch fails (it is retried)
        last = high
        for record in records:
            change = record.get("dynamodb", {})
            seq = int(change.get("SequenceNumber") or 0)
            if seq <= high:
                continue   # re-delivered: already replicated, and older than what followed it
            last = max(last, seq)
            if record.get("eventName") == "REMOVE":
                sig = _signature("-", change.get("Keys", {}))
            else:
                image = change.get("NewImage")
                if image is None:   # a KEYS_ONLY or OLD_IMAGE stream cannot be replicated
                    continue
                sig = _signature("+", image)
            key = _signature("", change.get("Keys", {}))
            if self._take_echo(logical, source, sig):
                taken.append(sig)
                newest.pop(key, None)   # an echo of our own write is newer than anything before it
                continue
            newest.pop(key, None)
            newest[key] = (sig, change)
        try:
            for sig, change in newest.values():
                self._write(logical, source, sig, change)
        except Exception:
            for sig in taken:
                self._expect_echo(logical, source, sig)
            raise
        self._high[(logical, source)] = last

    def _write(self, logical: str, source: str, sig: str, change: dict[str, Any]) -> None:
        for target, (table_name, _) in self.tables[logical].items():
            if target == source:
                continue
            self._expect_echo(logical, target, sig)
            ddb = self.provider.client("dynamodb", target)
            try:
                if sig[0] == "-":
                    ddb.delete_item(TableName=table_name, Key=change["Keys"])
                else:
                    ddb.put_item(TableName=table_name, Item=change["NewImage"])
            except Exception:
                self._take_echo(logical, target, sig)
                raise
            self.replicated += 1

    def _expect_echo(self, logical: str, region: str, sig: str) -> None:
        with self._lock:
            self._echoes.setdefault((logical, region), Counter())[sig] += 1

    def _take_echo(self, logical: str, region: str, sig: str) -> bool:
        with self._lock:
            pending = self._echoes.get((logical, region))
            if pending and pending[sig] > 0:
                pending[sig] -= 1
                if not pending[sig]:
                    del pending[sig]
                return True
            return False
