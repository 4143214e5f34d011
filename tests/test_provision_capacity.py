"""The ballots table provisioned with auto scaling (plan `tables.ballots`): create, change, switch, delete.

moto plays DynamoDB and Application Auto Scaling; the data plane only (edge=False) to stay fast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
from provision_support import AWS_PLAN, actions, changed, deployer

from election.plan import load_plan
from election.plan_tables import TableCapacity
from election.provision.kinds import autoscaling

PLAN = "election-2026"
REGIONS = ("us-east-1", "us-west-2")
BALLOTS = f"{PLAN}-ballots"


def scaling(region: str, table: str = BALLOTS) -> dict[str, dict[str, Any]]:
    """dimension -> {min, max, target} as Application Auto Scaling reports it in a region."""
    aas = boto3.client("application-autoscaling", region_name=region)
    rid = f"table/{table}"
    out: dict[str, dict[str, Any]] = {}
    for t in aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=[rid])["ScalableTargets"]:
        dim = "write" if t["ScalableDimension"].endswith("WriteCapacityUnits") else "read"
        out.setdefault(dim, {}).update(min=t["MinCapacity"], max=t["MaxCapacity"])
    for p in aas.describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=rid)["ScalingPolicies"]:
        dim = "write" if p["ScalableDimension"].endswith("WriteCapacityUnits") else "read"
        out.setdefault(dim, {})["target"] = p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        out[dim]["metric"] = p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"]
    return out


def billing(region: str, table: str = BALLOTS) -> tuple[str, int, int]:
    desc = boto3.client("dynamodb", region_name=region).describe_table(TableName=table)["Table"]
    pt = desc.get("ProvisionedThroughput") or {}
    return (desc["BillingModeSummary"]["BillingMode"], int(pt.get("WriteCapacityUnits") or 0),
            int(pt.get("ReadCapacityUnits") or 0))


def with_ballots(plan: Any, **fields: Any) -> Any:
    return dataclasses.replace(plan, ballots_capacity=dataclasses.replace(plan.ballots_capacity, **fields))


def test_national_plan_makes_a_provisioned_ballots_table_with_the_same_auto_scaling_in_every_region(moto: None) -> None:
    plan = load_plan(AWS_PLAN)
    cap = plan.ballots_capacity
    assert cap.provisioned and (cap.write_min, cap.read_min, cap.target_percent) == (5000, 3500, 70)
    d = deployer(edge=False)
    d.apply()
    for region in REGIONS:
        # The replica was asked for after the source's auto scaling, and took its capacity mode.
        assert billing(region) == ("PROVISIONED", 5000, 3500)
        assert scaling(region) == {
            "write": {"min": 5000, "max": 40000, "target": 70.0, "metric": "DynamoDBWriteCapacityUtilization"},
            "read": {"min": 3500, "max": 40000, "target": 70.0, "metric": "DynamoDBReadCapacityUtilization"}}
        # Only the ballots table: the voters roll and the results stay on demand.
        assert billing(region, f"{PLAN}-voters")[0] == billing(region, f"{PLAN}-results")[0] == "PAY_PER_REQUEST"
    replica = next(r for r in d.resources if r.key == f"us-west-2/table/{BALLOTS}")
    assert f"us-east-1/table_scaling/{BALLOTS}" in replica.depends_on
    assert actions(d.diff()) == {"noop": len(d.resources)}
    d.provider.reset_counts()
    d.apply()
    assert d.provider.mutating_calls() == {}


def test_changing_min_max_target_updates_only_the_scaling_and_shows_the_fields(moto: None) -> None:
    d = deployer(edge=False)
    d.apply()
    d2 = deployer(with_ballots(d.plan, write_max=30000, read_min=4000, target_percent=60), edge=False)
    diff = changed(d2.diff())
    assert diff == {f"{r}/table_scaling/{BALLOTS}": ["write", "read"] for r in REGIONS}
    step = next(s for s in d2.diff().steps if s.key == f"us-east-1/table_scaling/{BALLOTS}")
    write = next(c for c in step.changes if c.field == "write")
    assert (write.old, write.new) == ({"min": 5000, "max": 40000, "target": 70},
                                      {"min": 5000, "max": 30000, "target": 60})
    d2.provider.reset_counts()
    d2.apply()
    assert d2.provider.mutating_calls() == {"application-autoscaling:RegisterScalableTarget": 4,
                                            "application-autoscaling:PutScalingPolicy": 4}
    for region in REGIONS:
        got = scaling(region)
        assert (got["write"]["max"], got["write"]["target"], got["read"]["min"], got["read"]["target"]) == (
            30000, 60.0, 4000, 60.0)
    assert actions(deployer(d2.plan, edge=False).diff()) == {"noop": len(d2.resources)}


def test_switching_to_on_demand_and_back_is_idempotent(moto: None) -> None:
    d = deployer(edge=False)
    d.apply()
    on_demand = deployer(dataclasses.replace(d.plan, ballots_capacity=TableCapacity()), edge=False)
    diff = on_demand.diff()
    assert changed(diff) == {**{f"{r}/table/{BALLOTS}": ["billing_mode"] for r in REGIONS},
                             **{f"{r}/table_scaling/{BALLOTS}": [] for r in REGIONS}}
    assert {s.key: s.action for s in diff.steps if s.action != "noop"}[f"us-west-2/table_scaling/{BALLOTS}"] == "delete"
    on_demand.apply()
    for region in REGIONS:
        assert billing(region)[0] == "PAY_PER_REQUEST"
        assert scaling(region) == {}, "targets and policies deregistered"
    assert actions(deployer(on_demand.plan, edge=False).diff()) == {"noop": len(on_demand.resources)}

    back = deployer(load_plan(AWS_PLAN), edge=False)
    assert changed(back.diff()) == {**{f"{r}/table/{BALLOTS}": ["billing_mode"] for r in REGIONS},
                                    **{f"{r}/table_scaling/{BALLOTS}": [] for r in REGIONS}}
    back.apply()
    for region in REGIONS:
        assert billing(region) == ("PROVISIONED", 5000, 3500)
        assert scaling(region)["write"]["min"] == 5000
    again = deployer(back.plan, edge=False)
    again.provider.reset_counts()
    assert actions(again.diff()) == {"noop": len(again.resources)}


def test_down_deregisters_the_scaling_and_another_plan_never_claims_it(moto: None) -> None:
    d = deployer(edge=False)
    d.apply()
    other = deployer(dataclasses.replace(d.plan, name="election"), edge=False)
    assert not [s for s in other.diff().steps if s.action == "delete"], "election-2026's targets are not election's"
    d.destroy()
    for region in REGIONS:
        aas = boto3.client("application-autoscaling", region_name=region)
        assert aas.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"] == []
        assert aas.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"] == []


def test_delete_of_what_is_already_gone_is_not_an_error(moto: None) -> None:
    from election.provision.resources import Found

    d = deployer(edge=False)
    autoscaling.TableScaling().delete(d.ctx, Found("table_scaling", "us-east-1", BALLOTS, {"name": BALLOTS}))


def test_a_policy_the_plan_did_not_make_is_shown_and_removed(moto: None) -> None:
    """AWS sets its recommended auto scaling when a global table is switched to provisioned; the plan's
    policy must be the only one, or either would scale the table out."""
    d = deployer(edge=False)
    d.apply()
    boto3.client("application-autoscaling", region_name="us-west-2").put_scaling_policy(
        PolicyName="DynamoDBWriteCapacityUtilization:table/" + BALLOTS, ServiceNamespace="dynamodb",
        ResourceId=f"table/{BALLOTS}", ScalableDimension="dynamodb:table:WriteCapacityUnits",
        PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBWriteCapacityUtilization"}})
    again = deployer(d.plan, edge=False)
    step = next(s for s in again.diff().steps if s.key == f"us-west-2/table_scaling/{BALLOTS}")
    [change] = step.changes
    assert change.field == "write" and change.old["other_policies"] == [f"DynamoDBWriteCapacityUtilization:table/{BALLOTS}"]
    again.apply()
    names = [p["PolicyName"] for p in boto3.client("application-autoscaling", region_name="us-west-2")
             .describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=f"table/{BALLOTS}")["ScalingPolicies"]]
    assert sorted(names) == [f"{BALLOTS}-read-utilization", f"{BALLOTS}-write-utilization"]
    assert actions(deployer(d.plan, edge=False).diff()) == {"noop": len(d.resources)}


def test_switch_to_provisioned_converges_in_one_up_although_aws_sets_its_recommended_scaling(moto: None,
                                                                                             monkeypatch: Any) -> None:
    """AWS overwrites a global table's auto scaling with its recommended defaults (target 70 %, minimum 5)
    when the table is switched to provisioned ("Considerations when switching capacity modes in DynamoDB");
    moto does not, so the switch plays it here. The plan read before the switch saw no policy at all: one
    `up` must still leave only the plan's policies (two target-tracking policies scale out on either)."""
    from election.provision.kinds import dynamodb

    d = deployer(dataclasses.replace(load_plan(AWS_PLAN), ballots_capacity=TableCapacity()), edge=False)
    d.apply()
    real, switched = dynamodb.Table._apply, []

    def aws_switch(self: Any, ctx: Any, ddb: Any, res: Any, actual: Any, c: Any) -> None:
        real(self, ctx, ddb, res, actual, c)
        if c.field == "billing_mode" and c.new == "PROVISIONED" and res.name == BALLOTS and not switched:
            switched.append(res.region)   # once: moto needs the replica switched too, AWS switches it with the source
            for region in REGIONS:   # the switch in one region switches every replica
                aas = boto3.client("application-autoscaling", region_name=region)
                for dim, dimension in autoscaling.DIMENSIONS.items():
                    aas.register_scalable_target(ServiceNamespace="dynamodb", ResourceId=f"table/{BALLOTS}",
                                                 ScalableDimension=dimension, MinCapacity=5, MaxCapacity=40000)
                    aas.put_scaling_policy(
                        PolicyName=f"{autoscaling.METRICS[dim]}:table/{BALLOTS}", ServiceNamespace="dynamodb",
                        ResourceId=f"table/{BALLOTS}", ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
                        TargetTrackingScalingPolicyConfiguration={"TargetValue": 70.0, "PredefinedMetricSpecification": {
                            "PredefinedMetricType": autoscaling.METRICS[dim]}})

    monkeypatch.setattr(dynamodb.Table, "_apply", aws_switch)
    back = deployer(load_plan(AWS_PLAN), edge=False)
    assert {s.action for s in back.diff().steps if s.key.endswith(f"table_scaling/{BALLOTS}")} == {"create"}
    back.apply()
    for region in REGIONS:
        names = [p["PolicyName"] for p in boto3.client("application-autoscaling", region_name=region)
                 .describe_scaling_policies(ServiceNamespace="dynamodb", ResourceId=f"table/{BALLOTS}")["ScalingPolicies"]]
        assert sorted(names) == [f"{BALLOTS}-read-utilization", f"{BALLOTS}-write-utilization"], region
        assert scaling(region)["write"]["min"] == 5000
    assert actions(deployer(back.plan, edge=False).diff()) == {"noop": len(back.resources)}


