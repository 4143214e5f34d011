"""seed-voters --import on moto: parts in S3, resumable after a crash, and one sentence for every bad input."""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from moto import mock_aws

from election.errors import ElectionError
from election.lambdas.contract import VOTERS_KEY
from election.ops import rollimport
from election.ops.sandbox import create_data_resources
from election.ops.seed import prepare_credentials, voter_key
from election.ops.target import Target
from election.plan import PlanError, load_plan, parse_plan
from election.plan_roll import RollImport
from election.provision.clients import ClientProvider

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "roll-bucket"


@pytest.fixture
def target(aws_env: None) -> Any:
    with mock_aws():
        plan = dataclasses.replace(load_plan(ROOT / "config/local.yaml"), roll=RollImport(BUCKET, "r/"))
        t = Target(plan, ClientProvider())
        t.peppers = create_data_resources(t, voters_table=False)    # type: ignore[attr-defined]
        yield t


class Crash(Exception):
    """Stands in for the process dying mid-way."""


class CrashingS3:
    """A real S3 client whose part uploads fail after `after` parts."""

    def __init__(self, real: Any, after: int) -> None:
        self.real, self.after, self.puts, self.lock = real, after, [], threading.Lock()

    def put_object(self, **kw: Any) -> Any:
        with self.lock:
            if "/parts/" in kw["Key"] and len(self.puts) >= self.after:
                raise Crash("killed")
            self.puts.append(kw["Key"])
        return self.real.put_object(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def parts_in(target: Target) -> dict[str, bytes]:
    s3 = target.client("s3", "us-east-1")
    keys = rollimport.existing_keys(target, target.plan.roll, "r/parts/")
    return {k: gzip.decompress(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys}


def crashed_run(target: Target, monkeypatch: pytest.MonkeyPatch, out: Path, wrap: Callable[[Any], CrashingS3],
                workers: int = 1) -> tuple[Any, CrashingS3]:
    """1,000 voters minted to `out`, then a seed_import in parts of 100 through `wrap(the real S3 client)`, which
    ends in Crash; (the voters, the wrapper), the wrapper still in place for the rest of the test."""
    voters = prepare_credentials(out, 1_000, False)
    real_client = target.client
    s3 = wrap(real_client("s3", "us-east-1"))
    monkeypatch.setattr(target, "client", lambda svc, region: s3 if svc == "s3" else real_client(svc, region))
    with pytest.raises(Crash):
        rollimport.seed_import(target, out, voters, part_voters=100, workers=workers)
    return voters, s3


def test_parts_hold_every_voter_once_as_keyed_hash_and_state(target: Target, tmp_path: Path) -> None:
    voters = prepare_credentials(tmp_path / "v.csv", 2_345, False)
    rep = rollimport.seed_import(target, tmp_path / "v.csv", voters, part_voters=500)
    assert (rep.voters, rep.parts, rep.written_now) == (2_345, 5, 5)
    pepper = bytes.fromhex(target.peppers[target.names.voter_pepper])   # type: ignore[attr-defined]
    lines = [json.loads(line)["Item"] for body in parts_in(target).values() for line in body.splitlines()]
    assert sorted((i[VOTERS_KEY]["S"], i["state"]["S"]) for i in lines) == sorted(
        (voter_key(pepper, v), s) for v, s in voters)
    assert rep.bytes == sum(len(b) for b in parts_in(target).values())    # what ImportTable bills
    manifest = json.loads(target.client("s3", "us-east-1").get_object(Bucket=BUCKET, Key="r/roll.json")["Body"].read())
    assert manifest["voters"] == 2_345 and manifest["parts"] == 5 and sum(manifest["per_state"].values()) == 2_345
    assert set(manifest["pepper_secrets"]) == set(target.plan.region_names)


def test_killed_mid_way_then_resumed_sends_only_the_missing_parts(target: Target, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "v.csv"
    voters, crashing = crashed_run(target, monkeypatch, out, lambda real: CrashingS3(real, after=3))
    assert len(parts_in(target)) == 3
    assert "r/roll.json" not in rollimport.existing_keys(target, target.plan.roll, "r/")   # no manifest: up waits

    with pytest.raises(ElectionError, match=r"already holds 3 objects .* \(or pass --resume to finish this roll\)"):
        rollimport.seed_import(target, out, voters, part_voters=100)

    crashing.after, crashing.puts = 10**9, []
    again = prepare_credentials(out, None, True)        # --resume reads the same credential file back
    rep = rollimport.seed_import(target, out, again, resume=True, part_voters=100)
    assert (rep.written_now, rep.already_written, rep.parts) == (7, 3, 10)
    assert len([k for k in crashing.puts if "/parts/" in k]) == 7      # the 3 sent before the crash are not resent
    assert sum(len(b.splitlines()) for b in parts_in(target).values()) == 1_000

    # Rewriting a finished roll (its checkpoint lost): the manifest goes first, so `up` cannot import it half-done.
    (tmp_path / "v.csv.import.json").unlink()
    crashing.after, crashing.puts = 1, []
    with pytest.raises(Crash):
        rollimport.seed_import(target, out, again, resume=True, part_voters=100, workers=1)
    assert "r/roll.json" not in rollimport.existing_keys(target, target.plan.roll, "r/")


class SlowFirstPartS3(CrashingS3):
    """Part 0 takes a while; part 1 fails at once, while part 0 is still being sent."""

    def put_object(self, **kw: Any) -> Any:
        if kw["Key"].endswith("part-00001.json.gz"):
            raise Crash("killed")
        if kw["Key"].endswith("part-00000.json.gz"):
            time.sleep(0.5)
        self.puts.append(kw["Key"])
        return self.real.put_object(**kw)


def test_a_failure_starts_no_further_part_and_checkpoints_every_part_s3_has(
        target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "v.csv"
    _, s3 = crashed_run(target, monkeypatch, out, lambda real: SlowFirstPartS3(real, after=0), workers=2)
    assert s3.puts == ["r/parts/part-00000.json.gz"]        # parts 2..9 never started
    monkeypatch.undo()                                      # the real S3 client again
    rep = rollimport.seed_import(target, out, prepare_credentials(out, None, True), resume=True, part_voters=100)
    # part 0 ended after part 1 had failed; it is in S3, so it is in the checkpoint and not sent again
    assert (rep.written_now, rep.already_written, rep.parts) == (9, 1, 10)
    assert sum(len(b.splitlines()) for b in parts_in(target).values()) == 1_000


def test_resume_with_a_newly_minted_credential_file_rewrites_every_part(target: Target, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The credential file lost after a crash and minted anew (`--resume --count N` mints when the file is gone):
    the parts sent before the crash hold the old voters, so none of them may count as done."""
    out = tmp_path / "v.csv"
    first, crashing = crashed_run(target, monkeypatch, out, lambda real: CrashingS3(real, after=3))
    out.unlink()
    crashing.after = 10**9
    second = prepare_credentials(out, 1_000, True)
    assert set(second).isdisjoint(first)
    rep = rollimport.seed_import(target, out, second, resume=True, part_voters=100)
    assert (rep.written_now, rep.already_written) == (10, 0)
    pepper = bytes.fromhex(target.peppers[target.names.voter_pepper])   # type: ignore[attr-defined]
    lines = [json.loads(line)["Item"] for body in parts_in(target).values() for line in body.splitlines()]
    assert sorted(i[VOTERS_KEY]["S"] for i in lines) == sorted(voter_key(pepper, v) for v, _ in second)


def test_the_polls_do_not_open_while_the_voters_table_waits_for_its_roll(target: Target) -> None:
    """Before the import every voter would be unknown (and the health check would fail over every region)."""
    from election.ops import closing, polls

    with pytest.raises(ElectionError, match=r"^The voters table election-local-voters does not exist in us-east-1, "
                                            r"us-west-2, so every voter would be unknown .*seed-voters --import.*; "
                                            r"the polls stay closed\.$"):
        closing.open_polls(target)
    assert all(v["changed_at"] is None for v in polls.read_polls(target.provider, target.plan).values())


def test_a_roll_needs_a_location_and_no_table(target: Target, tmp_path: Path) -> None:
    bare = Target(dataclasses.replace(target.plan, roll=None), ClientProvider())
    with pytest.raises(ElectionError, match=r"the plan has no roll section, so there is nowhere to import from; "
                                            r"add `roll: \{import: s3://your-bucket/roll/\}`"):
        rollimport.check_ready(bare)
    ddb = target.client("dynamodb", "us-west-2")
    ddb.create_table(TableName=target.names.voters, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": VOTERS_KEY, "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": VOTERS_KEY, "AttributeType": "S"}])
    with pytest.raises(ElectionError, match=r"^The voters table election-local-voters already exists in us-west-2, "
                                            r"and DynamoDB imports only into a new table; .*\.$"):
        rollimport.check_ready(target)


def test_on_aws_the_bucket_is_yours_to_create(target: Target, tmp_path: Path) -> None:
    aws = Target(dataclasses.replace(target.plan, target="aws"), ClientProvider())
    voters = prepare_credentials(tmp_path / "v.csv", 10, False)
    with pytest.raises(ElectionError, match=r"^The bucket roll-bucket \(roll.import in .*\) does not exist; create "
                                            r"it \(private, in us-east-1\) and run the command again\.$"):
        rollimport.seed_import(aws, tmp_path / "v.csv", voters)


def test_a_location_holding_other_objects_is_refused(target: Target, tmp_path: Path) -> None:
    s3 = target.client("s3", "us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="r/parts/someone-elses.json.gz", Body=b"x")
    voters = prepare_credentials(tmp_path / "v.csv", 10, False)
    for resume in (False, True):
        with pytest.raises(ElectionError, match=r"s3://roll-bucket/r/ already holds 1 objects and ImportTable reads "
                                                r"every one of them"):
            rollimport.seed_import(target, tmp_path / "v.csv", voters, resume=resume)


@pytest.mark.parametrize("raw, says", [
    ({"import": "https://bucket/x"}, "roll.import: must be an S3 location like s3://my-bucket/roll/"),
    ({"import": "s3://Bad_Bucket/x"}, "roll.import: 'Bad_Bucket' is not an S3 bucket name"),
    ({"import": "s3://good-bucket/a b"}, "roll.import: 'a b' is not a usable key prefix"),
    ({"from": "s3://good-bucket/"}, "roll.from: unknown key (allowed: import)."),
    ("s3://good-bucket/", "roll: must be a mapping like {import: s3://bucket/prefix/}."),
])
def test_bad_roll_sections_are_one_sentence_naming_the_field(raw: Any, says: str) -> None:
    import yaml

    data = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    data["roll"] = raw
    with pytest.raises(PlanError) as err:
        parse_plan(data, "plan.yaml")
    assert str(err.value).startswith("plan.yaml: ") and says in str(err.value)
    assert str(err.value).count(". ") == 0


def test_prefix_gets_its_slash_and_parts_live_apart_from_the_manifest() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    data["roll"] = {"import": "s3://good-bucket/2026/national"}
    roll = parse_plan(data).roll
    assert roll is not None
    assert (roll.parts_prefix, roll.manifest_key, roll.part_key(7)) == (
        "2026/national/parts/", "2026/national/roll.json", "2026/national/parts/part-00007.json.gz")


def test_cli_without_a_roll_section_mints_nothing(aws_env: None, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from election.cli import cli

    monkeypatch.chdir(tmp_path)
    with mock_aws():
        got = CliRunner().invoke(cli, ["seed-voters", "--import", "--count", "5", "--out", "v.csv",
                                       "--plan", str(ROOT / "config/aws.yaml")])
    assert isinstance(got.exception, ElectionError)     # main() prints it as one sentence, no traceback
    assert "the plan has no roll section, so there is nowhere to import from" in str(got.exception)
    assert not (tmp_path / "v.csv").exists()


def test_cli_writes_the_roll_and_says_what_the_import_costs(aws_env: None, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from election.cli import cli

    data = yaml.safe_load((ROOT / "config/aws.yaml").read_text())
    data["roll"] = {"import": f"s3://{BUCKET}/2026/"}
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        target = Target(load_plan(plan_file), ClientProvider())
        create_data_resources(target, voters_table=False)
        target.client("s3", "us-east-1").create_bucket(Bucket=BUCKET)
        got = CliRunner().invoke(cli, ["seed-voters", "--import", "--count", "30", "--out", "v.csv",
                                       "--plan", str(plan_file)], terminal_width=200)
    assert got.exit_code == 0, got.output
    said = " ".join(got.output.split())
    assert said.startswith("Wrote 30 hashed voters in 1 part to s3://roll-bucket/2026/ (")
    assert "Now run `election up`: it imports the roll into us-east-1 (about $0.00 at $0.15 per GB)." in said
    assert (tmp_path / "v.csv").stat().st_mode & 0o777 == 0o600


def test_before_the_first_up_there_is_no_pepper_to_hash_with(aws_env: None, tmp_path: Path) -> None:
    with mock_aws():
        plan = dataclasses.replace(load_plan(ROOT / "config/local.yaml"), roll=RollImport(BUCKET, "r/"))
        with pytest.raises(ElectionError, match=r"^The voter pepper election-local/voter-pepper does not exist in "
                                                r"us-east-1 yet; run `election up` first \(it makes the pepper the "
                                                r"roll is hashed with\), then this command\.$"):
            rollimport.check_ready(Target(plan, ClientProvider()))
