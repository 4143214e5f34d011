"""CloudWatch Logs, played locally: what handlers print goes to <state_dir>/lambda.log, not the terminal.

Handlers print one metrics line per request or batch to stdout (Lambda ships
stdout to CloudWatch). In-process, stdout is the operator's terminal, so
while a handler runs on a thread its prints are routed to a file instead.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import IO, Any

_local = threading.local()


class RoutedStdout:
    """A stdout stand-in: writes from threads inside a handler go to `log`, others to the real stdout.

    Handler lines are queued and written by one thread: a lock around file
    writes, held across a GIL switch, convoyed every request thread (profiled).
    """

    def __init__(self, real: IO[str], log: IO[str]) -> None:
        self.real = real
        self.log = log
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_lines, name="lambda-logs", daemon=True)
        self._writer.start()

    def _write_lines(self) -> None:
        while (text := self._lines.get()) is not None:
            self.log.write(text)

    def close_log(self) -> None:
        self._lines.put(None)
        self._writer.join(5)

    def write(self, text: str) -> int:
        if getattr(_local, "in_handler", False):
            self._lines.put(text)
            return len(text)
        return self.real.write(text)

    def flush(self) -> None:
        if not getattr(_local, "in_handler", False):
            self.real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def captured(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Mark the handler's thread while it runs, so its prints go to the log file."""

    @wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        _local.in_handler = True
        try:
            return handler(*args, **kwargs)
        finally:
            _local.in_handler = False

    return run


class LambdaLogs:
    """Installs the routed stdout for the stack's lifetime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._previous: Any = None
        self._routed: RoutedStdout | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in stop()
        self._previous = sys.stdout
        self._routed = RoutedStdout(sys.stdout, self._file)
        sys.stdout = self._routed  # type: ignore[assignment]

    def stop(self) -> None:
        routed = self._routed
        if self._previous is not None and sys.stdout is routed:
            sys.stdout = self._previous
        if routed is not None:
            routed.close_log()
        self._routed = None
        self._previous = None
        if self._file is not None:
            self._file.close()
            self._file = None
