"""DynamoDB tables: on-demand, encrypted with the region's key, PITR, deletion protection, streams.

Global tables (target aws): the primary region's table is created normally;
every other region's table carries `_replica_of` (the primary region) and is
created by asking the primary for a replica (UpdateTable ReplicaUpdates).
Each replica is then read, diffed and tagged in its own region through
DescribeTable there, which is where AWS shows it, so convergence never depends
on the primary's `Replicas` list. An emulator that accepts ReplicaUpdates but
creates nothing (moto 5.2.5 ignores the field and reports no replicas) is
detected from the UpdateTable answer itself: when it lists no replica for the
region, the table is created in that region directly with the same schema and
key, which is what a replica is from the reader's side. On AWS the answer
always lists the new replica (CREATING), so that fallback never runs there.
"""

from __future__ import annotations

from typing import Any

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource, diff_props, retry

IN_USE = ("ResourceInUseException", "LimitExceededException")


class Table:
    name = "table"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        ddb = ctx.client("dynamodb", res.region)
        desc = _describe(ddb, res.name)
        if desc is None or desc.get("TableStatus") == "DELETING":
            return None
        if desc.get("TableStatus") != "ACTIVE":
            desc = self._wait_active(ctx, res.region, res.name)
        pitr = ddb.describe_continuous_backups(TableName=res.name)["ContinuousBackupsDescription"]
        pitr_on = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
        tags = u.from_tag_list(ddb.list_tags_of_resource(ResourceArn=desc["TableArn"]).get("Tags"))
        stream = desc.get("StreamSpecification") or {}
        props = {
            "key": desc["KeySchema"][0]["AttributeName"],
            "billing_mode": (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
            "sse_key": (desc.get("SSEDescription") or {}).get("KMSMasterKeyArn"),
            "pitr": pitr_on,
            "deletion_protection": bool(desc.get("DeletionProtectionEnabled")),
            "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
            "tags": tags,
        }
        if "warm_throughput" in res.props:
            props["warm_throughput"] = _warm(desc, res.props["warm_throughput"])
        return Actual(props=props, outputs={"arn": desc["TableArn"], "stream_arn": desc.get("LatestStreamArn"),
                                            "name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        p = res.props
        primary = p.get("_replica_of")
        if primary and primary != res.region and self._request_replica(ctx, res, primary):
            self._wait_active(ctx, res.region, res.name)
        else:
            ddb = ctx.client("dynamodb", res.region)
            ddb.create_table(
                TableName=res.name,
                AttributeDefinitions=[{"AttributeName": p["key"], "AttributeType": "S"}],
                KeySchema=[{"AttributeName": p["key"], "KeyType": "HASH"}],
                BillingMode=p["billing_mode"],
                StreamSpecification={"StreamEnabled": True, "StreamViewType": p["stream"]},
                SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": p["sse_key"]},
                DeletionProtectionEnabled=p["deletion_protection"],
                Tags=u.tag_list(res.tags))
            self._wait_active(ctx, res.region, res.name)
        actual = self.read(ctx, res)
        assert actual is not None
        changes = diff_props({**p, "tags": dict(res.tags)}, actual.props)
        return self.update(ctx, res, actual, changes) if changes else actual.outputs

    def _request_replica(self, ctx: Context, res: Resource, primary: str) -> bool:
        """Ask the primary for a replica here; False when the service reports none (an emulator)."""
        ddb = ctx.client("dynamodb", primary)
        self._wait_active(ctx, primary, res.name)
        # One replica change at a time per table: another region's request may still be in progress.
        answer = retry(lambda: ddb.update_table(TableName=res.name, ReplicaUpdates=[{"Create": {
            "RegionName": res.region, "KMSMasterKeyId": res.props["sse_key"]}}]), ctx, IN_USE, attempts=20,
            first_delay=5.0)
        replicas = answer.get("TableDescription", {}).get("Replicas") or []
        return any(r.get("RegionName") == res.region for r in replicas)

    def _wait_active(self, ctx: Context, region: str, name: str) -> dict[str, Any]:
        ddb = ctx.client("dynamodb", region)
        seen: dict[str, Any] = {}

        def active() -> bool:
            desc = _describe(ddb, name)
            seen["desc"] = desc
            return bool(desc) and desc.get("TableStatus") == "ACTIVE"

        u.wait_until(ctx, active, f"table {name} in {region} to become active")
        return seen["desc"]

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        ddb = ctx.client("dynamodb", res.region)
        for c in changes:
            if c.field == "key":
                raise ElectionError(f"Table {res.name} in {res.region} has key {c.old!r}, not {c.new!r}; a key "
                                    "cannot change in place: export the data and delete the table first.")
            if c.field == "billing_mode":
                ddb.update_table(TableName=res.name, BillingMode=c.new)
            elif c.field == "sse_key":
                ddb.update_table(TableName=res.name, SSESpecification={
                    "Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": c.new})
            elif c.field == "deletion_protection":
                ddb.update_table(TableName=res.name, DeletionProtectionEnabled=bool(c.new))
            elif c.field == "stream":
                if c.old:
                    ddb.update_table(TableName=res.name, StreamSpecification={"StreamEnabled": False})
                    self._wait_active(ctx, res.region, res.name)
                ddb.update_table(TableName=res.name,
                                 StreamSpecification={"StreamEnabled": True, "StreamViewType": c.new})
            elif c.field == "pitr":
                ddb.update_continuous_backups(TableName=res.name, PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": bool(c.new)})
            elif c.field == "warm_throughput":
                # Warm throughput can be raised, never lowered: ask for at least what the table has.
                have = (actual.props.get("warm_throughput") or {})
                ddb.update_table(TableName=res.name, WarmThroughput={
                    "ReadUnitsPerSecond": max(c.new["read"], have.get("read", 0)),
                    "WriteUnitsPerSecond": max(c.new["write"], have.get("write", 0))})
            elif c.field == "tags":
                add, remove = u.tag_delta(c.old, c.new)
                if add:
                    ddb.tag_resource(ResourceArn=actual.outputs["arn"], Tags=u.tag_list(add))
                if remove:
                    ddb.untag_resource(ResourceArn=actual.outputs["arn"], TagKeys=remove)
            if c.field in ("billing_mode", "sse_key", "deletion_protection", "stream", "warm_throughput"):
                self._wait_active(ctx, res.region, res.name)
        after = self.read(ctx, res)
        return after.outputs if after else actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        """Turn deletion protection off (it is on for every table we make), then delete and wait."""
        ddb = ctx.client("dynamodb", found.region)
        desc = _describe(ddb, found.name)
        if desc is None:
            return
        if desc.get("DeletionProtectionEnabled"):
            retry(lambda: ddb.update_table(TableName=found.name, DeletionProtectionEnabled=False), ctx, IN_USE,
                  attempts=20, first_delay=5.0)
            self._wait_active(ctx, found.region, found.name)
        try:
            # Replicas of one global table are removed one at a time: wait out the others.
            retry(lambda: ddb.delete_table(TableName=found.name), ctx, IN_USE, attempts=20, first_delay=5.0)
        except Exception as exc:
            if u.is_code(exc, "ResourceNotFoundException"):
                return
            raise
        u.wait_until(ctx, lambda: _describe(ddb, found.name) is None,
                     f"table {found.name} in {found.region} to be deleted")

    def discover(self, ctx: Context, region: str) -> list[Found]:
        ddb = ctx.client("dynamodb", region)
        out = []
        for name in u.paginate(ddb, "list_tables", "TableNames"):
            if not name.startswith(f"{ctx.plan_name}-"):
                continue
            desc = _describe(ddb, name)
            if desc is None:
                continue
            tags = u.from_tag_list(ddb.list_tags_of_resource(ResourceArn=desc["TableArn"]).get("Tags"))
            if u.ours(tags, ctx):
                out.append(Found(self.name, region, name, {"arn": desc["TableArn"]}))
        return out


def _warm(desc: dict[str, Any], wanted: dict[str, int]) -> dict[str, int]:
    """The table's warm throughput as the plan spells it; a table already warmer than wanted satisfies it.

    AWS raises warm throughput by itself as traffic grows and never lowers it
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html), so
    more than the plan asks is no difference to correct.
    """
    wt = desc.get("WarmThroughput") or {}
    have = {"read": int(wt.get("ReadUnitsPerSecond") or 0), "write": int(wt.get("WriteUnitsPerSecond") or 0)}
    if have["read"] >= wanted["read"] and have["write"] >= wanted["write"]:
        return dict(wanted)
    return have


def _describe(ddb: Any, name: str) -> dict[str, Any] | None:
    try:
        return ddb.describe_table(TableName=name)["Table"]
    except Exception as exc:
        if u.is_code(exc, "ResourceNotFoundException"):
            return None
        raise


def has_items(ddb: Any, name: str) -> bool:
    """True when the table exists and holds at least one item (one small Scan)."""
    try:
        return ddb.scan(TableName=name, Limit=1, Select="COUNT").get("Count", 0) > 0
    except Exception as exc:
        if u.is_code(exc, "ResourceNotFoundException"):
            return False
        raise
