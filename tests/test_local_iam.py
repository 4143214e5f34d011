"""IAM enforced locally (election/local/iam.py): who may call, and what AWS authorises for each call."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from iam_support import without
from pipeline_fixture import REGIONS, Pipeline, api_event

from election.lambdas.contract import BALLOTS_KEY
from election.local import iam

EAST = REGIONS[0]


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def as_role(p: Pipeline, role: str, service: str, region: str = EAST) -> Any:
    return boto3.Session(**p.credentials(region, role).session_kwargs()).client(service, region_name=region)


def test_unknown_callers_are_refused(pipeline: Pipeline) -> None:
    for keys in ({"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
                 {"aws_access_key_id": "FOOBARKEY", "aws_secret_access_key": "FOOBARSECRET"}):
        ddb = boto3.Session(**keys).client("dynamodb", region_name=EAST)
        with pytest.raises(ClientError) as exc:
            ddb.describe_table(TableName=pipeline.names["voters"])
        assert code(exc.value) == "UnrecognizedClientException"


def test_a_handler_acts_as_its_own_role_not_the_process(pipeline: Pipeline) -> None:
    # The operator (the process's environment) may read the roll; the health role may not read an item.
    boto3.client("dynamodb", region_name=EAST).scan(TableName=pipeline.names["voters"])
    with pytest.raises(ClientError) as exc:
        as_role(pipeline, "health", "dynamodb").get_item(TableName=pipeline.names["voters"], Key={"vk": {"S": "x"}})
    assert code(exc.value) == "AccessDeniedException" and "dynamodb:GetItem" in str(exc.value)
    health = pipeline.call(EAST, "health", api_event("GET", "/health"))
    assert health["statusCode"] == 200, health
    assert pipeline.regions[EAST].handlers["health"].ddb.meta.region_name == EAST
    assert pipeline.regions[EAST].handlers["enqueue"].cfg.credentials[0] == pipeline.credentials(EAST, "enqueue") \
        .access_key_id


def test_a_missing_permission_fails_where_it_would_on_aws(pipeline: Pipeline) -> None:
    """The enqueue role without BatchGetItem (the bug issue 9 found): every vote is refused, loudly."""
    voter = next(iter(pipeline.seed(1, ("NY",))))
    pipeline.put_policy(EAST, "enqueue", without(pipeline.policy(EAST, "enqueue"), "dynamodb:BatchGetItem"))
    resp = pipeline.vote(EAST, voter, "Hillary Clinton")
    assert resp["statusCode"] == 503, resp
    assert any("dynamodb:BatchGetItem" in d and "enqueue" in d for d in iam.denials())


def test_a_decision_taken_before_a_policy_change_is_not_reused_after_it(pipeline: Pipeline) -> None:
    """The local check remembers decisions (iam._DECIDED): an Allow taken once must not outlive the policy."""
    ddb = as_role(pipeline, "enqueue", "dynamodb")
    keys = {pipeline.names["voters"]: {"Keys": [{"vk": {"S": "x"}}]}}
    ddb.batch_get_item(RequestItems=keys)                     # allowed, and remembered
    pipeline.put_policy(EAST, "enqueue", without(pipeline.policy(EAST, "enqueue"), "dynamodb:BatchGetItem"))
    with pytest.raises(ClientError) as exc:
        ddb.batch_get_item(RequestItems=keys)
    assert code(exc.value) == "AccessDeniedException"


def test_a_remembered_decision_parses_no_policy(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision taken once is answered from iam._DECIDED without parsing the caller's policies again."""
    monkeypatch.setattr(iam, "_DECIDED", {})                 # nothing remembered from earlier tests
    parsed: list[int] = []
    real = iam._documents
    monkeypatch.setattr(iam, "_documents", lambda *args: parsed.append(1) or real(*args))
    ddb = as_role(pipeline, "enqueue", "dynamodb")
    keys = {pipeline.names["voters"]: {"Keys": [{"vk": {"S": "x"}}]}}
    ddb.batch_get_item(RequestItems=keys)
    assert len(parsed) == 1                                   # a new decision: the policies are parsed
    ddb.batch_get_item(RequestItems=keys)
    assert len(parsed) == 1                                   # the same inputs: remembered, nothing parsed
    ddb.batch_get_item(RequestItems={pipeline.names["ballots"]: {"Keys": [{BALLOTS_KEY: {"S": "x"}}]}})
    assert len(parsed) == 2                                   # another table is another decision


def test_resources_are_checked_not_only_actions(pipeline: Pipeline) -> None:
    # process may write ballots, not the roll: same action, another table.
    ddb = as_role(pipeline, "process", "dynamodb")
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=pipeline.names["voters"], Item={"vk": {"S": "forged"}, "state": {"S": "NY"}})
    assert code(exc.value) == "AccessDeniedException" and pipeline.names["voters"] in str(exc.value)
    # process may consume its own region's votes queue only.
    sqs = as_role(pipeline, "process", "sqs")
    sqs.receive_message(QueueUrl=pipeline.queue_urls[EAST], MaxNumberOfMessages=1)
    with pytest.raises(ClientError):
        boto3.Session(**pipeline.credentials(EAST, "process").session_kwargs()).client(
            "sqs", region_name=REGIONS[1]).receive_message(QueueUrl=pipeline.queue_urls[REGIONS[1]])


def test_iam_actions_follow_aws_not_the_api_name() -> None:
    acct, region = "123456789012", EAST
    tx = {"TransactItems": [{"Update": {"TableName": "results"}}, {"ConditionCheck": {"TableName": "ballots"}}]}
    assert iam.checks("dynamodb:TransactWriteItems", tx, region, acct) == [
        ("dynamodb:UpdateItem", (f"arn:aws:dynamodb:{region}:{acct}:table/results",)),
        ("dynamodb:ConditionCheckItem", (f"arn:aws:dynamodb:{region}:{acct}:table/ballots",))]
    batch = {"RequestItems": {"voters": {}, "ballots": {}}}
    assert iam.checks("dynamodb:BatchGetItem", batch, region, acct) == [
        ("dynamodb:BatchGetItem", (f"arn:aws:dynamodb:{region}:{acct}:table/voters",
                                   f"arn:aws:dynamodb:{region}:{acct}:table/ballots"))]
    assert iam.checks("sqs:SendMessageBatch", {}, region, acct, "arn:aws:sqs:x:1:q") == [
        ("sqs:SendMessage", ("arn:aws:sqs:x:1:q",))]
    assert iam.checks("dynamodb:ListStreams", {"TableName": "ballots"}, region, acct) == [
        ("dynamodb:ListStreams", ("*",))]


def test_a_role_lambda_does_not_trust_cannot_be_assumed(pipeline: Pipeline) -> None:
    client = boto3.client("iam", region_name=EAST)
    arn = client.create_role(RoleName="not-for-lambda", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    with pytest.raises(PermissionError, match="does not trust lambda.amazonaws.com"):
        iam.assume_function_role(arn, "x")
