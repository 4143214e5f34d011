"""Auto scaling of a provisioned DynamoDB table in one region (Application Auto Scaling).

One resource per table and region holds both dimensions: a scalable target (min, max) and a
target-tracking policy (the utilization to hold) for write and for read capacity units.

AWS documents, for global tables version 2019.11.21, that a provisioned global table must have auto
scaling, that its replicas keep identical write capacity settings, and that its auto scaling is managed
with UpdateTableReplicaAutoScaling, whose minimum, maximum and target are "established globally for the
table and passed to all replicas" (Amazon DynamoDB Developer Guide, "Best practices and requirements for
managing global tables"; "Throughput capacity planning for global tables": "the write settings (minimum,
maximum, and target utilization) are replicated across Regions"). moto 5.2.5 does not implement
UpdateTableReplicaAutoScaling; it does implement Application Auto Scaling (RegisterScalableTarget,
PutScalingPolicy, Describe*, DeleteScalingPolicy, DeregisterScalableTarget). So this kind writes the
same settings through Application Auto Scaling in every region: AWS's synchronisation, if it copies one
region's write settings to the others, copies identical values, and a read-back in each region finds
what the plan says. Not verified against a real account (no AWS here): if AWS refuses a replica's own
RegisterScalableTarget for writes, UpdateTableReplicaAutoScaling from the primary is the documented path.

Raising a minimum needs no UpdateTable: RegisterScalableTarget "changes the resource's current capacity to a
value that is inside of this range" (Application Auto Scaling API reference, RegisterScalableTarget; "Application
Auto Scaling concepts"). moto only records the new range: the table's ProvisionedThroughput stays where it was.

Where moto differs (not evidence of AWS): on AWS, DeregisterScalableTarget also deletes the target's
scaling policies and their CloudWatch alarms ("Deregistering a scalable target deletes the scaling
policies ... associated with it", Application Auto Scaling API reference); moto keeps the policies, so
`delete` removes the policies first (which both accept). The first RegisterScalableTarget for DynamoDB
in an account creates the service-linked role AWSServiceRoleForApplicationAutoScaling_DynamoDBTable,
which needs iam:CreateServiceLinkedRole (Application Auto Scaling User Guide, "Service-linked roles").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

NAMESPACE = "dynamodb"
DIMENSIONS = {"write": "dynamodb:table:WriteCapacityUnits", "read": "dynamodb:table:ReadCapacityUnits"}
BY_DIMENSION = {v: k for k, v in DIMENSIONS.items()}   # "dynamodb:table:WriteCapacityUnits" -> "write"
METRICS = {"write": "DynamoDBWriteCapacityUtilization", "read": "DynamoDBReadCapacityUtilization"}
GONE = ("ObjectNotFoundException", "ValidationException")   # moto answers a missing target with the latter


def resource_id(table: str) -> str:
    return f"table/{table}"


def policy_name(table: str, dim: str) -> str:
    return f"{table}-{dim}-utilization"


class TableScaling:
    name = "table_scaling"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        rid = resource_id(res.name)
        targets = _targets(ctx, res.region).get(rid, {})
        if not targets:
            return None
        policies = _policies(ctx, res.region).get(rid, {})
        props = {dim: _setting(targets.get(dim), policies.get(dim, {}), policy_name(res.name, dim))
                 for dim in DIMENSIONS}
        return Actual(props=props, outputs={"name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        """Register both dimensions, then drop what the plan did not make, read afresh: the plan's listing
        predates this run's switch of the table to provisioned, after which AWS overwrites a global table's
        auto scaling with its recommended defaults (target 70 %, minimum 5: "Considerations when switching
        capacity modes in DynamoDB"), so a policy of AWS's can be there now that was not when the plan read."""
        for dim in DIMENSIONS:
            self._put(ctx, res, dim, _other_policies(ctx, res, dim))
        return {"name": res.name}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        for c in changes:
            if c.field in DIMENSIONS:
                self._put(ctx, res, c.field, (c.old or {}).get("other_policies") or [])
        return {"name": res.name}

    def _put(self, ctx: Context, res: Resource, dim: str, others: Sequence[str] = ()) -> None:
        """Register (or re-register: it updates min and max in place) the target, then put the policy
        (PutScalingPolicy replaces a policy of the same name): both are idempotent. Any other policy on the
        dimension goes: when a global table is switched to provisioned, AWS sets its recommended auto scaling
        ("Considerations when switching capacity modes in DynamoDB": target 70 %, minimum 5), and two
        target-tracking policies would scale out on either one; the plan's is the only one kept."""
        aas = ctx.client("application-autoscaling", res.region)
        want = res.props[dim]
        aas.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource_id(res.name),
                                     ScalableDimension=DIMENSIONS[dim], MinCapacity=want["min"],
                                     MaxCapacity=want["max"])
        aas.put_scaling_policy(
            PolicyName=policy_name(res.name, dim), ServiceNamespace=NAMESPACE, ResourceId=resource_id(res.name),
            ScalableDimension=DIMENSIONS[dim], PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(want["target"]),
                "PredefinedMetricSpecification": {"PredefinedMetricType": METRICS[dim]}})
        for name in others:
            with u.gone_ok(*GONE):
                aas.delete_scaling_policy(PolicyName=name, ServiceNamespace=NAMESPACE, ResourceId=resource_id(res.name),
                                          ScalableDimension=DIMENSIONS[dim])

    def delete(self, ctx: Context, found: Found) -> None:
        aas = ctx.client("application-autoscaling", found.region)
        listed = _policies(ctx, found.region).get(resource_id(found.name), {})
        for dim, dimension in DIMENSIONS.items():
            for name in sorted({policy_name(found.name, dim), *listed.get(dim, {})}):
                with u.gone_ok(*GONE):
                    aas.delete_scaling_policy(PolicyName=name, ServiceNamespace=NAMESPACE,
                                              ResourceId=resource_id(found.name), ScalableDimension=dimension)
            with u.gone_ok(*GONE):
                aas.deregister_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource_id(found.name),
                                               ScalableDimension=dimension)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        """Scalable targets of the plan's tables: Application Auto Scaling targets carry no plan tag, so a
        target is ours when its table is (named with the plan's prefix, and tagged for the plan: another
        plan's name can start with this one's)."""
        prefix = resource_id(Names(ctx.plan_name).prefix)
        out = []
        for rid in sorted(_targets(ctx, region)):
            table = rid.split("/", 1)[1]
            if rid.startswith(prefix) and _table_ours(ctx, region, table):
                out.append(Found(self.name, region, table, {"name": table}))
        return out


