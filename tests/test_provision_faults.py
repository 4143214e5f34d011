"""The deployer under the transient errors and eventual consistency AWS documents (tests/aws_faults.py).

`up` from empty, `up` after a change, `down`, and `down` then at once `up` must all converge while AWS
refuses first calls and reports new keys, roles and deleted names as not usable yet; a second `up` must
then make no mutating call. Each fault is counted, so a test also proves the fault really happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_faults import FaultyAws
from provision_support import AWS_PLAN, actions, deployer, lambdas_copy, with_settings

from election.provision.engine import Deployer

PLAN = "election-2026"
REGIONS = ("us-east-1", "us-west-2")


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def on(faults: FaultyAws, d: Deployer) -> Deployer:
    """A new run (its own Deployer and clients) against the same faulty AWS."""
    faults.install(d.provider)
    return d


def injected(faults: FaultyAws) -> set[str]:
    return {f"{svc}:{op}:{code}" for (svc, op, code) in faults.injected}


def left_in(region: str) -> dict[str, list[str]]:
    found = {
        "tables": boto3.client("dynamodb", region_name=region).list_tables()["TableNames"],
        "queues": boto3.client("sqs", region_name=region).list_queues().get("QueueUrls", []),
        "functions": [f["FunctionName"] for f in
                      boto3.client("lambda", region_name=region).list_functions()["Functions"]],
        "secrets": [s["Name"] for s in boto3.client("secretsmanager", region_name=region).list_secrets()[
            "SecretList"]],
        "apis": [a["Name"] for a in boto3.client("apigatewayv2", region_name=region).get_apis()["Items"]],
    }
    return {k: v for k, v in found.items() if v}


def test_up_change_down_and_up_again_converge_under_aws_faults(moto: None, tmp_path: Path) -> None:
    lambdas = lambdas_copy(tmp_path)
    d = deployer(AWS_PLAN, lambdas)
    faults = FaultyAws(d.provider)

    d.apply()   # from empty
    assert {"apigatewayv2:CreateRoute:ConflictException", "apigatewayv2:CreateStage:ConflictException",
            "dynamodb:UpdateContinuousBackups:ContinuousBackupsUnavailableException",
            "kms:EnableKeyRotation:NotFoundException", "kms:CreateAlias:KMSInvalidStateException",
            "logs:CreateLogGroup:InvalidParameterException", "secretsmanager:CreateSecret:EncryptionFailure",
            "lambda:CreateFunction:InvalidParameterValueException"} <= injected(faults)
    d.provider.reset_counts()
    d.apply()
    assert d.provider.mutating_calls() == {}, "a second up must make zero mutating calls"

    # A change: one handler's code and every function's configuration (two updates in a row per function).
    tally = lambdas / "tally.py"
    tally.write_text(tally.read_text() + "\n# a change to the tally only\n")
    changed = on(faults, deployer(with_settings(d.plan, lambda_={"memory_mb": 512}), lambdas))
    changed.apply()
    assert "lambda:UpdateFunctionCode:ResourceConflictException" not in injected(faults), \
        "the code update waits for the configuration update to finish (function_updated) instead of colliding"
    changed.provider.reset_counts()
    changed.apply()
    assert changed.provider.mutating_calls() == {}

    changed.destroy(destroy_data=True)
    assert all(left_in(r) == {} for r in REGIONS)

    again = on(faults, deployer(changed.plan, lambdas))   # down, then at once up: names not free yet
    again.apply()
    assert {"secretsmanager:CreateSecret:InvalidRequestException",
            "sqs:CreateQueue:AWS.SimpleQueueService.QueueDeletedRecently"} <= injected(faults)
    again.provider.reset_counts()
    again.apply()
    assert again.provider.mutating_calls() == {}
    assert actions(again.diff()) == {"noop": len(again.resources)}
    assert "cloudfront:CreateDistributionWithTags:DistributionAlreadyExists" not in injected(faults), \
        "every distribution is created with a new CallerReference"
