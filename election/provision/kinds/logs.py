"""Lambda log groups, created before their function: KMS-encrypted, with the plan's retention."""

from __future__ import annotations

from functools import partial
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names


class LogGroup:
    name = "log_group"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        logs = ctx.client("logs", res.region)
        listed = _plan_groups(ctx, res.region)
        group = listed[res.name] if res.name in listed else _find(logs, res.name)
        if group is None:
            return None
        arn = _arn(group)
        tags = u.tags_of(ctx, res.region, arn, partial(_group_tags, logs, arn))
        return Actual(props={"retention_days": group.get("retentionInDays"), "kms_key": group.get("kmsKeyId"),
                             "tags": tags}, outputs={"arn": arn, "name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        logs = ctx.client("logs", res.region)
        try:   # a key made moments ago may not be usable yet: CloudWatch Logs then says InvalidParameterException
            u.retry(lambda: logs.create_log_group(logGroupName=res.name, kmsKeyId=res.props["kms_key"],
                                                  tags=dict(res.tags)), ctx, u.LOGS_KEY_NOT_READY, attempts=10)
        except Exception as exc:
            if not u.is_code(exc, "ResourceAlreadyExistsException"):
                raise
        logs.put_retention_policy(logGroupName=res.name, retentionInDays=res.props["retention_days"])
        group = _find(logs, res.name)
        assert group is not None
        return {"arn": _arn(group), "name": res.name}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        logs = ctx.client("logs", res.region)
        for c in changes:
            if c.field == "retention_days":
                logs.put_retention_policy(logGroupName=res.name, retentionInDays=c.new)
            elif c.field == "kms_key":
                u.retry(partial(logs.associate_kms_key, logGroupName=res.name, kmsKeyId=c.new), ctx,
                        u.LOGS_KEY_NOT_READY, attempts=10)
            elif c.field == "tags":
                add, remove = u.tag_delta(c.old, c.new)
                if add:
                    logs.tag_resource(resourceArn=actual.outputs["arn"], tags=add)
                if remove:
                    logs.untag_resource(resourceArn=actual.outputs["arn"], tagKeys=remove)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        try:
            ctx.client("logs", found.region).delete_log_group(logGroupName=found.name)
        except Exception as exc:
            if not u.is_code(exc, "ResourceNotFoundException"):
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        logs = ctx.client("logs", region)
        out = []
        for g in _plan_groups(ctx, region).values():
            tags = u.tags_of(ctx, region, _arn(g), partial(_group_tags, logs, _arn(g)))
            if u.ours(tags, ctx):
                out.append(Found(self.name, region, g["logGroupName"], {"arn": _arn(g)}))
        return out


def _plan_groups(ctx: Context, region: str) -> dict[str, dict[str, Any]]:
    """The plan's functions' log groups in a region, by name: one DescribeLogGroups per run."""
    prefix = Names(ctx.plan_name).log_group_prefix
    return u.memo(ctx, ("log_groups", region), lambda: {g["logGroupName"]: g for g in u.paginate(
        ctx.client("logs", region), "describe_log_groups", "logGroups", logGroupNamePrefix=prefix)})


def _find(logs: Any, name: str) -> dict[str, Any] | None:
    for g in logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", []):
        if g["logGroupName"] == name:
            return g
    return None


def _arn(group: dict[str, Any]) -> str:
    return group.get("logGroupArn") or group["arn"].removesuffix(":*")


def _group_tags(logs: Any, arn: str) -> dict[str, str]:
    return logs.list_tags_for_resource(resourceArn=arn).get("tags") or {}