def _other_policies(ctx: Context, res: Resource, dim: str) -> list[str]:
    """The dimension's scaling policies not named by the plan, as AWS lists them now (no run memo)."""
    aas = ctx.client("application-autoscaling", res.region)
    listed = u.paginate(aas, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace=NAMESPACE,
                        ResourceId=resource_id(res.name), ScalableDimension=DIMENSIONS[dim])
    return sorted(p["PolicyName"] for p in listed if p["PolicyName"] != policy_name(res.name, dim))


def _table_ours(ctx: Context, region: str, table: str) -> bool:
    """Whether the table is tagged for this plan: from the tagging API's listing, else its own tags."""
    arn = f"arn:{ctx.partition}:dynamodb:{region}:{ctx.account_id}:table/{table}"
    listed = u.plan_tags(ctx, region)
    if listed is not None:
        return arn in listed
    ddb = ctx.client("dynamodb", region)
    try:
        tags = u.from_tag_list(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags"))
    except Exception as exc:
        if u.is_code(exc, "ResourceNotFoundException"):
            return False   # the table is gone: its targets are AWS's to clean up, not this plan's
        raise
    return u.ours(tags, ctx)


def _setting(target: dict[str, Any] | None, policies: dict[str, dict[str, Any]], ours: str) -> dict[str, Any] | None:
    """{min, max, target} as the plan spells it (plus `other_policies` when the dimension has policies the
    plan did not make); None when the dimension has no scalable target."""
    if target is None:
        return None
    conf = (policies.get(ours) or {}).get("TargetTrackingScalingPolicyConfiguration") or {}
    value = conf.get("TargetValue")
    out = {"min": target.get("MinCapacity"), "max": target.get("MaxCapacity"),
           "target": round(value) if value is not None and float(value).is_integer() else value}
    others = sorted(name for name in policies if name != ours)
    if others:
        out["other_policies"] = others
    return out


def _targets(ctx: Context, region: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Resource ID -> dimension ("write"/"read") -> scalable target, for a region: one listing per run."""
    def fetch() -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for t in u.paginate(ctx.client("application-autoscaling", region), "describe_scalable_targets",
                            "ScalableTargets", ServiceNamespace=NAMESPACE):
            if t.get("ScalableDimension") in BY_DIMENSION:
                out.setdefault(t["ResourceId"], {})[BY_DIMENSION[t["ScalableDimension"]]] = t
        return out
    return u.memo(ctx, ("scalable_targets", region), fetch)


def _policies(ctx: Context, region: str) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Resource ID -> dimension -> policy name -> scaling policy, for a region: one listing per run."""
    def fetch() -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        for p in u.paginate(ctx.client("application-autoscaling", region), "describe_scaling_policies",
                            "ScalingPolicies", ServiceNamespace=NAMESPACE):
            dim = BY_DIMENSION.get(p.get("ScalableDimension", ""))
            if dim:
                out.setdefault(p["ResourceId"], {}).setdefault(dim, {})[p["PolicyName"]] = p
        return out
    return u.memo(ctx, ("scaling_policies", region), fetch)
