"""The local commands as users run them: `election demo --exit`, `election dev` + Ctrl-C, `election region`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from election.cli import cli
from election.local.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*ServiceUnavailable does not match")]
ROOT = Path(__file__).resolve().parents[1]
PLAN = str(ROOT / "config/local.yaml")


def election(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from election.cli import main; main()", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})})


def test_demo_exit_runs_the_tour_and_exits_with_a_clean_audit(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--exit", "--voters", "40", "--votes", "45", "--port-base", "0",
                                      "--plan", PLAN, "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.output
    assert "Seeded 40 voters" in result.output
    assert "40 × 202" in result.output and "5 × 409" in result.output   # 5 second attempts refused
    assert "Results: 40 votes counted" in result.output
    assert "Audit: clean" in result.output
    assert not (tmp_path / "state/local.json").exists()                 # stopped and cleaned up


def test_region_down_and_up_drive_the_running_stack(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with LocalStack(PLAN, state_dir=state, health_interval_s=0.2) as stack:
        down = CliRunner().invoke(cli, ["region", "down", "us-west-2"], env={"ELECTION_STATE_DIR": str(state)})
        assert down.exit_code == 0, down.output
        assert "down (drill)" in down.output and "unhealthy" in down.output   # answered once the router saw it
        assert stack.health()["us-west-2"] | {"detail": ""} == {
            "up": False, "healthy": False, "detail": "", "api": stack.endpoints["regions"]["us-west-2"],
            "requests": stack.health()["us-west-2"]["requests"]}
        with pytest.raises(OSError):
            urllib.request.urlopen(stack.endpoints["regions"]["us-west-2"] + "/health", timeout=2)
        up = CliRunner().invoke(cli, ["region", "up", "us-west-2", "--state-dir", str(state)])
        assert up.exit_code == 0, up.output
        stack.router.wait_checked(5)
        assert stack.health()["us-west-2"]["healthy"] is True
        unknown = CliRunner().invoke(cli, ["region", "down", "eu-west-9", "--state-dir", str(state)])
        assert unknown.exit_code != 0 and "is not a region of the plan" in str(unknown.exception)


def test_region_without_a_running_stack_is_one_sentence(tmp_path: Path) -> None:
    proc = election("region", "down", "us-east-1", "--state-dir", str(tmp_path), cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "No local stack is running" in err and "Traceback" not in err


def test_dev_refuses_a_busy_port_in_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = election("dev", "--plan", PLAN, "--port-base", str(port), "--state-dir", str(tmp_path), cwd=tmp_path)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port} for the moto server" in err and "Traceback" not in err


def test_dev_serves_until_ctrl_c_then_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = election("dev", "--plan", PLAN, "--port-base", "0", cwd=tmp_path, env={"ELECTION_STATE_DIR": str(state)})
    try:
        deadline = time.monotonic() + 120
        while not (state / "local.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        endpoints = json.loads((state / "local.json").read_text())
        with urllib.request.urlopen(endpoints["router"] + "/health", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(endpoints["website"] + "config.json", timeout=10) as r:
            assert json.loads(r.read())["api"][0] == endpoints["router"]
        second = election("dev", "--plan", PLAN, "--port-base", "0", "--state-dir", str(state), cwd=tmp_path)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "already running" in err
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "Stopped the local election" in out
    assert f"export ELECTION_STATE_DIR={state.resolve()}" in " ".join(out.split())   # (rich may wrap the line)
    assert not (state / "local.json").exists()


def test_demo_without_exit_serves_the_page_until_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = election("demo", "--voters", "10", "--votes", "5", "--plan", PLAN, "--port-base", "0",
                    "--state-dir", str(state), cwd=tmp_path)
    try:
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("Try it: open"):
                break
        assert any("Audit: clean" in line for line in seen), "".join(seen)
        endpoints = json.loads((state / "local.json").read_text())
        with urllib.request.urlopen(endpoints["website"] + "config.json", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(endpoints["router"] + "/results", timeout=10) as r:
            assert json.loads(r.read())["total"] == 5
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    assert '"_aws"' not in "".join(seen) + out        # the functions' metric lines went to lambda.log only
    assert '"_aws"' in (state / "lambda.log").read_text()
    assert not (state / "local.json").exists()
