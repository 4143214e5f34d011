"""Global tables, played locally: every write to a region's table is applied to the others.

moto accepts ReplicaUpdates but replicates nothing, so the local runtime tails
each regional table's stream and replays its changes on the same table in
the other regions (puts of the new image, deletes of the key). The replayed
writes show up in the target's own stream, as they do on AWS; the replicator
notes the eventID of the stream record each of its writes made there, and
never sends those echoes back.

It plays AWS's own replication, so it reads the streams and writes the
tables through moto's backends directly (election/local/backends.py), not
through boto3: no IAM or request parsing applies, as none applies to AWS's
replication either (about 10x cheaper per record, issue 14).

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
from collections.abc import Mapping
from typing import Any

from election.local import backends, moto_patches
from election.local.streampoller import StreamPoller


def _key(keys: Mapping[str, Any]) -> str:
    return json.dumps(keys, sort_keys=True, default=str)


class Replicator:
    """Replicates `tables` ({logical name: {region: (table name, stream ARN)}}) across regions.

    `provider` is unused (kept for callers): replication reads and writes moto's backends directly.
    """

    def __init__(self, provider: Any, tables: Mapping[str, Mapping[str, tuple[str, str]]]) -> None:
        self.provider = provider
        self.tables = tables
        self.replicated = 0
        self._echoes: set[tuple[str, str, str]] = set()   # (table, region, eventID) of our own writes
        self._high: dict[tuple[str, str], int] = {}       # (table, source region) -> last sequence number replicated
        self._lock = threading.Lock()
        self.pollers: list[StreamPoller] = []
        for logical, per_region in tables.items():
            for region, (_, stream_arn) in per_region.items():
                self.pollers.append(StreamPoller(
                    f"replicate-{logical}-{region}", backends.DirectStreams(region), stream_arn, region,
                    on_batch=self._applier(logical, region), window_s=0.05))

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
        newest: dict[str, dict[str, Any]] = {}   # key -> the newest change to replay, in stream order
        echoes: list[tuple[str, str, str]] = []  # forgotten only once the batch succeeds (a failed one is retried)
        last = high
        for record in records:
            change = record.get("dynamodb", {})
            seq = int(change.get("SequenceNumber") or 0)
            if seq <= high:
                continue   # re-delivered: already replicated, and older than what followed it
            last = max(last, seq)
            key = _key(change.get("Keys", {}))
            echo = (logical, source, str(record.get("eventID", "")))
            with self._lock:
                mine = echo in self._echoes
            newest.pop(key, None)   # whatever came before in this batch is older than this change
            if mine:
                echoes.append(echo)
            elif record.get("eventName") == "REMOVE" or change.get("NewImage") is not None:
                newest[key] = dict(change, eventName=record.get("eventName"))
            # (a KEYS_ONLY or OLD_IMAGE stream cannot be replicated: such a record is skipped)
        for change in newest.values():
            self._write(logical, source, change)
        with self._lock:
            self._echoes.difference_update(echoes)
        self._high[(logical, source)] = last

    def _write(self, logical: str, source: str, change: dict[str, Any]) -> None:
        for target, (table_name, _) in self.tables[logical].items():
            if target == source:
                continue
            # Under the target's lock, so its stream reader cannot see the record before it is known as ours.
            with moto_patches.region_lock(backends.ACCOUNT_ID, target):
                if change["eventName"] == "REMOVE":
                    event_id = backends.delete_item(target, table_name, change["Keys"])
                else:
                    event_id = backends.write_item(target, table_name, change["NewImage"])
                if event_id is not None:
                    with self._lock:
                        self._echoes.add((logical, target, event_id))
            self.replicated += 1
