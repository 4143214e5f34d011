"""`election plan / up / down / status` end to end on moto in-process, errors as one sentence."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from provision_support import AWS_PLAN

from election.cli import cli, main

PLAN_ARGS = ["--plan", str(AWS_PLAN)]


@pytest.fixture
def moto(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    monkeypatch.setenv("COLUMNS", "200")
    with mock_aws():
        yield


def run_main(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the real entry point (which turns errors into sentences) and return (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["election", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


def test_up_twice_then_plan_status_and_down(moto: None) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["up", "--yes", *PLAN_ARGS])
    assert first.exit_code == 0, first.output
    assert "to create" in first.output and "Outputs" in first.output
    assert "execute-api.us-west-2" in first.output
    assert "mutating" in first.output

    second = runner.invoke(cli, ["up", "--yes", *PLAN_ARGS])
    assert second.exit_code == 0, second.output
    assert "Nothing to do (0 mutating AWS calls)." in second.output

    plan = runner.invoke(cli, ["plan", *PLAN_ARGS])
    assert plan.exit_code == 0 and "0 to create, 0 to update, 0 to delete" in plan.output

    sqs = boto3.client("sqs", region_name="us-west-2")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="election-2026-handoff")["QueueUrl"], MessageBody="{}")
    boto3.client("cloudwatch", region_name="us-west-2").set_alarm_state(
        AlarmName="election-2026-votes-dlq-visible", StateValue="ALARM", StateReason="test")
    status = runner.invoke(cli, ["status", "--json", *PLAN_ARGS])
    doc = json.loads(status.output)
    assert doc["in_sync"] is True and doc["outputs"]["regions"]["us-east-1"]["api_url"].startswith("https://")
    now = {r["region"]: r for r in doc["runtime"]}
    assert now["us-west-2"]["queues"] == {"votes": 0, "votes_dlq": 0, "handoff": 1, "handoff_dlq": 0,
                                          "tally_failures": 0}
    assert now["us-west-2"]["alarms_in_alarm"] == ["votes-dlq-visible"] and now["us-east-1"]["alarms_in_alarm"] == []
    assert now["us-east-1"]["items"] == {"voters": 0, "ballots": 0}
    table = runner.invoke(cli, ["status", *PLAN_ARGS])
    assert table.exit_code == 0 and "parked" in table.output and "votes-dlq-visible" in table.output

    down = runner.invoke(cli, ["down", "--yes", *PLAN_ARGS])
    assert down.exit_code == 0, down.output
    assert "Deleted" in down.output
    assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []


def test_plan_changes_nothing_and_shows_creates(moto: None) -> None:
    out = CliRunner().invoke(cli, ["plan", *PLAN_ARGS])
    assert out.exit_code == 0, out.output
    assert "+ create" in out.output
    assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []


def test_down_refuses_with_ballots_in_one_sentence(moto: None, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert CliRunner().invoke(cli, ["up", "--yes", *PLAN_ARGS]).exit_code == 0
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName="election-2026-ballots", Item={"bk": {"S": "a" * 32}})
    code, err = run_main(["down", "--yes", *PLAN_ARGS], monkeypatch, capsys)
    assert code == 1
    assert "The ballots table election-2026-ballots in us-east-1 holds votes, so nothing was deleted" in err
    assert "Traceback" not in err
    assert "election-2026-ballots" in boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]


def test_ctrl_c_says_how_to_resume(moto: None, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from election.provision.engine import Deployer

    def interrupted(self: Deployer, progress: Any = None) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(Deployer, "apply", interrupted)
    code, err = run_main(["up", "--yes", *PLAN_ARGS], monkeypatch, capsys)
    assert code == 130
    assert "run `election up` again to resume" in err


def test_bad_plan_is_one_sentence(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text(AWS_PLAN.read_text().replace("batch_size: 10", "batch_size: -3"))
    code, err = run_main(["plan", "--plan", str(bad)], monkeypatch, capsys)
    assert code == 1
    assert "queue.batch_size: -3 is out of range; it must be between 1 and 10." in " ".join(err.split())
    assert "Traceback" not in err


def test_unreachable_endpoint_is_one_sentence(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["status", *PLAN_ARGS, "--endpoint-url", "http://127.0.0.1:9"], monkeypatch, capsys)
    assert code == 1
    assert "Cannot reach the AWS endpoint http://127.0.0.1:9" in " ".join(err.split())


def test_up_asks_first_and_a_no_changes_nothing(moto: None) -> None:
    out = CliRunner().invoke(cli, ["up", *PLAN_ARGS], input="n\n")
    assert out.exit_code != 0 and "Apply these changes?" in out.output
    assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []


def test_a_web_server_that_is_not_aws_is_one_sentence(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import http.server
    import threading

    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body><p>a voting page</body></html>")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, err = run_main(["plan", *PLAN_ARGS, "--endpoint-url", url], monkeypatch, capsys)
    finally:
        server.shutdown()
    assert code == 1
    assert f"The endpoint {url} answers, but not like AWS" in " ".join(err.split())
    assert "Traceback" not in err


def test_a_local_plan_without_a_running_stack_says_so(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from provision_support import LOCAL_PLAN

    monkeypatch.chdir(tmp_path)
    code, err = run_main(["status", "--plan", str(LOCAL_PLAN)], monkeypatch, capsys)
    assert code == 1
    assert "is a local plan but no local stack is running; start one with `election dev`" in " ".join(err.split())


def test_status_without_a_plan_uses_the_running_local_stack(aws_env: None, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`election dev` says status finds it: the endpoint comes from .election/local.json (here: one not listening)."""
    import os

    from provision_support import LOCAL_PLAN

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ELECTION_PLAN", raising=False)
    monkeypatch.delenv("ELECTION_ENDPOINT_URL", raising=False)
    (tmp_path / ".election").mkdir()
    (tmp_path / ".election" / "local.json").write_text(json.dumps(
        {"endpoint_url": "http://127.0.0.1:9", "plan": str(LOCAL_PLAN), "pid": os.getpid(), "regions": {}}))
    code, err = run_main(["status"], monkeypatch, capsys)
    assert code == 1
    assert "Cannot reach the AWS endpoint http://127.0.0.1:9" in " ".join(err.split())
