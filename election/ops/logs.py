"""`election logs`: what the functions logged, one readable line each, locally or from CloudWatch Logs.

The functions log one JSON line per batch or error (CloudWatch embedded metric format, see
lambdas/metrics.Metrics). Read raw they are noise; here each becomes
`12:03:04  us-east-1  enqueue  POST /votes  Queued=3 Status202=3`. Health checks are most of the lines
and say little, so they are left out unless asked for (--function health).
Locally the lines are in <state dir>/lambda.log; on AWS they are read with CloudWatch Logs
FilterLogEvents from each function's log group /aws/lambda/<plan>-<role>, in every region of the plan.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from election.lambdas import contract
from election.lambdas.contract import ROUTES
from election.ops.target import Target

ROLES = tuple(contract.FUNCTIONS)


@dataclass(frozen=True)
class Entry:
    when: float          # seconds since the epoch
    region: str
    function: str
    text: str

    def line(self) -> str:
        stamp = datetime.fromtimestamp(self.when, tz=UTC).strftime("%H:%M:%S")
        return f"{stamp}  {self.region:<10} {self.function:<8} {self.text}"


def parse(raw: str, region: str = "", function: str = "") -> Entry | None:
    """One log line as an Entry (JSON metric lines made readable; other lines kept as they are)."""
    raw = raw.rstrip("\n")
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return Entry(time.time(), region or "-", function or "-", raw)
    return _metric_entry(doc, region, function)


def _metric_entry(doc: dict[str, Any], region: str, function: str) -> Entry:
    """An embedded-metric-format line as `route metric=value ... key=value`: the metrics first, then the rest.

    The line's own Region / Function / Route win over what the caller knows (the local log mixes functions).
    """
    meta = doc.get("_aws") or {}
    names = [m.get("Name") for d in meta.get("CloudWatchMetrics", []) for m in d.get("Metrics", [])]
    route = str(doc.get("Route", ""))
    fn = str(doc.get("Function") or ROUTES.get(route) or function or "-")
    values = " ".join(f"{n}={doc[n]}" for n in names if n in doc)
    extra = " ".join(f"{k}={v}" for k, v in doc.items()
                     if k not in ("_aws", "Region", "Route", "Function") and k not in names)
    text = " ".join(part for part in (route, values, extra) if part)
    when = float(meta.get("Timestamp", time.time() * 1000)) / 1000
    return Entry(when, str(doc.get("Region") or region or "-"), fn, text)


def wanted(entry: Entry, function: str | None, region: str | None) -> bool:
    if function:
        return entry.function == function
    if region and entry.region != region:
        return False
    return entry.function != "health"


def local_entries(path: Path, follow: bool, function: str | None, region: str | None,
                  sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False
                  ) -> Iterator[Entry]:
    """The local stack's function log; with follow, then every line appended until stop() or Ctrl-C."""
    with open(path, encoding="utf-8") as fh:
        while True:
            line = fh.readline()
            if line:
                entry = parse(line)
                if entry and wanted(entry, function, region) and (not region or entry.region == region):
                    yield entry
                continue
            if not follow or stop():
                return
            sleep(0.5)


def aws_entries(target: Target, follow: bool, function: str | None, region: str | None, since_s: float = 3600,
                sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False
                ) -> Iterator[Entry]:
    """FilterLogEvents on each function's log group, oldest first; with follow, polled every 2 s."""
    regions = [region] if region else list(target.plan.region_names)
    roles = [function] if function else [r for r in ROLES if r != "health"]
    start = int((time.time() - since_s) * 1000)
    while True:
        batch: list[Entry] = []
        for reg in regions:
            logs = target.client("logs", reg)
            for role in roles:
                batch.extend(_group_events(logs, f"/aws/lambda/{target.plan.name}-{role}", start, reg, role))
        batch.sort(key=lambda e: e.when)
        yield from batch
        if batch:
            start = int(batch[-1].when * 1000) + 1
        if not follow or stop():
            return
        sleep(2.0)


def _group_events(logs: Any, group: str, start: int, region: str, role: str) -> list[Entry]:
    out: list[Entry] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start}
    while True:
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return out          # the function has not logged yet (its group is created on first use)
        for event in page.get("events", []):
            entry = parse(event.get("message", ""), region, role)
            if entry:
                out.append(Entry(event.get("timestamp", entry.when * 1000) / 1000, entry.region, entry.function,
                                 entry.text))
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]
