"""`election loadtest` as an operator runs it on the local stack: Ctrl-C mid-run, then a second run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from election.local.stack import LocalStack
from election.ops.audit import load_receipts

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*ServiceUnavailable does not match")]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(state_dir=tmp_path_factory.mktemp("lt") / "state") as s:
        yield s


def _counted(stack: LocalStack) -> int:
    with urllib.request.urlopen(stack.endpoints["router"] + "/results", timeout=10) as res:
        return int(json.loads(res.read())["total"])


def election(stack: LocalStack, *args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTION_")}
    env |= {"PYTHONPATH": str(ROOT), "COLUMNS": "200", "ELECTION_STATE_DIR": str(stack.state_dir)}
    return subprocess.Popen([sys.executable, "-c", "from election.cli import main; main()", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_ctrl_c_keeps_the_receipts_and_a_second_run_skips_the_voters_already_used(
        stack: LocalStack, tmp_path: Path) -> None:
    seeded = election(stack, "seed-voters", "--count", "400", "--out", "v.csv", cwd=tmp_path)
    assert seeded.wait(120) == 0, seeded.communicate()
    run = election(stack, "loadtest", "--voters", "v.csv", "--rate", "20", "--concurrency", "4", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while _counted(stack) < 5 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.5)                           # until votes are flowing (the schedule lasts 20 s)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, out + err
    assert "Traceback" not in err and "never retrieved" not in err
    assert "INTERRUPTED while sending" in out
    ledger = err.split("election audit --receipts ")[-1].split()[0]
    kept = load_receipts(Path(ledger))
    assert 0 < len(kept) < 400
    used = (tmp_path / "v.csv.used").read_text().split()
    assert len(used) >= len(kept)

    again = election(stack, "loadtest", "--voters", "v.csv", "--votes", "20", "--rate", "50", cwd=tmp_path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    assert f"Skipping {len(used):,} voters that earlier runs already used" in err
    assert re.search(r"│\s+vote\s+│\s+202: 20\s+│", out) and "409" not in out, out
    assert "VERIFIED" in out
