"""The bench scripts still run against today's code.

Their figures go into README and closing notes, but nothing imported them: a refactor moved
`MetricsBuffer` and `aggregate_results`, and `pipeline_cost.py` then failed at import while
`local_pipeline.py`'s observer swallowed the error and waited out its 300 s. Each script runs
here on a tiny input (seconds) and must finish with figures that mean something.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*.py"))


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("script", BENCHES)
def test_every_bench_script_starts(script: str) -> None:
    if "__main__" not in (ROOT / "bench" / script).read_text():   # a helper module of another script
        out = _run("-c", f"import sys; sys.path[:0] = ['.', 'bench']; import {script[:-3]}", timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return
    out = _run(f"bench/{script}", "--help", timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage" in out.stdout.lower()


def test_pipeline_cost_prices_a_few_votes() -> None:
    out = _run("bench/pipeline_cost.py", "--votes", "12")
    assert out.returncode == 0, out.stderr[-2000:]
    text = " ".join(out.stdout.split())
    assert "API vote $" in text and "page vote $" in text


def test_local_pipeline_counts_every_vote_and_measures_its_ceiling() -> None:
    out = _run("bench/local_pipeline.py", "--patches", "all", "--votes", "24", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["statuses"] == {"202": 24}
    assert math.isfinite(figures["counted_per_s"]) and figures["counted_per_s"] > 0   # the observer saw every vote
    assert figures["ceiling_in_process_per_s"] > 0 and figures["handler_calls_cpu_ms"] > 0
    assert figures["calls_per_vote"]["dynamodb:PutItem"] == 1.0