def test_a_replica_still_updating_from_its_sources_switch_is_waited_for_not_a_failed_up(moto: None) -> None:
    """The switch made in the source's region switches every replica ("Best practices and requirements for
    managing global tables"); while the replica is UPDATING, UpdateTable is refused (ResourceInUseException,
    UpdateTable API reference). Played here (moto switches no replica): after the source's switch, the
    replica describes as UPDATING twice and refuses one UpdateTable as in use. `up` must wait and converge."""
    from types import SimpleNamespace

    d = deployer(dataclasses.replace(load_plan(AWS_PLAN), ballots_capacity=TableCapacity()), edge=False)
    d.apply()
    back = deployer(load_plan(AWS_PLAN), edge=False)
    state = {"switched": False, "updating": 2, "in_use": 1, "refused": 0}

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["review_params"] = dict(params)

    def before(model: Any, context: dict[str, Any], **_: Any) -> Any:
        params, region = context.get("review_params") or {}, context.get("client_region")
        if model.name != "UpdateTable" or "BillingMode" not in params or params.get("TableName") != BALLOTS:
            return None
        if region == "us-east-1":
            state["switched"] = True
        elif state["switched"] and state["in_use"]:
            state["in_use"] -= 1
            state["refused"] += 1
            return (SimpleNamespace(status_code=400, headers={}), {
                "Error": {"Code": "ResourceInUseException", "Message": f"Table {BALLOTS} is being updated"},
                "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None

    def after(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if (model.name == "DescribeTable" and context.get("client_region") == "us-west-2" and state["switched"]
                and state["updating"] and parsed.get("Table", {}).get("TableName") == BALLOTS):
            state["updating"] -= 1
            parsed["Table"]["TableStatus"] = "UPDATING"

    back.provider.register("before-parameter-build.dynamodb", keep)
    back.provider.register("before-call.dynamodb", before)
    back.provider.register("after-call.dynamodb", after)
    back.apply()
    assert state == {"switched": True, "updating": 0, "in_use": 0, "refused": 1}
    for region in REGIONS:
        assert billing(region) == ("PROVISIONED", 5000, 3500)
    assert actions(deployer(back.plan, edge=False).diff()) == {"noop": len(back.resources)}


def test_a_switch_aws_refuses_with_a_limit_fails_at_once_in_one_sentence(moto: None) -> None:
    """Past AWS's four switches to on demand in 24 hours a retry cannot help: one UpdateTable, then the error."""
    from types import SimpleNamespace

    from election.errors import ElectionError

    d = deployer(edge=False)
    d.apply()
    down = deployer(dataclasses.replace(d.plan, ballots_capacity=TableCapacity()), edge=False)
    tried: list[str] = []

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["review_params"] = dict(params)

    def before(model: Any, context: dict[str, Any], **_: Any) -> Any:
        if model.name == "UpdateTable" and "BillingMode" in (context.get("review_params") or {}):
            tried.append(context.get("client_region", ""))
            return (SimpleNamespace(status_code=400, headers={}), {
                "Error": {"Code": "LimitExceededException", "Message": "Subscriber limit exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None

    down.provider.register("before-parameter-build.dynamodb", keep)
    down.provider.register("before-call.dynamodb", before)
    try:
        down.apply()
    except ElectionError as exc:
        assert "LimitExceededException" in str(exc) or "limit" in str(exc).lower()
    else:
        raise AssertionError("the refused switch must fail the up")
    assert tried == ["us-east-1"], "asked once, not retried"
