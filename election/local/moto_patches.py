"""Small, documented patches of moto 5.2.5 that the local runtime applies (never on AWS).

Each patch removes an O(n) cost or a bug measured on this machine (see
DESIGN §4 and bench/local_pipeline.py for the figures before/after):

- the SQS patches (`sqs_send_counters`, `sqs_retention_check`, `sqs_lazy_visible`,
  `sqs_delete_single_pass`, `region_outage`) live in moto_sqs_patches.py with their reasons.
- `dynamodb_transact_backup`: TransactWriteItems deep-copied every touched
  table, stream records included, as its rollback backup, and swapping the
  copy in on rollback left open stream iterators on a dead shard (they saw
  the rolled-back write, then never any later write). Back up only the
  touched items and on rollback restore them and trim the stream.
- `dynamodb_atomic_writes` (correctness, issue 14): moto's DynamoDB writes are
  not atomic under threads. `StreamShard.add` numbers a record
  `len(items) + start` and appends it afterwards, so two threads writing one
  table at once could both take the same number (51 duplicates in 1,600
  records from 8 writers, tests/test_local_exactly_once.py). A stream reader
  then re-delivered one record and skipped another: the iterator after a batch
  is "after the highest number seen" while moto slices the list by position.
  Conditional writes also checked and wrote in two steps, and a cancelled
  transaction's stream records were visible to readers until the rollback.
  Each region's DynamoDB writes (and the scans and stream reads that iterate
  what they change) now hold one re-entrant lock per region, and a record's
  number is taken from its position under that lock: unique and increasing,
  as AWS guarantees ("each stream record appears exactly once in the stream",
  DynamoDB developer guide, Change data capture for DynamoDB Streams). moto
  runs under the GIL anyway, so the lock costs only the convoy of waiting.
- `dynamodb_update_expression_cache`: moto tokenises and parses an
  UpdateExpression twice per update (request validation, then the update),
  ~4 ms each on this machine; the tally's transaction has one update per
  state. Parsed trees are kept per expression string (at most 1,024); every
  user of the tree only reads it or deep-copies it first (Validator), so
  sharing it changes no answer. Parse errors are not kept and still raise.
- `backend_lookup_fast_path`: every request looks its backend up through
  BackendDict, which takes moto's global lock and scans the list of backend
  instances (Python __eq__ per entry) even when the account's backend exists.
  With a dozen threads that is a lock convoy (profiled: 15 ms per lookup, the
  largest cost of the pipeline). Skip the lock when the account is known.
- `method_names_cache`: every request lists its response class's methods with
  inspect.getmembers (~5 % of an in-process call, profiled in issue 14) to
  check the action exists; a class's methods do not change once the patches
  are applied, so the list is kept per class.
- `no_lambda_invocation`: moto would run Lambda containers for event source
  mappings; locally the pollers play them, so mappings are recorded only.

`apply()` is idempotent; `applied()` lists what is active.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from election.local.moto_sqs_patches import (
    DOWN_REGIONS,
    region_outage,
    sqs_delete_single_pass,
    sqs_lazy_visible,
    sqs_retention_check,
    sqs_send_counters,
)

_applied: list[str] = []
_lock = threading.Lock()
_region_locks: dict[tuple[str, str], threading.RLock] = {}

__all__ = ["DOWN_REGIONS", "FUNCTIONAL", "PATCHES", "applied", "apply", "region_lock"]


def applied() -> list[str]:
    return list(_applied)


def apply(only: tuple[str, ...] | None = None) -> list[str]:
    """Apply the patches (all, or the named ones); safe to call twice."""
    with _lock:
        for name, fn in PATCHES.items():
            if name in _applied or (only is not None and name not in only):
                continue
            fn()
            _applied.append(name)
    return applied()


# --- moto core --------------------------------------------------------------------------

def _backend_lookup_fast_path() -> None:
    from moto.core.base_backend import BackendDict

    original = BackendDict._create_account_specific_backend

    def create(self: Any, account_id: str) -> None:
        # reset() clears the dict and the instance list together, so a known account is registered.
        if dict.__contains__(self, account_id):
            return
        original(self, account_id)

    BackendDict._create_account_specific_backend = create  # type: ignore[method-assign]


# --- Lambda event source mappings ----------------------------------------------------

def _no_lambda_invocation() -> None:
    from moto.dynamodb.models.table import Table
    from moto.sqs.models import Queue

    # A data descriptor wins over the instance attribute set in __init__: mappings are never seen here.
    silent = property(lambda self: {}, lambda self, value: None)
    Queue.lambda_event_source_mappings = silent  # type: ignore[assignment]
    Table.lambda_event_source_mappings = silent  # type: ignore[assignment]


# --- DynamoDB ------------------------------------------------------------------------------

def region_lock(account_id: str, region: str) -> threading.RLock:
    """The one lock that orders a region's DynamoDB writes and stream reads (see dynamodb_atomic_writes)."""
    key = (account_id, region)
    found = _region_locks.get(key)
    if found is None:
        with _lock:
            found = _region_locks.setdefault(key, threading.RLock())
    return found


def _locked_backend(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with region_lock(self.account_id, self.region_name):
            return fn(self, *args, **kwargs)
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _dynamodb_atomic_writes() -> None:
    import moto.dynamodb.models as ddb
    from moto.dynamodb.models.table import StreamShard

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "execute_statement",
                 "execute_transaction", "batch_execute_statement", "scan", "query"):
        setattr(ddb.DynamoDBBackend, name, _locked_backend(getattr(ddb.DynamoDBBackend, name)))
    original_add, original_get = StreamShard.add, StreamShard.get

    def add(self: Any, old: Any, new: Any) -> None:
        # moto numbers the record by its position, then appends it: both now happen under the region lock.
        with region_lock(self.table.account_id, self.table.region_name):
            original_add(self, old, new)

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        with region_lock(self.table.account_id, self.table.region_name):
            return original_get(self, start, quantity)

    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]

