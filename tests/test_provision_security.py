"""Security settings of every data-plane resource after `up` of config/aws.yaml (moto in-process)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from provision_support import deployer

from election.lambdas import contract
from election.local.iam import STAR_ONLY
from election.provision.engine import Deployer

PLAN = "election-2026"
REGIONS = ("us-east-1", "us-west-2")
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def up() -> Iterator[Deployer]:
    """One deployment shared by the read-only checks below."""
    saved = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(k, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    from moto import mock_aws

    try:
        with mock_aws():
            d = deployer()
            d.apply()
            yield d
    finally:
        os.environ.clear()
        os.environ.update(saved)


def key_arn(region: str) -> str:
    return boto3.client("kms", region_name=region).describe_key(KeyId=f"alias/{PLAN}")["KeyMetadata"]["Arn"]


def queue_attrs(region: str, name: str) -> dict[str, str]:
    sqs = boto3.client("sqs", region_name=region)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def policy(region: str, role: str) -> dict[str, Any]:
    return boto3.client("iam").get_role_policy(RoleName=f"{PLAN}-{role}-{region}", PolicyName="election")[
        "PolicyDocument"]


def resources(doc: dict[str, Any], action: str) -> set[str]:
    out: set[str] = set()
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if action in actions:
            out.update(st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
    return out


@pytest.mark.parametrize("region", REGIONS)
def test_kms_key_rotates_and_lets_logs_use_it_only_for_the_plans_groups(up: Deployer, region: str) -> None:
    kms = boto3.client("kms", region_name=region)
    arn = key_arn(region)
    assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is True
    doc = json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
    logs = next(s for s in doc["Statement"] if s.get("Principal", {}).get("Service", "").startswith("logs."))
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/{PLAN}-*")
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=arn)["Tags"]}
    assert tags["election:regions"] == ",".join(REGIONS) and tags["election:plan"] == PLAN


@pytest.mark.parametrize("region", REGIONS)
def test_tables_encrypted_with_the_region_key_pitr_protected_streamed(up: Deployer, region: str) -> None:
    ddb = boto3.client("dynamodb", region_name=region)
    for which, key in (("voters", "vk"), ("ballots", "bk"), ("results", "pk")):
        t = ddb.describe_table(TableName=f"{PLAN}-{which}")["Table"]
        assert t["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        # config/aws.yaml provisions the ballots table (plan tables.ballots); the others are on demand.
        assert t["BillingModeSummary"]["BillingMode"] == ("PROVISIONED" if which == "ballots" else "PAY_PER_REQUEST")
        assert t["SSEDescription"]["KMSMasterKeyArn"] == key_arn(region)
        assert t["DeletionProtectionEnabled"] is True
        assert t["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        pitr = ddb.describe_continuous_backups(TableName=f"{PLAN}-{which}")["ContinuousBackupsDescription"]
        assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@pytest.mark.parametrize("region", REGIONS)
def test_queues_encrypted_redriven_and_long_lived(up: Deployer, region: str) -> None:
    for main in ("votes", "handoff"):
        q = queue_attrs(region, f"{PLAN}-{main}")
        dlq = queue_attrs(region, f"{PLAN}-{main}-dlq")
        for attrs in (q, dlq):
            assert attrs["KmsMasterKeyId"] == key_arn(region)
            assert attrs["MessageRetentionPeriod"] == str(14 * 24 * 3600)
        # A hand-off waits out its home region's outage; a vote that keeps failing to process does not.
        receives = 1000 if main == "handoff" else up.plan.queue.max_receives
        assert json.loads(q["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": receives}
        assert q["VisibilityTimeout"] == str(up.plan.queue.visibility_timeout_s)
        assert "RedrivePolicy" not in dlq


@pytest.mark.parametrize("region", REGIONS)
def test_log_groups_encrypted_with_plan_retention(up: Deployer, region: str) -> None:
    groups = boto3.client("logs", region_name=region).describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{PLAN}-")["logGroups"]
    assert {g["logGroupName"] for g in groups} == {f"/aws/lambda/{PLAN}-{r}" for r in contract.FUNCTIONS}
    for g in groups:
        assert g["kmsKeyId"] == key_arn(region)
        assert g["retentionInDays"] == up.plan.log_retention_days


@pytest.mark.parametrize("region", REGIONS)
def test_peppers_encrypted_with_the_region_key(up: Deployer, region: str) -> None:
    sm = boto3.client("secretsmanager", region_name=region)
    for which in ("voter", "ballot"):
        desc = sm.describe_secret(SecretId=f"{PLAN}/{which}-pepper")
        assert desc["KmsKeyId"] == key_arn(region)


def test_every_policy_names_exact_resources_and_trusts_only_lambda(up: Deployer) -> None:
    iam = boto3.client("iam")
    keys = {key_arn(r) for r in REGIONS}
    for region in REGIONS:
        for role in contract.FUNCTIONS:
            r = iam.get_role(RoleName=f"{PLAN}-{role}-{region}")["Role"]
            assert r["AssumeRolePolicyDocument"]["Statement"] == [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
            doc = policy(region, role)
            for st in doc["Statement"]:
                assert st["Effect"] == "Allow"
                if st["Resource"] == "*":   # only for actions AWS authorises on "*" alone (no resource-level)
                    assert set(st["Action"]) <= STAR_ONLY, (role, st)
                    continue
                for res in st["Resource"]:
                    assert res != "*" and res.startswith("arn:aws:") and (PLAN in res or res in keys), (role, res)
                    assert not ("*" in res and not res.endswith(":*")), (role, res)


def test_least_privilege_per_function(up: Deployer) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    table = {w: ddb.describe_table(TableName=f"{PLAN}-{w}")["Table"] for w in ("voters", "ballots", "results")}
    votes = {r: queue_attrs(r, f"{PLAN}-votes")["QueueArn"] for r in REGIONS}
    process = policy("us-east-1", "process")
    assert resources(process, "dynamodb:PutItem") == {table["ballots"]["TableArn"]}
    assert resources(process, "sqs:DeleteMessage") == {votes["us-east-1"]}
    assert resources(process, "sqs:SendMessage") == set()
    queue_key = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{PLAN}/queue-key-??????"
    assert resources(process, "secretsmanager:GetSecretValue") == {queue_key}, "the queue key only, no pepper"
    enqueue = policy("us-east-1", "enqueue")
    assert resources(enqueue, "sqs:SendMessage") == set(votes.values()) | {
        queue_attrs("us-east-1", f"{PLAN}-handoff")["QueueArn"]}
    assert resources(enqueue, "dynamodb:PutItem") == set()
    assert len(resources(enqueue, "secretsmanager:GetSecretValue")) == 3 and \
        queue_key in resources(enqueue, "secretsmanager:GetSecretValue")
    tally = policy("us-east-1", "tally")
    assert resources(tally, "dynamodb:GetRecords") == {table["ballots"]["LatestStreamArn"]}
    assert resources(tally, "dynamodb:UpdateItem") == {table["results"]["TableArn"]}
    results = policy("us-east-1", "results")
    assert resources(results, "dynamodb:Scan") == {table["results"]["TableArn"]}
    assert resources(results, "dynamodb:PutItem") == set()


@pytest.mark.parametrize("region", REGIONS)
def test_functions_carry_the_contract_environment(up: Deployer, region: str) -> None:
    lam = boto3.client("lambda", region_name=region)
    site = up.outputs.get(f"us-east-1/cloudfront_distribution/{PLAN}-site", {}).get("origin")
    for role in contract.FUNCTIONS:
        cfg = lam.get_function_configuration(FunctionName=f"{PLAN}-{role}")
        assert cfg["Runtime"] == "python3.12" and cfg["Handler"] == f"election.lambdas.{role}.handler"
        assert cfg["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{PLAN}-{role}-{region}"
        assert cfg["Architectures"] == ["arm64"] and cfg["MemorySize"] == 256
        assert cfg["KMSKeyArn"] == key_arn(region)
        env = cfg["Environment"]["Variables"]
        assert set(env) == set(contract.FUNCTIONS[role].env), f"{role}: exactly the keys its handler reads"
        assert env[contract.ENV_REGION] == region
        if contract.ENV_BALLOTS_TABLE in env:
            assert env[contract.ENV_BALLOTS_TABLE] == f"{PLAN}-ballots"
        if contract.ENV_VOTES_QUEUE_URLS in env:
            urls = json.loads(env[contract.ENV_VOTES_QUEUE_URLS])
            assert set(urls) == set(REGIONS) and all(u.endswith(f"{PLAN}-votes") for u in urls.values())
        if contract.ENV_STATE_REGIONS in env:
            assert json.loads(env[contract.ENV_STATE_REGIONS])["TX"] == "us-west-2"
        if contract.ENV_BALLOT in env:
            assert json.loads(env[contract.ENV_BALLOT])["overrides"]["UT"][-1] == "Evan McMullin"
        if contract.ENV_ALLOWED_ORIGINS in env:
            origins = env[contract.ENV_ALLOWED_ORIGINS].split(",") if env[contract.ENV_ALLOWED_ORIGINS] else []
            assert origins == ([site] if site else []), "only the voting page's own origin (aws target)"
    peppers = {r for r, fn in contract.FUNCTIONS.items() if contract.ENV_BALLOT_PEPPER_SECRET in fn.env}
    assert peppers == {"enqueue"}, "only enqueue learns where the peppers are"
    enqueue = lam.get_function_configuration(FunctionName=f"{PLAN}-enqueue")["Environment"]["Variables"]
    assert enqueue[contract.ENV_BALLOT_PEPPER_SECRET] == f"{PLAN}/ballot-pepper"


@pytest.mark.parametrize("region", REGIONS)
def test_event_source_mappings(up: Deployer, region: str) -> None:
    lam = boto3.client("lambda", region_name=region)
    ballots = boto3.client("dynamodb", region_name=region).describe_table(TableName=f"{PLAN}-ballots")["Table"]

    def one(role: str) -> dict[str, Any]:
        (m,) = lam.list_event_source_mappings(FunctionName=f"{PLAN}-{role}")["EventSourceMappings"]
        return m

    process, forward, tally = one("process"), one("forward"), one("tally")
    assert process["EventSourceArn"] == queue_attrs(region, f"{PLAN}-votes")["QueueArn"]
    assert forward["EventSourceArn"] == queue_attrs(region, f"{PLAN}-handoff")["QueueArn"]
    for m in (process, forward):
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert forward["BatchSize"] == up.plan.queue.batch_size
    # The votes mapping mixes: a large batch gathered over the plan's window (README "Ballot secrecy").
    assert process["BatchSize"] == up.plan.secrecy.batch_size >= up.plan.secrecy.min_mix
    assert process["MaximumBatchingWindowInSeconds"] == up.plan.secrecy.window_s == 300
    assert queue_attrs(region, f"{PLAN}-votes")["VisibilityTimeout"] == "360"
    assert tally["EventSourceArn"] == ballots["LatestStreamArn"]
    assert tally["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert tally["BisectBatchOnFunctionError"] is True
    assert tally["StartingPosition"] == "TRIM_HORIZON"
