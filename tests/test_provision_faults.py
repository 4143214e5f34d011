"""The deployer under the transient errors and eventual consistency AWS documents (tests/aws_faults.py).

`up` from empty, `up` after a change, `down`, and `down` then at once `up` must all converge while AWS
refuses first calls and reports new keys, roles and deleted names as not usable yet; a second `up` must
then make no mutating call. Each fault is counted, so a test also proves the fault really happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_faults import FaultyAws
from botocore.exceptions import ClientError
from provision_support import AWS_PLAN, actions, deployer, lambdas_copy, with_settings

from election.errors import ElectionError
from election.provision.engine import Deployer
from election.provision.kinds import awsutil as u

PLAN = "election-2026"
REGIONS = ("us-east-1", "us-west-2")


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


class Ctx:
    """What the helper needs of a context: a sleep that records."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def aws_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def test_retry_retries_only_what_its_predicate_accepts_with_backoff_through_the_given_sleep() -> None:
    ctx, calls = Ctx(), []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise aws_error("InvalidParameterValueException", "The role defined for the function cannot be assumed")
        return "made"

    assert u.retry(flaky, ctx, u.ROLE_NOT_ASSUMABLE) == "made"
    assert ctx.slept == [1.0, 2.0]
    with pytest.raises(ClientError, match="Unsupported runtime"):   # same code, another cause: not transient
        u.retry(lambda: (_ for _ in ()).throw(aws_error("InvalidParameterValueException", "Unsupported runtime")),
                ctx, u.ROLE_NOT_ASSUMABLE)
    assert ctx.slept == [1.0, 2.0]
    with pytest.raises(ClientError, match="ConflictException"):      # bounded: the last failure is raised
        u.retry(lambda: (_ for _ in ()).throw(aws_error("ConflictException")), ctx, u.CONCURRENT_API_WRITE,
                attempts=4, max_delay=3.0)
    assert ctx.slept[2:] == [1.0, 2.0, 3.0]


def test_wait_until_is_bounded_by_time_when_asked_and_says_how_to_resume() -> None:
    ctx = Ctx()
    with pytest.raises(ElectionError, match="run `election up` again to resume"):
        u.wait_until(ctx, lambda: False, "the replica", bound_s=3600.0, max_delay=60.0)
    assert 3600.0 <= sum(ctx.slept) < 3600.0 + 60.0 and max(ctx.slept) == 60.0


def test_a_replica_is_awaited_in_its_region_and_an_interrupted_wait_resumes(moto: None) -> None:
    d = deployer(edge=False)
    faults = FaultyAws(d.provider)
    faults.forever_creating = True        # the replicas stay CREATING (a large seeded table)
    with pytest.raises(ElectionError, match="replica .* in us-west-2 to become active.*run `election up` again"):
        d.apply()
    waited = sum(d.ctx._sleep)  # type: ignore[arg-type]
    assert waited >= 8 * 3600, "the bound is long enough for a seeded table (hours), not minutes"

    # The next run finds the replica still being created: the plan says so, and `up` waits again.
    again = on(faults, deployer(edge=False))
    creating = [s for s in again.diff().steps if s.kind == "table" and s.region == "us-west-2"]
    assert creating and all(["status"] == [c.field for c in s.changes][:1] for s in creating)
    assert all(s.changes[0].old == "CREATING" for s in creating)
    faults.forever_creating = False
    again.apply()
    assert actions(on(faults, deployer(edge=False)).diff()) == {"noop": len(again.resources)}
    assert d.provider.calls[("dynamodb", "CreateTable")] == 3, "only the primary's tables: replicas are asked for"


def test_down_within_24_hours_of_adding_a_replica_says_so_and_deletes_nothing(moto: None) -> None:
    import time

    d = deployer(edge=False)
    d.apply()
    # AWS lists a global table's replicas in the source table's DescribeTable (moto lists none).
    def replicas(parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("client_region") == "us-east-1" and "Table" in parsed:
            parsed["Table"]["Replicas"] = [{"RegionName": "us-east-1", "ReplicaStatus": "ACTIVE"},
                                           {"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE"}]
    d.provider.register("after-call.dynamodb.DescribeTable", replicas)
    with pytest.raises(ElectionError) as refused:
        d.destroy(destroy_data=True)
    message = str(refused.value)
    assert "within 24 hours of adding a replica" in message and "nothing was deleted" in message
    assert message.count(". ") == 0, "one sentence"
    assert left_in("us-east-1")["tables"] and left_in("us-west-2")["functions"]

    later = deployer(edge=False, clock=lambda: time.time() + 25 * 3600)
    later.provider.register("after-call.dynamodb.DescribeTable", replicas)
    later.destroy(destroy_data=True)
    assert left_in("us-east-1") == {} and left_in("us-west-2") == {}


def test_close_waits_for_the_forced_pepper_deletion_to_finish(moto: None) -> None:
    from election.ops import polls
    from election.plan import load_plan

    d = deployer(edge=False)
    d.apply()
    faults = FaultyAws(d.provider)
    slept: list[float] = []
    assert polls.destroy_ballot_pepper(d.provider, load_plan(AWS_PLAN), sleep=slept.append) == list(REGIONS)
    assert faults.injected[("secretsmanager", "DescribeSecret", "being deleted")] >= 2
    assert slept, "it waited for Secrets Manager to finish deleting instead of reporting a failure"