class _NoTableCopy:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not deep-copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)


def _dynamodb_transact_backup() -> None:
    import moto.dynamodb.models as ddb
    from moto.dynamodb.models.dynamo_type import DynamoType

    ddb.copy = _NoTableCopy()  # type: ignore[assignment]
    original = ddb.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, Any, Any, Any]] = []   # (table, hash, range, item or None)
        shards: dict[int, tuple[Any, int]] = {}
        seen: set[tuple[int, Any, Any]] = set()
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in attrs:
                continue
            h = DynamoType(attrs[table.hash_key_attr])
            r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in attrs \
                else None
            if (id(table), h, r) in seen:
                continue
            seen.add((id(table), h, r))
            try:
                current = table.get_item(h, r)
            except Exception:  # noqa: BLE001, S112 - moto validates later and raises its own error
                continue
            saved.append((table, h, r, copy.deepcopy(current)))
            if table.stream_shard is not None and id(table) not in shards:
                shards[id(table)] = (table.stream_shard, len(table.stream_shard.items))
        try:
            original(self, transact_items)
        except Exception:
            for table, h, r, item in reversed(saved):
                _restore(table, h, r, item)
            for shard, length in shards.values():
                del shard.items[length:]
            raise

    # Under the region lock (re-entrant), so the trim removes only this transaction's records, whatever the order
    # in which the patches are applied.
    ddb.DynamoDBBackend.transact_write_items = _locked_backend(transact_write_items)  # type: ignore[method-assign]


def _restore(table: Any, h: Any, r: Any, item: Any) -> None:
    """Put back one item as it was before a cancelled transaction, without a stream record."""
    if r is not None:
        if item is None:
            table.items.get(h, {}).pop(r, None)
        else:
            table.items[h][r] = item
    elif item is None:
        table.items.pop(h, None)
    else:
        table.items[h] = item


def _dynamodb_update_expression_cache() -> None:
    import functools
    import importlib

    # moto marks this module `# type: ignore`, so a type checker sees none of its names: take it as a module object.
    expressions = importlib.import_module("moto.dynamodb.parsing.expressions")
    parser = expressions.UpdateExpressionParser
    parse = parser.make.__func__

    @functools.lru_cache(maxsize=1024)
    def cached(expression: str) -> Any:
        return parse(parser, expression)

    parser.make = classmethod(lambda cls, expression: cached(expression))


def _method_names_cache() -> None:
    import functools

    from moto.core import responses

    responses.method_names_from_class = functools.lru_cache(maxsize=256)(responses.method_names_from_class)


def _dynamodb_import_sse() -> None:
    """ImportTable encrypts the new table with the request's SSESpecification, as AWS does (moto 5.2.5 drops it
    and ignores it in UpdateTable too, so an imported voters table would differ from the plan on every `up`)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table_import import TableImport
    from moto.dynamodb.responses import DynamoHandler

    asked = threading.local()      # the request's SSESpecification, then the import thread's
    handle, start, process, create = (DynamoHandler.import_table, TableImport.__init__,
                                      TableImport._process_s3_files, DynamoDBBackend.create_table)

    def import_table(self: Any) -> Any:
        asked.sse = (self.body.get("TableCreationParameters") or {}).get("SSESpecification")
        try:
            return handle(self)
        finally:
            asked.sse = None

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        self.election_sse = getattr(asked, "sse", None)

    def process_s3_files(self: Any, *args: Any) -> None:
        asked.sse = getattr(self, "election_sse", None)     # this runs in the import's own thread
        try:
            process(self, *args)
        finally:
            asked.sse = None

    def create_table(self: Any, name: str, **params: Any) -> Any:
        sse = getattr(asked, "sse", None)
        if sse and not params.get("sse_specification"):
            params["sse_specification"] = dict(sse)
        return create(self, name, **params)

    DynamoHandler.import_table = import_table                  # type: ignore[method-assign]
    TableImport.__init__ = init                                # type: ignore[method-assign,assignment]
    TableImport._process_s3_files = process_s3_files           # type: ignore[method-assign,assignment]
    DynamoDBBackend.create_table = create_table                # type: ignore[method-assign,assignment]


FUNCTIONAL = ("no_lambda_invocation", "region_outage", "dynamodb_atomic_writes",   # needed for correctness, not speed
              "dynamodb_import_sse")
PATCHES: dict[str, Callable[[], None]] = {
    "no_lambda_invocation": _no_lambda_invocation,
    "backend_lookup_fast_path": _backend_lookup_fast_path,
    "sqs_send_counters": sqs_send_counters,
    "sqs_retention_check": sqs_retention_check,
    "sqs_lazy_visible": sqs_lazy_visible,
    "sqs_delete_single_pass": sqs_delete_single_pass,
    "dynamodb_transact_backup": _dynamodb_transact_backup,
    "dynamodb_update_expression_cache": _dynamodb_update_expression_cache,
    "method_names_cache": _method_names_cache,
    "region_outage": region_outage,
    "dynamodb_atomic_writes": _dynamodb_atomic_writes,
    "dynamodb_import_sse": _dynamodb_import_sse,
}
