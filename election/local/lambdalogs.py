"""CloudWatch Logs, played locally: what the functions log goes to <state_dir>/lambda.log, not the terminal.

Handlers write one metrics line per batch (and per error) through
`metrics.LOG_STREAM`, which is stdout on Lambda. In-process, stdout is the
operator's terminal, so while the stack runs the stream points at a queue
written to the log file by one thread. This does not depend on which thread
emits (pool threads, the batched flush) nor on sys.stdout, which rich's
progress display swaps and later restores behind our back (that is how the
metric lines once reached the terminal: QA finding 6).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import IO, Any

from election.lambdas import metrics


class QueuedLog:
    """A write-only text stream whose lines one thread appends to a file.

    A lock around file writes, held across a GIL switch, convoyed every request thread (profiled),
    so writers only enqueue.
    """

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_lines, name="lambda-logs", daemon=True)
        self._writer.start()

    def _write_lines(self) -> None:
        while (text := self._lines.get()) is not None:
            self.file.write(text)

    def write(self, text: str) -> int:
        self._lines.put(text)
        return len(text)

    def flush(self) -> None:
        pass   # the writer thread writes to a line-buffered file

    def close(self) -> None:
        self._lines.put(None)
        self._writer.join(5)


class LambdaLogs:
    """Points the functions' log stream at the file for the stack's lifetime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._log: QueuedLog | None = None
        self._previous: Any = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in stop()
        self._log = QueuedLog(self._file)
        self._previous = metrics.LOG_STREAM.stream
        metrics.LOG_STREAM.stream = self._log

    def stop(self) -> None:
        if self._log is not None:
            if metrics.LOG_STREAM.stream is self._log:
                metrics.LOG_STREAM.stream = self._previous
            self._log.close()
            self._log = None
        self._previous = None
        if self._file is not None:
            self._file.close()
            self._file = None
