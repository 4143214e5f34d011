"""The dev loop: handlers reload when their file changes; `election logs` prints function logs readably."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from election.local.reload import Reloader
from election.ops import logs

HANDLER = '''
def make_handler(env):
    def handler(event, context):
        return {{"version": {version}, "env": env["X"]}}
    return handler
'''


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pkg = tmp_path / "reloadpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "echo.py").write_text(HANDLER.format(version=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in [m for m in sys.modules if m.startswith("reloadpkg")]:
        del sys.modules[name]


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    later = time.time() + 2                      # a new mtime even within the same second
    os.utime(path, (later, later))


def test_a_changed_handler_file_is_picked_up_by_the_handlers_already_handed_out(package: Path) -> None:
    said: list[str] = []
    reloader = Reloader(package="reloadpkg", shared=(), say=said.append)
    handler = reloader.factory("echo", {"X": "kept"})     # what a gateway or poller holds
    assert handler({}, None) == {"version": 1, "env": "kept"}
    assert reloader.check() == []                          # nothing changed
    _edit(package / "echo.py", HANDLER.format(version=22))
    assert reloader.check() == ["echo"]
    assert handler({}, None) == {"version": 22, "env": "kept"}   # same object, new code, same environment
    assert said == ["Reloaded the echo function: 1 handler(s) in the local stack run the new code."]
    _edit(package / "echo.py", "def make_handler(env:\n")          # saved mid-edit
    assert reloader.check() == []
    assert handler({}, None)["version"] == 22                      # the previous code keeps running
    assert "does not load (SyntaxError" in said[-1]


LINES = [
    {"_aws": {"Timestamp": 1796143115248, "CloudWatchMetrics": [{"Metrics": [{"Name": "Status200"}]}]},
     "Region": "us-east-1", "Route": "GET /health", "Status200": 1},
    {"_aws": {"Timestamp": 1796143118583, "CloudWatchMetrics": [{"Metrics": [{"Name": "Queued"},
                                                                             {"Name": "Status202"}]}]},
     "Region": "us-east-1", "Route": "POST /votes", "Queued": 1, "Status202": 1},
    {"_aws": {"Timestamp": 1796143120451, "CloudWatchMetrics": [{"Metrics": [{"Name": "Deferred"}]}]},
     "Region": "us-west-2", "Function": "process", "Deferred": 17, "error": "Throttling"},
]


def test_log_lines_read_as_one_sentence_each_without_the_health_checks(tmp_path: Path) -> None:
    path = tmp_path / "lambda.log"
    path.write_text("".join(json.dumps(d) + "\n" for d in LINES) + "not json at all\n")
    got = [e.line() for e in logs.local_entries(path, follow=False, function=None, region=None)]
    assert got[0].endswith("us-east-1  enqueue  POST /votes Queued=1 Status202=1")
    assert got[1].endswith("us-west-2  process  Deferred=17 error=Throttling")
    assert got[2].endswith("not json at all") and len(got) == 3            # health left out
    only = list(logs.local_entries(path, follow=False, function="health", region=None))
    assert [e.function for e in only] == ["health"]
    west = list(logs.local_entries(path, follow=False, function=None, region="us-west-2"))
    assert [e.region for e in west] == ["us-west-2"]


def test_follow_prints_lines_appended_later(tmp_path: Path) -> None:
    path = tmp_path / "lambda.log"
    path.write_text(json.dumps(LINES[1]) + "\n")
    polls = []

    def sleep(_s: float) -> None:
        polls.append(1)
        if len(polls) == 1:
            with open(path, "a") as fh:
                fh.write(json.dumps(LINES[2]) + "\n")

    seen = list(logs.local_entries(path, True, None, None, sleep=sleep, stop=lambda: len(polls) >= 2))
    assert [e.function for e in seen] == ["enqueue", "process"]


def test_on_aws_the_lines_come_from_cloudwatch_logs(aws_env: None) -> None:
    from moto import mock_aws

    from election.ops.target import Target
    from election.plan import load_plan
    from election.provision.clients import ClientProvider

    root = Path(__file__).resolve().parents[1]
    with mock_aws():
        target = Target(load_plan(root / "config/aws.yaml"), ClientProvider())
        client: Any = target.client("logs", "us-west-2")
        group = f"/aws/lambda/{target.plan.name}-process"
        client.create_log_group(logGroupName=group)
        client.create_log_stream(logGroupName=group, logStreamName="s")
        now = int(time.time() * 1000)
        client.put_log_events(logGroupName=group, logStreamName="s",
                              logEvents=[{"timestamp": now, "message": json.dumps(LINES[2])}])
        got = list(logs.aws_entries(target, follow=False, function=None, region=None))
    assert [(e.region, e.function) for e in got] == [("us-west-2", "process")]
    assert "Deferred=17" in got[0].text


EDIT = '''

_built_before_the_edit = make_handler


def make_handler(env):
    inner = _built_before_the_edit(env)

    def edited(event, context=None):
        answer = inner(event, context)
        answer.setdefault("headers", {})["x-dev-loop"] = "edited"
        return answer
    return edited
'''


@pytest.mark.e2e
def test_a_running_dev_stack_serves_an_edited_handler_and_up_prints_local_urls(tmp_path: Path) -> None:
    """The whole loop a user runs: `election dev`, edit a handler, the running API answers with the new code
    (no restart), and `election up` against the running stack names the local URLs, not CloudFront's."""
    import shutil
    import signal
    import subprocess
    import urllib.request

    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    shutil.copytree(root / "election", src / "election", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "200", "ELECTION_STATE_DIR": str(tmp_path / "state")}
    run = [sys.executable, "-c", "from election.cli import main; main()"]
    dev = subprocess.Popen([*run, "dev", "--port-base", "0"], cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = tmp_path / "state" / "local.json"
    try:
        deadline = time.monotonic() + 120
        while not state.exists():
            assert dev.poll() is None, dev.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        region_url = next(iter(json.loads(state.read_text())["regions"].values()))

        def health_header() -> str | None:
            with urllib.request.urlopen(region_url + "/health", timeout=10) as r:
                return r.headers.get("x-dev-loop")

        assert health_header() is None
        health = src / "election" / "lambdas" / "health.py"
        _edit(health, health.read_text() + EDIT)
        deadline = time.monotonic() + 30
        while health_header() != "edited":
            assert time.monotonic() < deadline, "the running stack kept serving the old health handler"
            time.sleep(0.5)
        up = subprocess.run([*run, "up", "--yes"], check=False, cwd=tmp_path, env=env, text=True, capture_output=True,
                            timeout=180)
        assert up.returncode == 0, up.stderr
        said = " ".join(up.stdout.split())
        assert "Local stack: voting page http://127.0.0.1:" in said and "API (router) http://127.0.0.1:" in said
        assert "cloudfront" not in said.lower() and "execute-api" not in said
        assert health_header() == "edited"          # up updated the function code; the stack still runs it
        dev.send_signal(signal.SIGINT)
        out, err = dev.communicate(timeout=60)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.communicate()
    assert dev.returncode == 0, err
    assert "Reloaded the health function" in " ".join(out.split())
