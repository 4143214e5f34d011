"""The functions' metric lines go to lambda.log while the local stack runs, never to the terminal (QA finding 6)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.progress import Progress

from election.lambdas import metrics
from election.local.lambdalogs import LambdaLogs


def emit_from_threads() -> None:
    """A per-batch line and a batched flush, each from a thread that is not a handler's."""
    buffer = metrics.MetricsBuffer(interval=0)
    lines = [lambda: metrics.Metrics("Election/t", {"Function": "tally"}, {"Counted": 3}, {"Counted": "Count"}).emit(),
             lambda: buffer.add(metrics.Metrics("Election/t", {"Route": "GET /health"}, {"Status200": 1},
                                               {"Status200": "Count"}))]
    threads = [threading.Thread(target=f) for f in lines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_metric_lines_reach_the_log_file_even_after_rich_restored_stdout(tmp_path: Path, capfd: Any) -> None:
    logs = LambdaLogs(tmp_path / "lambda.log")
    with Progress() as progress:         # dev starts the stack under a progress bar, which swaps sys.stdout
        progress.add_task("starting", total=1)
        logs.start()
    try:                                 # ... and puts its own saved stdout back when it ends
        emit_from_threads()
    finally:
        logs.stop()
    out = capfd.readouterr().out
    assert '"_aws"' not in out
    logged = (tmp_path / "lambda.log").read_text().splitlines()
    assert len(logged) == 2 and all(line.startswith('{"_aws"') for line in logged)
    assert metrics.LOG_STREAM.stream is None   # stopped: Lambda's stdout again


def test_without_a_running_stack_lines_go_to_stdout_as_on_lambda(capfd: Any) -> None:
    emit_from_threads()
    assert capfd.readouterr().out.count('"_aws"') == 2
