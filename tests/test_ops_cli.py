"""The ops commands' user errors: one sentence on stderr, exit 1 (or click's 2 for bad options), no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def said(done: subprocess.CompletedProcess[str]) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(done.stderr.split())


def election(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ELECTION_PLAN", "ELECTION_ENDPOINT_URL")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", "from election.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_local_plan_without_a_stack_is_one_sentence(tmp_path: Path) -> None:
    done = election(tmp_path, "audit", "--plan", str(ROOT / "config/local.yaml"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "is a local plan but no local stack is running; start one with `election dev`" in said(done)
    assert said(done).count("Error:") == 1


def test_missing_credential_file_is_one_sentence(tmp_path: Path) -> None:
    done = election(tmp_path, "loadtest", "--plan", str(ROOT / "config/aws.yaml"), "--endpoint-url",
                    "http://127.0.0.1:9", "--voters", "nope.csv")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "The credential file nope.csv does not exist; create it with `election seed-voters`." in said(done)


def test_bad_fraction_is_a_usage_error(tmp_path: Path) -> None:
    done = election(tmp_path, "loadtest", "--duplicates", "0.7")
    assert done.returncode == 2 and "must be a fraction between 0 and 0.5" in said(done)


def test_existing_credential_file_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "voters.csv").write_text("voter_id,state\n")
    done = election(tmp_path, "seed-voters", "--plan", str(ROOT / "config/aws.yaml"), "--endpoint-url",
                    "http://127.0.0.1:9", "--count", "5")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "voters.csv already exists; pass --resume" in said(done)
    assert (tmp_path / "voters.csv").read_text() == "voter_id,state\n"
