"""The whole life of config/aws.yaml on moto: plan, up, no-op up, targeted updates, region removal, down.

The lifecycle and region-removal tests run the whole plan (edge included); the
others exercise data-plane behaviour and leave the edge out to stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from provision_support import (
    AWS_PLAN,
    LOCAL_PLAN,
    actions,
    changed,
    deployer,
    lambdas_copy,
    single_region,
    with_settings,
)

from election.errors import ElectionError
from election.lambdas import contract
from election.provision import model
from election.provision.clients import is_read
from election.provision.kinds import REGISTRY
from election.provision.resources import TAG_PLAN

PLAN = "election-2026"
REGIONS = ("us-east-1", "us-west-2")


def put_ballot(region: str, plan: str = PLAN) -> None:
    boto3.client("dynamodb", region_name=region).put_item(
        TableName=f"{plan}-ballots", Item={"bk": {"S": "0" * 32}, "state": {"S": "TX"}, "candidate": {"S": "x"}})


def tagged_leftovers(region: str, plan: str = PLAN) -> list[str]:
    """Everything still tagged for the plan in a region, KMS keys scheduled for deletion excepted."""
    kms = boto3.client("kms", region_name=region)
    out = []
    for mapping in boto3.client("resourcegroupstaggingapi", region_name=region).get_resources(
            TagFilters=[{"Key": TAG_PLAN, "Values": [plan]}])["ResourceTagMappingList"]:
        arn = mapping["ResourceARN"]
        if ":kms:" in arn and kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion":
            continue
        out.append(arn)
    return out


def service_leftovers(region: str, plan: str = PLAN) -> dict[str, list[str]]:
    """What each core service still lists for the plan (independent of the tagging API)."""
    kms = boto3.client("kms", region_name=region)
    iam = boto3.client("iam", region_name=region)
    found = {
        "tables": boto3.client("dynamodb", region_name=region).list_tables()["TableNames"],
        "queues": boto3.client("sqs", region_name=region).list_queues().get("QueueUrls", []),
        "functions": [f["FunctionName"] for f in
                      boto3.client("lambda", region_name=region).list_functions()["Functions"]],
        "mappings": [m["UUID"] for m in boto3.client("lambda", region_name=region).list_event_source_mappings()[
            "EventSourceMappings"]],
        "log_groups": [g["logGroupName"] for g in boto3.client("logs", region_name=region).describe_log_groups()[
            "logGroups"]],
        "secrets": [s["Name"] for s in boto3.client("secretsmanager", region_name=region).list_secrets(
            IncludePlannedDeletion=True)["SecretList"]],
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].endswith(region)],
        "aliases": [a["AliasName"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] == f"alias/{plan}"],
        "active_keys": [k["KeyId"] for k in kms.list_keys()["Keys"]
                        if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"],
    }
    return {k: v for k, v in found.items() if v}


def test_full_lifecycle(moto: None, tmp_path: Path) -> None:
    lambdas = lambdas_copy(tmp_path)
    d = deployer(AWS_PLAN, lambdas)
    first = d.diff()
    assert actions(first) == {"create": len(d.resources)}
    assert d.provider.counts()[1] == 0, "plan must not change anything"

    out = d.apply()
    for region in REGIONS:
        r = out["regions"][region]
        assert r["tables"] == {"voters": f"{PLAN}-voters", "ballots": f"{PLAN}-ballots", "results": f"{PLAN}-results"}
        assert set(r["queues"]) == {"votes", "votes_dlq", "handoff", "handoff_dlq", "tally_failures"}
        assert all(url and url.endswith(f"{PLAN}-{w.replace('_', '-')}") for w, url in r["queues"].items())
        assert r["functions"]["tally"] == f"{PLAN}-tally"

    d.provider.reset_counts()
    again = d.diff()
    assert actions(again) == {"noop": len(d.resources)}
    assert d.provider.counts()[0] <= 1.2 * len(d.resources), "a no-op plan reads each resource about once"
    d.provider.reset_counts()
    d.apply()
    assert d.provider.calls == {}, "up applies the plan it showed: nothing read again, nothing changed"

    # One handler file and one setting change: only that code and that field are updated.
    tally = lambdas / "tally.py"
    tally.write_text(tally.read_text() + "\n# a change to the tally only\n")
    d2 = deployer(with_settings(d.plan, log_retention_days=731), lambdas)
    diff = changed(d2.diff())
    expected = {f"{r}/lambda_function/{PLAN}-tally": ["code_sha256"] for r in REGIONS}
    expected |= {f"{r}/log_group/{model.names(d.plan).log_group(role)}": ["retention_days"]
                 for r in REGIONS for role in contract.FUNCTIONS}
    assert diff == expected
    d2.provider.reset_counts()
    d2.apply()
    assert d2.provider.mutating_calls() == {"lambda:UpdateFunctionCode": 2, "logs:PutRetentionPolicy": 14}
    reads = {f"{svc}:{op}" for (svc, op) in d2.provider.calls if is_read(op)}
    assert reads <= {"lambda:GetFunctionConfiguration"}, "only the function_updated waiter reads: the diff is not re-read"
    assert actions(d2.diff()) == {"noop": len(d2.resources)}

    d2.provider.reset_counts()
    deleted = d2.destroy()
    # Resource policies are not deleted on their own: they go with their secret or queue.
    assert len(deleted) == len([r for r in d2.resources if r.kind != "resource_policy"])
    for region in REGIONS:
        assert service_leftovers(region) == {}
        assert tagged_leftovers(region) == []
    assert actions(d2.diff()) == {"create": len(d2.resources)}


def test_down_refuses_while_ballots_exist(moto: None) -> None:
    d = deployer(edge=False)
    d.apply()
    put_ballot("us-west-2")
    d.provider.reset_counts()
    with pytest.raises(ElectionError) as info:
        d.destroy()
    assert str(info.value) == (f"The ballots table {PLAN}-ballots in us-west-2 holds votes, so nothing was deleted; "
                               "run `election down --destroy-data` to delete them with everything else.")
    assert d.provider.mutating_calls() == {}
    assert actions(d.diff()) == {"noop": len(d.resources)}
    d.destroy(destroy_data=True)
    assert all(service_leftovers(r) == {} for r in REGIONS)


def test_region_removed_from_plan_is_torn_down(moto: None) -> None:
    d = deployer()
    d.apply()
    # Resource policies go with their secret or queue: not deletions of their own.
    west = {r.key for r in d.resources if r.region == "us-west-2" and r.kind != "resource_policy"}
    d1 = deployer(single_region(d.plan))
    diff = d1.diff()
    assert {s.key for s in diff.steps if s.action == "delete"} == west
    assert not [s for s in diff.steps if s.region == "us-west-2" and s.action != "delete"]
    d1.apply()
    assert service_leftovers("us-west-2") == {}
    assert actions(d1.diff()) == {"noop": len(d1.resources)}


def test_changed_queue_settings_update_the_queues_in_place(moto: None) -> None:
    """A visibility timeout (valid: >= 6 x timeout + the mixing window) or receive count changed: SetQueueAttributes only."""
    d = deployer(edge=False)
    d.apply()
    d2 = deployer(with_settings(d.plan, queue={"visibility_timeout_s": 420, "max_receives": 7}), edge=False)
    diff = changed(d2.diff())
    votes = {f"{r}/queue/{PLAN}-votes" for r in REGIONS}
    assert votes <= set(diff) and all(k.split("/")[1] == "queue" for k in diff), diff
    assert all(set(diff[k]) == {"visibility_timeout_s", "redrive"} for k in votes)
    d2.provider.reset_counts()
    d2.apply()
    assert set(d2.provider.mutating_calls()) == {"sqs:SetQueueAttributes"}
    for region in REGIONS:
        sqs = boto3.client("sqs", region_name=region)
        attrs = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"{PLAN}-votes")["QueueUrl"],
                                         AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == "420"
        assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 7
    # moto 5.2.5 clears a queue's Policy on any SetQueueAttributes that does not name it (AWS leaves the
    # attributes not given as they are): only the queues' resource policies are then put back.
    again = d2.diff()
    assert set(changed(again)) <= {f"{r}/resource_policy/{PLAN}-{q}#policy" for r in REGIONS for q in ("votes", "handoff")}
    d2.apply()
    assert actions(d2.diff()) == {"noop": len(d2.resources)}


class _Crash(Exception):
    pass


class _CrashingKms:
    """Creates the key, then dies before the alias exists (as a Ctrl-C at the worst moment would)."""

    name = "kms_key"

    def __getattr__(self, attr: str) -> Any:
        return getattr(REGISTRY["kms_key"], attr)

    def create(self, ctx: Any, res: Any) -> Any:
        kms = ctx.client("kms", res.region)
        kms.create_key(Description=res.props["description"], Tags=[{"TagKey": k, "TagValue": v}
                                                                     for k, v in res.tags.items()])
        raise _Crash()


def test_interrupted_up_converges_without_duplicates(moto: None) -> None:
    crashing = deployer(registry={**REGISTRY, "kms_key": _CrashingKms()}, edge=False)
    with pytest.raises(_Crash):
        crashing.apply()
    d = deployer(edge=False)
    d.apply()
    assert actions(d.diff()) == {"noop": len(d.resources)}
    for region in REGIONS:
        kms = boto3.client("kms", region_name=region)
        active = [k for k in kms.list_keys()["Keys"]
                  if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"]
        assert len(active) == 1, "the orphaned key is adopted, not duplicated"
        assert kms.get_key_rotation_status(KeyId=active[0]["KeyId"])["KeyRotationEnabled"]


def test_peppers_made_once_and_ballot_pepper_stays_gone_after_close(moto: None) -> None:
    d = deployer(edge=False)
    d.apply()
    values = {r: boto3.client("secretsmanager", region_name=r).get_secret_value(
        SecretId=f"{PLAN}/voter-pepper")["SecretString"] for r in REGIONS}
    assert len(set(values.values())) == 1 and len(values["us-east-1"]) == 64
    # A lost copy is restored from the primary, never regenerated.
    boto3.client("secretsmanager", region_name="us-west-2").delete_secret(
        SecretId=f"{PLAN}/voter-pepper", ForceDeleteWithoutRecovery=True)
    d.apply()
    assert boto3.client("secretsmanager", region_name="us-west-2").get_secret_value(
        SecretId=f"{PLAN}/voter-pepper")["SecretString"] == values["us-east-1"]

    # `close`: ballots exist and the ballot pepper is destroyed everywhere: `up` must not bring it back.
    put_ballot("us-east-1")
    for r in REGIONS:
        boto3.client("secretsmanager", region_name=r).delete_secret(
            SecretId=f"{PLAN}/ballot-pepper", ForceDeleteWithoutRecovery=True)
    diff = d.diff()
    retired = [s for s in diff.steps if s.kind == "secret" and s.name.endswith("ballot-pepper")]
    assert [(s.action, "retired" in s.note) for s in retired] == [("noop", True), ("noop", True)]
    d.provider.reset_counts()
    d.apply()
    assert d.provider.mutating_calls() == {}


def test_local_plan_creates_every_region_table_itself(moto: None) -> None:
    d = deployer(LOCAL_PLAN, edge=False)
    d.apply()
    assert ("dynamodb", "UpdateTable") not in d.provider.calls, "no replica requests for target local"
    for region in REGIONS:
        env = boto3.client("lambda", region_name=region).get_function_configuration(
            FunctionName="election-local-enqueue")["Environment"]["Variables"]
        assert "http://127.0.0.1:*" in env["ALLOWED_ORIGINS"].split(",")
    assert actions(d.diff()) == {"noop": len(d.resources)}


def test_aws_plan_asks_the_primary_for_replicas(moto: None) -> None:
    d = deployer(edge=False)
    d.apply()
    assert d.provider.calls[("dynamodb", "UpdateTable")] >= 3, "one replica request per table"
    for which in ("voters", "ballots", "results"):
        desc = boto3.client("dynamodb", region_name="us-west-2").describe_table(
            TableName=f"{PLAN}-{which}")["Table"]
        key = boto3.client("kms", region_name="us-west-2").describe_key(KeyId=f"alias/{PLAN}")["KeyMetadata"]["Arn"]
        assert desc["SSEDescription"]["KMSMasterKeyArn"] == key


def test_a_plan_never_claims_another_plans_resources(moto: None) -> None:
    """Plan "election" is a name prefix of "election-2026": discovery must still tell them apart."""
    import dataclasses

    other = deployer(edge=False)
    other.apply()
    mine = deployer(dataclasses.replace(other.plan, name="election"), edge=False)
    assert actions(mine.diff()) == {"create": len(mine.resources)}
    mine.apply()
    assert actions(other.diff()) == {"noop": len(other.resources)}
    mine.destroy()
    assert actions(other.diff()) == {"noop": len(other.resources)}
