"""What `election status` adds to the resource diff: is each region serving, and what does it hold right now.

Per region: the deep health check of its API, the depth of its queues (votes,
hand-off, dead letters), its tables' item counts as DynamoDB reports them
(refreshed by AWS about every six hours, so approximate, but free: no scan of
millions of ballots), and its alarms in ALARM. Each probe fails on its own:
a missing queue or an unreachable API shows in its cell, never as an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from election.provision.model.names import QUEUES, Names

QUEUE_ATTRS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
               "ApproximateNumberOfMessagesDelayed"]
HEALTH_TIMEOUT_S = 3.0


@dataclass
class RegionRuntime:
    """One region's live figures; None where the probe could not read it."""

    region: str
    health: str
    queues: dict[str, int | None] = field(default_factory=dict)
    items: dict[str, int | None] = field(default_factory=dict)
    alarms_in_alarm: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def probe_health(api_url: str | None) -> str:
    """GET <api>/health: 'ok', 'failing (HTTP 503)', 'unreachable' or '-' when there is no URL to ask."""
    if not api_url:
        return "-"
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S) as answer:
            body = json.loads(answer.read() or b"{}")
            return "ok" if body.get("status") == "ok" else f"failing ({body.get('status', 'no status')})"
    except urllib.error.HTTPError as exc:
        return f"failing (HTTP {exc.code})"
    except (OSError, ValueError):
        return "unreachable"


def _queue_depth(sqs: Any, name: str) -> int | None:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=QUEUE_ATTRS)["Attributes"]
    except Exception:  # noqa: BLE001 - a missing queue is a cell, not a failure of status
        return None
    return sum(int(attrs.get(a, 0)) for a in QUEUE_ATTRS)


def _item_count(ddb: Any, table: str) -> int | None:
    try:
        return int(ddb.describe_table(TableName=table)["Table"].get("ItemCount", 0))
    except Exception:  # noqa: BLE001 - see _queue_depth
        return None


def _alarms_in_alarm(cloudwatch: Any, plan_name: str) -> list[str] | None:
    try:
        # State filtered here: moto ignores StateValue when a name prefix is given.
        prefix = Names(plan_name).prefix
        pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
        return sorted(a["AlarmName"][len(prefix):] for page in pages for a in page.get("MetricAlarms", [])
                      if a.get("StateValue") == "ALARM")
    except Exception:  # noqa: BLE001 - see _queue_depth
        return None


def region_runtime(client: Any, plan_name: str, region: str, api_url: str | None) -> RegionRuntime:
    """Read one region's figures; `client(service, region)` gives boto3 clients."""
    n = Names(plan_name)
    sqs, ddb = client("sqs", region), client("dynamodb", region)
    return RegionRuntime(
        region=region,
        health=probe_health(api_url),
        queues={w: _queue_depth(sqs, n.queue(w)) for w in QUEUES},
        items={w: _item_count(ddb, n.table(w)) for w in ("voters", "ballots")},
        alarms_in_alarm=_alarms_in_alarm(client("cloudwatch", region), plan_name),
    )


def runtime(client: Any, plan_name: str, api_urls: Mapping[str, str | None]) -> list[RegionRuntime]:
    """Every region's figures, read in parallel (one thread per region)."""
    regions = list(api_urls)
    with ThreadPoolExecutor(max_workers=max(1, len(regions))) as pool:
        return list(pool.map(lambda r: region_runtime(client, plan_name, r, api_urls[r]), regions))
