"""`loadtest --fleet N` on the local stack: N workers through the Lambda handler's own code path and S3.

The fleet is its own plan on the same engine (provision/fleet.py): deployed next to the local election,
invisible to the election's plan, and removed without touching it. A fleet of 3 workers gives the same
verified report as one process at the same rate; a slice naming a URL the fleet was not deployed for is
refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from test_ops_loadtest import SlowServer

from election.data import SITE_DIR
from election.errors import ElectionError
from election.lambdas.loadgen import worker
from election.lambdas.loadgen.httpclient import Connection, Endpoint
from election.local.stack import LocalStack
from election.ops import fleet as fleet_ops
from election.ops import loadtest
from election.ops.seed import read_credentials, seed_voters
from election.ops.target import Target
from election.provision.engine import Deployer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*ServiceUnavailable does not match")]
ROOT = Path(__file__).resolve().parents[1]


# --- the worker alone: standard-library HTTP, S3 in and out --------------------------------------------------


def test_the_stdlib_client_keeps_one_connection_and_reads_the_answer() -> None:
    server = SlowServer(delay=0.0)
    with server as url:
        async def two() -> list[tuple[int, bytes]]:
            conn = Connection(Endpoint(url), 5.0)       # url ends in /votes
            got = [await conn.post(b"{}"), await conn.post(b"{}")]
            await conn.close()
            return got
        answers = asyncio.run(two())
    assert answers == [(202, b'{"receipt": "' + b"0" * 32 + b'"}')] * 2
    assert len(server.arrivals) == 2


def test_a_slice_for_a_url_the_fleet_was_not_deployed_for_is_refused_before_sending() -> None:
    server = SlowServer(delay=0.0)
    with server as url, mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="runs")
        reqs = [loadtest.Req("vote", "V", "CA", "Jill Stein", loadtest.vote_body("V", "Jill Stein"))]
        run = fleet_ops.Run(s3, "runs", "runs/r1")
        keys = run.store_slices(url, reqs, 10.0, 2, 5.0, random.Random(1), {}, 1)
        with pytest.raises(worker.Refused, match="is not the voting API of an election this fleet"):
            worker.run_slice(s3, "runs", keys[0], 0.0, ["https://api.example.org"])
        assert server.arrivals == []
        result = worker.run_slice(s3, "runs", keys[0], 0.0, [url.removesuffix("/votes")])   # its election: sent
        doc = json.loads(s3.get_object(Bucket="runs", Key="runs/r1/outcomes/0.json")["Body"].read())
    assert result["answered"] == 1 and len(server.arrivals) == 1
    assert [worker.decode_outcome(r).status for r in doc["outcomes"]] == [202]


def test_the_lambda_handler_runs_the_slice_its_event_names_in_its_own_bucket(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = SlowServer(delay=0.0)
    with server as url, mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="fleet-runs")
        reqs = [loadtest.Req("vote", f"V{i}", "CA", "Jill Stein", loadtest.vote_body("V", "Jill Stein"))
                for i in range(3)]
        keys = fleet_ops.Run(s3, "fleet-runs", "runs/r2").store_slices(url, reqs, 30.0, 2, 5.0, random.Random(1),
                                                                      {}, 1)
        monkeypatch.setenv(worker.ENV_BUCKET, "fleet-runs")
        monkeypatch.setenv(worker.ENV_ALLOWED, "https://api.example.org," + url.removesuffix("/votes"))
        monkeypatch.setattr(worker, "_S3", None)             # a fresh container: the handler makes its client
        result = worker.handler({"slice": keys[0], "start_at": 0.0}, None)
        assert s3.head_object(Bucket="fleet-runs", Key="runs/r2/outcomes/0.json")["ContentLength"] > 0
    assert result["answered"] == 3 and result["late_start_s"] > 0      # a start time long past: late, and says so


def test_the_election_functions_do_not_ship_the_load_generator() -> None:
    from election.lambdas import contract
    from election.provision import fleet as fleet_model
    from election.provision import package

    for role in contract.FUNCTIONS:
        assert not [f for f in package.build(role).files if "loadgen" in f]
    data, _ = fleet_model.build_zip()
    import io
    import zipfile
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "election/lambdas/loadgen/worker.py" in names and "election/lambdas/enqueue.py" not in names


def test_fleet_sizes_that_cannot_work_are_one_sentence() -> None:
    with pytest.raises(ElectionError, match=r"^--fleet must be between 1 and 16 on the local stack"):
        fleet_ops.check_fleet_size(17, 100, local=True)
    with pytest.raises(ElectionError, match=r"^--fleet must be between 1 and 1000 \(Lambda's"):
        fleet_ops.check_fleet_size(0, 100, local=False)
    with pytest.raises(ElectionError, match=r"^--fleet 5 is more workers than the 3 requests planned"):
        fleet_ops.check_fleet_size(5, 3, local=True)
    fleet_ops.check_fleet_duration(800_000, 1000.0, 30.0)                # 800 s of schedule: fits
    with pytest.raises(ElectionError, match=r"^A fleet run's schedule must end within 865 s .* take 1000 s"):
        fleet_ops.check_fleet_duration(100_000, 100.0, 30.0)


def test_an_invocation_whose_answer_is_lost_is_one_sentence_and_the_connection_is_kept_alive() -> None:
    """A worker runs up to 15 minutes on one idle connection: NATs and load balancers drop idle TCP flows after
    350 s (AWS knowledge center, lambda-vpc-timeout), so the client sends TCP keepalives; a lost answer or a
    throttled invocation is one sentence, not a botocore traceback."""
    from botocore.exceptions import ClientError, ReadTimeoutError

    class FakeLambda:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def invoke(self, **kw: object) -> None:
            raise self.exc

    configs = []

    class Provider:
        exc: Exception = ReadTimeoutError(endpoint_url="https://lambda.us-east-1.amazonaws.com")

        def raw_client(self, service: str, region: str, config: object = None) -> FakeLambda:
            configs.append(config)
            return FakeLambda(self.exc)

    class FakeTarget:
        provider = Provider()

    site = fleet_ops.FleetSite("us-east-1", "b", "f", ("https://x",), local=False)
    start = fleet_ops._lambda_starter(FakeTarget(), site)    # type: ignore[arg-type]
    assert configs[0].tcp_keepalive is True
    with pytest.raises(ElectionError, match=r"^Fleet worker runs/1/slices/0.json: the invocation of f failed "):
        start("runs/1/slices/0.json", 0.0)
    FakeTarget.provider.exc = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate"}},
                                          "Invoke")
    with pytest.raises(ElectionError, match=r"TooManyRequestsException"):
        fleet_ops._lambda_starter(FakeTarget(), site)("k", 0.0)    # type: ignore[arg-type]


def test_a_runs_delete_takes_that_run_only_in_batches_of_a_thousand() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="fleet-runs")
        for i in range(1001):
            s3.put_object(Bucket="fleet-runs", Key=f"runs/r1/slices/{i}.json", Body=b"{}")
        others = ["other/x", "runs/r1", "runs/r10/slices/0.json"]        # not under "runs/r1/"
        for key in others:
            s3.put_object(Bucket="fleet-runs", Key=key, Body=b"{}")
        batches: list[int] = []
        real = s3.delete_objects

        def counting(**kwargs: object) -> object:
            batches.append(len(kwargs["Delete"]["Objects"]))          # type: ignore[index]
            return real(**kwargs)

        s3.delete_objects = counting                                   # type: ignore[method-assign]
        fleet_ops.Run(s3, "fleet-runs", "runs/r1").delete()
        left = [o["Key"] for o in s3.list_objects_v2(Bucket="fleet-runs").get("Contents", [])]
    assert sorted(left) == others and batches == [1000, 1]


def test_a_delete_s3_answers_with_per_key_errors_is_asked_again_then_named() -> None:
    """DeleteObjects answers 200 and lists, in quiet mode, only the keys it did not delete (Errors): those
    are asked again; still there after the attempts, one sentence names them (a slice holds voter IDs)."""
    from election.provision.kinds import s3util

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="fleet-runs")
        for i in range(3):
            s3.put_object(Bucket="fleet-runs", Key=f"runs/r1/slices/{i}.json", Body=b"{}")
        real, refusals, asked = s3.delete_objects, [2], []

        def flaky(**kwargs: Any) -> Any:
            keys = [o["Key"] for o in kwargs["Delete"]["Objects"]]
            asked.append(keys)
            if refusals[0]:
                refusals[0] -= 1
                kwargs["Delete"]["Objects"] = [o for o in kwargs["Delete"]["Objects"] if o["Key"] != keys[0]]
                answer = real(**kwargs) if kwargs["Delete"]["Objects"] else {}
                answer["Errors"] = [{"Key": keys[0], "Code": "InternalError", "Message": "We encountered an internal error."}]
                return answer
            return real(**kwargs)

        s3.delete_objects = flaky                                      # type: ignore[method-assign]
        s3util.delete_prefix(s3, "fleet-runs", "runs/r1/", sleep=lambda s: None)
        assert s3.list_objects_v2(Bucket="fleet-runs").get("Contents", []) == []
        assert asked[1:] == [["runs/r1/slices/0.json"]] * 2, "only the refused key is asked again"

        s3.put_object(Bucket="fleet-runs", Key="runs/r1/slices/0.json", Body=b"{}")
        refusals[0] = 1_000
        with pytest.raises(ElectionError, match=r"^S3 did not delete 1 object\(s\) under s3://fleet-runs/runs/r1/ "
                                                r"\(first runs/r1/slices/0.json: InternalError\)"):
            s3util.delete_prefix(s3, "fleet-runs", "runs/r1/", sleep=lambda s: None)


def test_fleet_option_is_checked_before_anything_runs() -> None:
    from click.testing import CliRunner

    from election.cli import cli
    result = CliRunner().invoke(cli, ["loadtest", "--fleet", "0"])
    assert result.exit_code == 2 and "'--fleet': 0 is not in the range 1<=x<=1000" in result.output


# --- on the local stack ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Target, Path]]:
    tmp = tmp_path_factory.mktemp("fleet")
    with LocalStack(ROOT / "config/local.yaml", state_dir=tmp / "state") as s:
        target = Target(plan=s.plan, provider=s.provider, endpoints=s.endpoints, state_dir=tmp / "state")
        yield s, target, tmp


def test_the_fleet_is_a_plan_of_its_own_on_the_same_engine(stack: tuple[LocalStack, Target, Path]) -> None:
    _, target, _ = stack
    with pytest.raises(ElectionError, match="No load fleet is deployed for plan 'election-local'"):
        fleet_ops.locate(target)
    deployer = fleet_ops.fleet_deployer(target, sleep=lambda _s: None)
    first = deployer.diff()
    assert sorted(s.kind for s in first.steps if s.action == "create") == [
        "iam_role", "kms_key", "lambda_function", "log_group", "site_bucket"]
    deployer.apply()
    assert not fleet_ops.fleet_deployer(target, sleep=lambda _s: None).diff().changed   # a second up: nothing
    site = fleet_ops.locate(target)
    assert set(site.allowed) == {target.endpoints["router"], *target.endpoints["regions"].values()}
    # The election's own plan neither sees nor would delete any of it.
    election = Deployer(target.plan, target.provider, site_dir=SITE_DIR, sleep=lambda _s: None)
    assert not [s for s in election.diff().steps if s.action == "delete"]


def _count_workers(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[int]]:
    """Spies on a fleet run: the slice keys its workers were started with, and the number of outcomes in each
    outcome document read back for merging."""
    started: list[str] = []
    merged: list[int] = []
    real_starter, real_outcomes = fleet_ops._local_starter, fleet_ops.Run.outcomes

    def starter(target: Target, site: fleet_ops.FleetSite, run: fleet_ops.Run) -> Any:
        start = real_starter(target, site, run)

        def counted(key: str, start_at: float) -> Any:
            started.append(key)
            return start(key, start_at)
        return counted

    def outcomes(self: fleet_ops.Run, k: int) -> dict[str, Any] | None:
        doc = real_outcomes(self, k)
        if doc is not None:
            merged.append(len(doc["outcomes"]))
        return doc

    monkeypatch.setattr(fleet_ops, "_local_starter", starter)
    monkeypatch.setattr(fleet_ops.Run, "outcomes", outcomes)
    return started, merged


def test_three_fleet_workers_give_the_same_verified_report_as_one_process(
        stack: tuple[LocalStack, Target, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, target, tmp = stack
    started, merged = _count_workers(monkeypatch)
    seed_voters(target, tmp / "v.csv", 240)
    voters = read_credentials(tmp / "v.csv")
    url = target.endpoints["router"]
    kwargs = {"votes": 100, "rate": 40.0, "concurrency": 12, "duplicates": 0.1, "invalid": 0.1,
              "drain_timeout": 120}
    one = loadtest.run_loadtest(target, voters[:120], url, seed=3, ledger=tmp / "one.jsonl", **kwargs)
    three = loadtest.run_loadtest(target, voters[120:], url, seed=3, ledger=tmp / "three.jsonl", fleet=3,
                                  **kwargs)
    for name, report in (("one process", one), ("fleet of 3", three)):
        print(f"\n{name}: {report.planned} requests in {report.seconds} s, {report.throughput}/s, "
              f"latency {report.latency_ms}, {report.statuses}, verified {report.verified}, "
              f"latest worker start {report.fleet_late_s} s late")
        assert report.verified, report.problems
        assert report.accepted_voters == 100 and report.by_kind["vote"] == {"202": 100}
        assert not report.unexpected and report.other_traffic == 0
    assert three.fleet == 3 and one.fleet == 0
    # Three workers really ran: three distinct slices started, three outcome documents merged, each with its share.
    assert sorted(k.rsplit("/", 1)[1] for k in started) == ["0.json", "1.json", "2.json"]
    assert len(set(started)) == 3 and len(merged) == 3 and min(merged) > 0
    assert sum(merged) == three.planned
    # The same traffic (same seed): every kind's count matches, but a duplicate is sent only once its worker has
    # seen a vote accepted to repeat (as with --workers), so a few early ones of each worker are skipped.
    def counts(report: loadtest.Report) -> dict[str, int]:
        return {kind: sum(by.values()) for kind, by in report.by_kind.items() if kind != "duplicate"}
    assert counts(three) == counts(one)
    assert abs(sum(three.by_kind["duplicate"].values()) - sum(one.by_kind["duplicate"].values())) <= 3 * 3
    # The same open-loop schedule: both take about planned / rate (3.1 s) to the last answer. Bounds far from a
    # split that sent every slice at the full rate (~1 s) or one worker after another (~9 s), so a busy shared
    # machine (workers starting late, slow answers) cannot fail it and such a bug still would.
    expected = one.planned / 40.0
    for report in (one, three):
        assert 0.7 * expected < report.seconds < 2.5 * expected, (one.seconds, three.seconds)
    site = fleet_ops.locate(target)
    listed = target.client("s3", site.region).list_objects_v2(Bucket=site.bucket, Prefix="runs/")
    assert listed.get("KeyCount", 0) == 0           # slices (voter IDs) and outcomes deleted after merging


def test_ctrl_c_stops_every_worker_through_s3_and_keeps_their_answers(
        stack: tuple[LocalStack, Target, Path]) -> None:
    _, target, tmp = stack
    voters = read_credentials(tmp / "v.csv")[:20]      # already voted in the comparison run: 409s, nothing counted
    pressed: list[int] = []

    def ctrl_c(live: loadtest.Live) -> None:
        if live.sent >= 8 and not pressed:
            pressed.append(live.sent)
            raise KeyboardInterrupt

    fired = loadtest.fire(target, voters, target.endpoints["router"], 20, 4.0, 4, ledger=tmp / "c.jsonl", fleet=2,
                          on_tick=ctrl_c)
    assert pressed and fired.report.interrupted == "sending"
    # The workers saw the stop key within a second or two: far fewer than the 20 planned (5 s of schedule) went.
    assert 0 < fired.report.planned < 20
    site = fleet_ops.locate(target)
    listed = target.client("s3", site.region).list_objects_v2(Bucket=site.bucket, Prefix="runs/")
    assert listed.get("KeyCount", 0) == 0


def test_a_fleet_url_the_plan_does_not_name_sends_nothing(stack: tuple[LocalStack, Target, Path]) -> None:
    _, target, tmp = stack
    voters = read_credentials(tmp / "v.csv")[:5]
    with pytest.raises(ElectionError, match=r"^Not sending: http://127\.0\.0\.1:9/votes is not the voting API"):
        loadtest.fire(target, voters, "http://127.0.0.1:9", 5, 10.0, 2, ledger=tmp / "x.jsonl", fleet=2)


def test_fleet_and_workers_together_is_one_sentence_and_sends_nothing(
        stack: tuple[LocalStack, Target, Path]) -> None:
    _, target, tmp = stack
    voters = read_credentials(tmp / "v.csv")[:5]
    with pytest.raises(ElectionError, match=r"^--fleet and --workers cannot be combined"):
        loadtest.fire(target, voters, target.endpoints["router"], 5, 10.0, 2, ledger=tmp / "y.jsonl", fleet=2,
                      workers=2)
    with pytest.raises(ElectionError, match=r"^--fleet must be between 1 and 16 on the local stack"):
        loadtest.fire(target, voters, target.endpoints["router"], 5, 10.0, 2, ledger=tmp / "y.jsonl", fleet=17)
    assert not (tmp / "y.jsonl").exists()


def test_the_operator_deploys_and_sends_with_the_cli(stack: tuple[LocalStack, Target, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from stack_support import run_cli

    _, _, tmp = stack
    monkeypatch.setenv("ELECTION_STATE_DIR", str(tmp / "state"))
    code, out = run_cli("up", "--fleet", "--yes", cwd=tmp)
    assert code == 0 and "Nothing to do" in out, out          # deployed by the first test: a second up is a no-op
    code, out = run_cli("plan", "--fleet", cwd=tmp)
    assert code == 0 and "0 to create, 0 to update, 0 to delete, 5 unchanged." in out, out   # the fleet's 5 only
    code, out = run_cli("seed-voters", "--count", "30", "--out", "w.csv", "--json", cwd=tmp)
    assert code == 0, out
    code, report = run_cli("loadtest", "--voters", "w.csv", "--rate", "15", "--fleet", "2", "--json", cwd=tmp)
    assert code == 0 and report["verified"] and report["fleet"] == 2, report
    assert report["statuses"] == {"202": 30} and report["accepted_voters"] == 30
    code, out = run_cli("loadtest", "--voters", "w.csv", "--reuse-voters", "--fleet", "2", "--workers", "2", cwd=tmp)
    assert code != 0 and "--fleet and --workers cannot be combined" in out and "Traceback" not in out


def test_down_of_the_fleet_leaves_the_election_alone(stack: tuple[LocalStack, Target, Path]) -> None:
    _, target, _ = stack
    deleted = fleet_ops.fleet_deployer(target, sleep=lambda _s: None, removing=True).destroy()
    assert sorted(k.split("/")[1] for k in deleted) == [
        "iam_role", "kms_key", "lambda_function", "log_group", "site_bucket"]
    election = Deployer(target.plan, target.provider, site_dir=SITE_DIR, sleep=lambda _s: None)
    assert not election.diff().changed               # every resource of the election is still there, unchanged
    with pytest.raises(ElectionError, match="No load fleet is deployed"):
        fleet_ops.locate(target)
