"""A national roll by import: seed-voters --import writes hashed parts to S3, `up` imports the voters tables.

End to end on the local stack: the first `up` (the stack's start) makes everything but the voters
table, which waits for its roll; seed-voters --import writes the roll with the pepper that `up` made;
the next `up` imports it into each region; voters then vote through the router and the audit passes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stack_support import local_plan_with, run_cli

from election.lambdas.contract import VOTERS_KEY
from election.local.stack import LocalStack
from election.ops.audit import audit, load_receipts
from election.ops.seed import read_credentials, voter_key
from election.ops.target import Target

pytestmark = pytest.mark.e2e
BUCKET = "election-roll-test"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    home = tmp_path_factory.mktemp("roll")
    plan = local_plan_with(home / "plan.yaml", **{"lambda": {"timeout_s": 1}, "queue": {"visibility_timeout_s": 2},
                                                 "roll": {"import": f"s3://{BUCKET}/national/"}})
    with LocalStack(plan, state_dir=home / ".election", health_interval_s=0.5) as s:
        yield s


def voters_table_exists(target: Target, region: str) -> bool:
    try:
        target.client("dynamodb", region).describe_table(TableName=target.names.voters)
        return True
    except ClientError:
        return False


def test_seed_import_then_up_imports_and_voters_vote(stack: LocalStack) -> None:
    here = stack.state_dir.parent

    def run(*args: str) -> tuple[int, Any]:
        return run_cli(*args, cwd=here)

    target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
    regions = stack.plan.region_names
    assert not any(voters_table_exists(target, r) for r in regions)   # the stack's own `up` left it waiting

    code, out = run("up", "--yes")
    assert code == 0, out
    said = " ".join(out.split())      # rich wraps at the terminal's width
    assert ("us-east-1: the voters table election-local-voters waits for the roll: run `election seed-voters "
            "--import`, then `election up` again.") in said

    code, rep = run("seed-voters", "--import", "--count", "300", "--out", "voters.csv", "--json")
    assert code == 0, rep
    assert rep["voters"] == 300 and rep["parts"] == 1 and rep["written_now"] == 1
    assert sorted(rep["import_regions"]) == sorted(regions)
    assert (here / "voters.csv").stat().st_mode & 0o777 == 0o600
    voters = read_credentials(here / "voters.csv")

    # The part holds exactly what BatchWriteItem seeding writes: the keyed hash and the state, no voter ID.
    s3 = target.client("s3", regions[0])
    body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key="national/parts/part-00000.json.gz")["Body"].read())
    items = [json.loads(line)["Item"] for line in body.splitlines()]
    pepper = bytes.fromhex(target.client("secretsmanager", regions[0]).get_secret_value(
        SecretId=target.names.voter_pepper)["SecretString"])
    assert {(i[VOTERS_KEY]["S"], i["state"]["S"]) for i in items} == {(voter_key(pepper, v), s) for v, s in voters}
    assert all(set(i) == {VOTERS_KEY, "state"} for i in items)
    assert not any(v.encode() in body for v, _ in voters[:50])
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="national/roll.json")["Body"].read())
    assert manifest["voters"] == 300 and manifest["format"] == "DYNAMODB_JSON" and manifest["compression"] == "GZIP"

    # The next `up` imports, as an operator runs it (moto's ImportTable runs in the stack's process).
    code, out = run("up", "--yes")
    assert code == 0, out
    for r in regions:
        desc = target.client("dynamodb", r).describe_table(TableName=target.names.voters)["Table"]
        assert desc["DeletionProtectionEnabled"] and desc["StreamSpecification"]["StreamEnabled"]
        assert desc["SSEDescription"]["KMSMasterKeyArn"].startswith(f"arn:aws:kms:{r}:")
        assert target.client("dynamodb", r).scan(TableName=target.names.voters, Select="COUNT")["Count"] == 300
    code, out = run("up", "--yes")
    assert code == 0 and "Nothing to do (0 mutating AWS calls)." in " ".join(out.split()), out   # converged

    code, out = run("seed-voters", "--import", "--count", "10", "--out", "more.csv")
    assert code == 1 and "already exists in us-east-1, and DynamoDB imports only into a new table" in " ".join(
        out.split())
    assert not (here / "more.csv").exists()

    code, rep = run("loadtest", "--voters", "voters.csv", "--votes", "120", "--rate", "40", "--concurrency", "8",
                    "--seed", "3", "--drain-timeout", "120", "--json")
    assert code == 0, rep
    assert rep["verified"] and rep["accepted_voters"] == 120, rep["problems"]
    assert audit(target, load_receipts(here / rep["ledger"])).ok      # the ledger path is relative to here
