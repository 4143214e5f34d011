"""CloudWatch embedded-metric log lines of the handlers: one per batch, or summed per request class.

Never voter IDs or candidates. Standard library only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Metrics:
    """One CloudWatch embedded-metric-format line per request or batch; never voter IDs or candidates."""

    namespace: str
    dimensions: dict[str, str]
    values: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    props: dict[str, str] = field(default_factory=dict)   # searchable log fields, not metric dimensions

    def add(self, name: str, value: float = 1, unit: str = "Count") -> None:
        self.values[name] = self.values.get(name, 0) + value
        self.units[name] = unit

    def line(self, now_ms: int | None = None) -> str:
        doc: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000) if now_ms is None else now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [sorted(self.dimensions)],
                    "Metrics": [{"Name": n, "Unit": self.units[n]} for n in sorted(self.values)],
                }],
            },
            **self.props,
            **self.dimensions,
            **{n: self.values[n] for n in sorted(self.values)},
        }
        return json.dumps(doc, separators=(",", ":"))

    def emit(self, out: TextIO | None = None) -> None:
        """Print the line (Lambda ships stdout to CloudWatch Logs, which extracts the metrics)."""
        stream = out or LOG_STREAM.stream or sys.stdout
        stream.write(self.line() + "\n")   # one write: lines from concurrent handlers never interleave
        stream.flush()


class LogStream:
    """Where the functions' log lines go: stdout on Lambda (shipped to CloudWatch Logs).

    A runtime that hosts the handlers in its own process (the local stack) points `stream` at its
    log file for its lifetime, whatever thread emits and whatever has replaced sys.stdout since.
    """

    def __init__(self) -> None:
        self.stream: Any = None


LOG_STREAM = LogStream()


class MetricsBuffer:
    """Per-container sums of request metrics, flushed as one line per request class every `interval` s.

    An API function handles one request per invocation, so a line per request would cost a log
    line per vote; instead counts are summed per dimension set (region + route) and written when
    `interval` has passed, checked on each request. Lines with searchable properties (an error
    code) are written at once. What a container has not flushed when Lambda reclaims it (at most
    `interval` seconds of counts) is lost from the metrics only, never from the votes.
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 out: TextIO | None = None) -> None:
        self.interval = interval
        self.clock = clock
        self.out = out
        self._lock = threading.Lock()
        self._pending: dict[tuple, Metrics] = {}
        self._last = clock()

    def add(self, metrics: Metrics) -> None:
        if metrics.props or self.interval <= 0:
            metrics.emit(self.out)
            return
        key = (metrics.namespace, tuple(sorted(metrics.dimensions.items())))
        with self._lock:
            agg = self._pending.setdefault(key, Metrics(metrics.namespace, dict(metrics.dimensions)))
            for name, value in metrics.values.items():
                agg.add(name, value, metrics.units[name])
        self.maybe_flush()

    def maybe_flush(self, force: bool = False) -> None:
        with self._lock:
            now = self.clock()
            if not force and now - self._last < self.interval:
                return
            pending, self._pending, self._last = self._pending, {}, now
        for metrics in pending.values():
            metrics.emit(self.out)
