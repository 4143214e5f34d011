"""The deployer's side of the roll import, on moto in-process: wait, import, replicas, stale rolls, bad imports."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from moto import mock_aws
from provision_support import AWS_PLAN, LOCAL_PLAN, actions, deployer

from election.errors import ElectionError
from election.ops.rollimport import seed_import
from election.ops.seed import prepare_credentials
from election.ops.target import Target
from election.plan import load_plan
from election.plan_roll import RollImport
from election.provision.clients import ClientProvider
from election.provision.kinds.roll_import import WAITING

BUCKET = "roll-bucket"


def _setup(plan_path: Path) -> Any:
    plan = dataclasses.replace(load_plan(plan_path), roll=RollImport(BUCKET, "r/"))
    # moto runs ImportTable in a thread of its own: the waits must really yield (briefly) to it, or a busy
    # machine gives up before the import ends.
    d = deployer(plan, edge=False, sleep=lambda _seconds: time.sleep(0.02))
    target = Target(plan, ClientProvider())
    target.client("s3", "us-east-1").create_bucket(Bucket=BUCKET)
    return plan, d, target


def _seeded(plan_path: Path, tmp_path: Path, voters: int) -> Any:
    """_setup, then `up` (the voters table waits) and a roll of `voters` written by seed-voters --import."""
    plan, d, target = _setup(plan_path)
    d.apply()
    seed_import(target, tmp_path / "v.csv", prepare_credentials(tmp_path / "v.csv", voters, False))
    return plan, d, target


def _new_pepper(target: Target, region: str) -> None:
    """The voter pepper of `region` made anew, as a deployment made again from nothing would."""
    sm = target.client("secretsmanager", region)
    sm.delete_secret(SecretId=target.names.voter_pepper, ForceDeleteWithoutRecovery=True)
    sm.create_secret(Name=target.names.voter_pepper, SecretString="ab" * 32)


def _count(target: Target, region: str) -> int:
    return int(target.client("dynamodb", region).scan(TableName=target.names.voters, Select="COUNT")["Count"])


def _spy_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any], int]]:
    """Every AWS call any client makes: (region, operation, parameters, nesting), nesting 2 for a call made while
    another is answered in the same thread (the emulator's replica table, made in UpdateTable's answer)."""
    calls: list[tuple[str, str, dict[str, Any], int]] = []
    depth = threading.local()
    real = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        depth.n = getattr(depth, "n", 0) + 1
        calls.append((client.meta.region_name, operation, dict(params), depth.n))
        try:
            return real(client, operation, params)
        finally:
            depth.n -= 1

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    return calls


def test_global_table_imports_in_the_primary_and_adds_the_replica(aws_env: None, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        plan, d, target = _setup(AWS_PLAN)
        out = d.apply()
        voters_keys = {f"{r}/table/election-2026-voters" for r in plan.region_names}
        assert set(out["waiting"]) == voters_keys and set(out["waiting"].values()) == {WAITING}
        assert all("voters" not in out["regions"][r]["tables"] for r in plan.region_names)
        again = d.diff()
        assert actions(again) == {"noop": len(again.steps)}                # waiting is not a change
        assert {s.key: s.note for s in again.steps if s.note} == dict.fromkeys(voters_keys, WAITING)

        voters = prepare_credentials(tmp_path / "v.csv", 1_200, False)
        rep = seed_import(target, tmp_path / "v.csv", voters, part_voters=500)
        assert rep.import_regions == ("us-east-1",)           # the replica copies the primary
        shown = d.diff()
        assert {s.key for s in shown.steps if s.action != "noop"} == voters_keys
        calls = _spy_calls(monkeypatch)
        out = d.apply()
        assert out["waiting"] == {}
        # Imported once, in the primary; the replica asked of the primary by UpdateTable ReplicaUpdates, and its
        # table made only inside that answer (the emulator playing AWS), never imported or created by the deployer.
        voters = target.names.voters
        imports = [(r, c["TableCreationParameters"]["TableName"]) for r, op, c, _ in calls if op == "ImportTable"]
        assert imports == [("us-east-1", voters)]
        asked = [(r, c["TableName"], c["ReplicaUpdates"]) for r, op, c, _ in calls
                 if op == "UpdateTable" and "ReplicaUpdates" in c]
        assert [(r, t, [list(u) for u in ups]) for r, t, ups in asked] == [("us-east-1", voters, [["Create"]])]
        assert asked[0][2][0]["Create"]["RegionName"] == "us-west-2"
        made = [(r, n) for r, op, c, n in calls if op == "CreateTable" and c["TableName"] == voters]
        assert made == [("us-west-2", 2)]
        assert _count(target, "us-east-1") == 1_200
        primary = target.client("dynamodb", "us-east-1").describe_table(TableName=target.names.voters)["Table"]
        assert primary["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"   # replicas need it
        # The replica was asked of the primary (UpdateTable ReplicaUpdates), not imported: the emulator plays
        # AWS's answer by creating the table there (moto lists no replicas and copies nothing).
        replica = target.client("dynamodb", "us-west-2").describe_table(TableName=target.names.voters)["Table"]
        assert replica["SSEDescription"]["KMSMasterKeyArn"].startswith("arn:aws:kms:us-west-2:")
        assert not d.diff().changed


def test_a_roll_hashed_under_an_earlier_pepper_is_not_imported(aws_env: None, tmp_path: Path) -> None:
    with mock_aws():
        _, d, target = _seeded(LOCAL_PLAN, tmp_path, 50)
        _new_pepper(target, "us-west-2")    # the plan deployed anew there: a new pepper secret
        notes = {s.key: s.note for s in d.diff().steps if s.note}
        assert notes == {"us-west-2/table/election-local-voters": (
            "waits for a new roll: the one at s3://roll-bucket/r/roll.json was hashed under an earlier voter pepper; "
            "empty that location and run `election seed-voters --import` again")}


def test_a_replica_waits_with_its_primary_for_a_roll_under_an_earlier_pepper(aws_env: None, tmp_path: Path) -> None:
    """The primary of a global table will not import a stale roll, so its replica has nothing to be added to."""
    with mock_aws():
        plan, d, target = _seeded(AWS_PLAN, tmp_path, 30)
        _new_pepper(target, plan.primary_region)    # deployed anew: a new pepper secret
        steps = {s.key: s for s in d.diff().steps if "voters" in s.key}
        assert set(steps) == {f"{r}/table/election-2026-voters" for r in plan.region_names}
        assert {k: str(s.action) for k, s in steps.items()} == dict.fromkeys(steps, "noop")
        assert all(s.note.startswith("waits for a new roll") for s in steps.values())


def test_an_old_roll_left_in_s3_does_not_stop_the_next_deployment(aws_env: None, tmp_path: Path) -> None:
    """`down` leaves the roll's bucket alone; the next `up` runs before the new pepper exists: the old roll
    is stale (hashed under a pepper that is gone), not an error that stops every other resource."""
    with mock_aws():
        _, d, target = _seeded(LOCAL_PLAN, tmp_path, 20)
        for region in target.plan.region_names:       # deployed anew from nothing: no pepper yet
            target.client("secretsmanager", region).delete_secret(SecretId=target.names.voter_pepper,
                                                                  ForceDeleteWithoutRecovery=True)
        notes = {s.key: s.note for s in d.diff().steps if "voters" in s.key}
        assert notes and all(n.startswith("waits for a new roll") for n in notes.values()), notes


def test_an_import_that_lost_voters_fails_in_one_sentence(aws_env: None, tmp_path: Path) -> None:
    with mock_aws():
        _, d, target = _seeded(LOCAL_PLAN, tmp_path, 40)
        s3 = target.client("s3", "us-east-1")
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="r/roll.json")["Body"].read())
        s3.put_object(Bucket=BUCKET, Key="r/roll.json", Body=json.dumps({**manifest, "voters": 41}).encode())
        d.diff()
        with pytest.raises(ElectionError, match=r"^The import of the roll into election-local-voters in us-\w+-\d "
                                                r"ended COMPLETED with 40 of 41 voters \(0 bad items\); see the log "
                                                r"group /aws-dynamodb/imports, delete the table and run `election "
                                                r"up` again\.$"):
            d.apply()


def test_a_manifest_that_is_not_ours_is_one_sentence(aws_env: None) -> None:
    with mock_aws():
        _, d, target = _setup(LOCAL_PLAN)
        target.client("s3", "us-east-1").put_object(Bucket=BUCKET, Key="r/roll.json", Body=b"<html>")
        with pytest.raises(ElectionError, match=r"s3://roll-bucket/r/roll.json is not a roll manifest written by "
                                                r"`election seed-voters --import`; delete it and seed again\."):
            d.apply()
