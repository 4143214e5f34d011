"""Kind behaviour that moto cannot show, with botocore's Stubber: IAM propagation retries, AWS replicas."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from election.provision.kinds.dynamodb import Table
from election.provision.kinds.lambda_ import LambdaFunction
from election.provision.resources import Resource

ROLE = "arn:aws:iam::123456789012:role/p-process-us-east-1"


class StubContext:
    """Clients stubbed per (service, region); sleeps recorded, never taken."""

    plan_name = "p"
    account_id = "123456789012"
    partition = "aws"

    def __init__(self) -> None:
        self.clients: dict[tuple[str, str], Any] = {}
        self.stubs: dict[tuple[str, str], Stubber] = {}
        self.slept: list[float] = []

    def stub(self, service: str, region: str) -> Stubber:
        client = boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
        self.clients[(service, region)] = client
        self.stubs[(service, region)] = stub = Stubber(client)
        stub.activate()
        return stub

    def client(self, service: str, region: str) -> Any:
        return self.clients[(service, region)]

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def function() -> Resource:
    return Resource("lambda_function", "us-east-1", "p-process", {
        "runtime": "python3.12", "handler": "election.lambdas.process.handler", "role": ROLE, "memory_mb": 256,
        "timeout_s": 10, "architecture": "arm64", "environment": {"A": "1"}, "kms_key": "arn:aws:kms:k",
        "code_sha256": "x", "_zip": b"PK"}, tags={"election:plan": "p"})


def test_lambda_create_waits_for_the_new_role_to_propagate() -> None:
    ctx = StubContext()
    stub = ctx.stub("lambda", "us-east-1")
    for _ in range(2):
        stub.add_client_error("create_function", "InvalidParameterValueException",
                              "The role defined for the function cannot be assumed by Lambda.")
    stub.add_response("create_function", {"FunctionArn": "arn:aws:lambda:us-east-1:1:function:p-process"}, None)
    stub.add_response("get_function_configuration", {"State": "Active", "LastUpdateStatus": "Successful"},
                      {"FunctionName": "p-process"})
    out = LambdaFunction().create(ctx, function())
    assert out["arn"].endswith(":p-process")
    assert ctx.slept == [1.0, 2.0]
    stub.assert_no_pending_responses()


def test_lambda_create_does_not_retry_a_real_parameter_error() -> None:
    ctx = StubContext()
    stub = ctx.stub("lambda", "us-east-1")
    stub.add_client_error("create_function", "InvalidParameterValueException", "Unsupported runtime.")
    with pytest.raises(ClientError):
        LambdaFunction().create(ctx, function())
    assert ctx.slept == []


def test_lambda_logging_drift_is_read_and_fixed_with_one_configuration_update() -> None:
    """AWS reports LoggingConfig (Text by default); the plan wants JSON with the platform lines below WARN."""
    from election.provision.engine import _changes
    from election.provision.model import LOGGING

    ctx = StubContext()
    stub = ctx.stub("lambda", "us-east-1")
    res = function()
    res = Resource(res.kind, res.region, res.name, {**res.props, "logging": LOGGING}, tags=res.tags)
    cfg = {"FunctionArn": "arn:aws:lambda:us-east-1:1:function:p-process", "Runtime": "python3.12",
           "Handler": res.props["handler"], "Role": ROLE, "MemorySize": 256, "Timeout": 10, "Architectures": ["arm64"],
           "Environment": {"Variables": {"A": "1"}}, "KMSKeyArn": "arn:aws:kms:k", "CodeSha256": "x",
           "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/p-process"}}
    stub.add_response("get_function", {"Configuration": cfg, "Tags": {"election:plan": "p"}}, {"FunctionName": "p-process"})
    actual = LambdaFunction().read(ctx, res)
    changes = _changes(res, actual)
    assert [c.field for c in changes] == ["logging"]
    stub.add_response("update_function_configuration", {}, {"FunctionName": "p-process", "LoggingConfig": {
        "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}})
    stub.add_response("get_function_configuration", {"State": "Active", "LastUpdateStatus": "Successful"},
                      {"FunctionName": "p-process"})
    LambdaFunction().update(ctx, res, actual, changes)
    stub.assert_no_pending_responses()
    cfg["LoggingConfig"] = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}
    stub.add_response("get_function", {"Configuration": cfg, "Tags": {"election:plan": "p"}}, {"FunctionName": "p-process"})
    assert _changes(res, LambdaFunction().read(ctx, res)) == []


def test_on_aws_a_replica_is_requested_from_the_primary_and_not_created_locally() -> None:
    """Stubber fails on any call not queued here, so a CreateTable in us-west-2 would fail the test."""
    ctx = StubContext()
    primary = ctx.stub("dynamodb", "us-east-1")
    replica = ctx.stub("dynamodb", "us-west-2")
    tagging = ctx.stub("resourcegroupstaggingapi", "us-west-2")
    name = {"TableName": "p-ballots"}
    arn = "arn:aws:dynamodb:us-west-2:1:table/p-ballots"
    primary.add_response("describe_table", {"Table": {**name, "TableStatus": "ACTIVE"}}, name)
    primary.add_response("update_table", {"TableDescription": {"Replicas": [
        {"RegionName": "us-west-2", "ReplicaStatus": "CREATING"}]}},
        {**name, "ReplicaUpdates": [{"Create": {"RegionName": "us-west-2", "KMSMasterKeyId": "arn:aws:kms:west"}}]})
    replica.add_response("describe_table", {"Table": {**name, "TableStatus": "CREATING"}}, name)
    described = {"Table": {**name, "TableStatus": "ACTIVE", "TableArn": arn,
                           "KeySchema": [{"AttributeName": "bk", "KeyType": "HASH"}],
                           "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                           "SSEDescription": {"KMSMasterKeyArn": "arn:aws:kms:west"},
                           "DeletionProtectionEnabled": True, "LatestStreamArn": arn + "/stream/1",
                           "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}}
    replica.add_response("describe_table", described, name)
    for _ in range(2):  # read after the wait, and again after the update
        replica.add_response("describe_table", described, name)
        replica.add_response("describe_continuous_backups", {"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}}, name)
        tagging.add_response("get_resources", {"ResourceTagMappingList": [{"ResourceARN": arn, "Tags": []}]}, None)
        if _ == 0:
            replica.add_response("update_continuous_backups", {}, {
                **name, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})
            replica.add_response("tag_resource", {}, {"ResourceArn": arn,
                                                      "Tags": [{"Key": "election:plan", "Value": "p"}]})
    res = Resource("table", "us-west-2", "p-ballots", {
        "key": "bk", "billing_mode": "PAY_PER_REQUEST", "sse_key": "arn:aws:kms:west", "pitr": True,
        "deletion_protection": True, "stream": "NEW_AND_OLD_IMAGES", "_replica_of": "us-east-1"},
        tags={"election:plan": "p"})
    out = Table().create(ctx, res)
    assert out["stream_arn"] == arn + "/stream/1"
    primary.assert_no_pending_responses()
    replica.assert_no_pending_responses()
    tagging.assert_no_pending_responses()


def test_a_moto_server_queue_url_is_read_back_as_aws_spells_it() -> None:
    """Lambda environments hold queue URLs: the same stack must diff clean through a moto server or in-process."""
    from election.provision.kinds.sqs import canonical_url

    assert (canonical_url("http://127.0.0.1:7700/123456789012/election-votes", "us-west-2")
            == "https://sqs.us-west-2.amazonaws.com/123456789012/election-votes")
    assert (canonical_url("http://localhost:4566/123456789012/q", "eu-west-1")
            == "https://sqs.eu-west-1.amazonaws.com/123456789012/q")
    aws = "https://sqs.us-east-1.amazonaws.com/123456789012/election-votes"
    assert canonical_url(aws, "us-east-1") == aws
