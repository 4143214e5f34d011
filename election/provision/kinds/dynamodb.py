"""DynamoDB tables: on-demand, encrypted with the region's key, PITR, deletion protection, streams.

Global tables (target aws): the primary region's table is created normally;
every other region's table carries `_replica_of` (the primary region) and is
created by asking the primary for a replica (UpdateTable ReplicaUpdates).
Each replica is then awaited, read, diffed and tagged in its own region
through DescribeTable there, which is where AWS shows it. Adding a replica
takes minutes for an empty table and can take hours for a seeded one, so the
wait is bounded by REPLICA_WAIT_S; an interrupted `up` resumes it, because the
next read sees the replica's status (CREATING) differ from the plan's ACTIVE.
There is no fallback that creates a replica's table directly: on AWS that
would make an independent table that can never join the global table. (An
emulator that ignores ReplicaUpdates is made to play AWS's part by
election.provision.emulator, never by this kind.)
"""

from __future__ import annotations

from functools import partial
from typing import Any

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds import roll_import
from election.provision.kinds.base import Actual, Change, Context, Found, Resource, diff_props
from election.provision.model.names import Names

IN_USE = ("ResourceInUseException", "LimitExceededException")
REPLICA_WAIT_S = 8 * 3600.0   # a replica of a seeded table: "up to several hours" (DynamoDB global tables)
REPLICA_LOCK_S = 24 * 3600.0  # a source table cannot be deleted within 24 h of adding a replica (see below)


class Table:
    name = "table"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        ddb = ctx.client("dynamodb", res.region)
        desc = _describe(ddb, res.name)
        if desc is None or desc.get("TableStatus") == "DELETING":
            # A table imported from S3 waits (as planned, with a note) until its roll is there.
            return roll_import.waiting(ctx, res) if res.props.get("_import") else None
        stream = desc.get("StreamSpecification") or {}
        status = _status(desc, res.region)
        if status != "ACTIVE":
            # Backups and tags are read once it is ACTIVE (update waits for it): shown as planned meanwhile.
            pitr_on, tags = res.props.get("pitr"), dict(res.tags)
        else:
            pitr = ddb.describe_continuous_backups(TableName=res.name)["ContinuousBackupsDescription"]
            pitr_on = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
            tags = u.tags_of(ctx, res.region, desc["TableArn"], lambda: u.from_tag_list(
                ddb.list_tags_of_resource(ResourceArn=desc["TableArn"]).get("Tags")))
        props = {
            "status": status,
            "key": desc["KeySchema"][0]["AttributeName"],
            "billing_mode": _mode(desc),
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
        if primary and primary != res.region:
            self._request_replica(ctx, res, primary)
            self._wait_active(ctx, res.region, res.name, REPLICA_WAIT_S)
        elif p.get("_import"):
            roll_import.import_table(ctx, res)     # then the update below adds the stream, protection, PITR, tags
            self._wait_active(ctx, res.region, res.name, roll_import.IMPORT_WAIT_S)
        else:
            ddb = ctx.client("dynamodb", res.region)
            ddb.create_table(
                TableName=res.name,
                AttributeDefinitions=[{"AttributeName": p["key"], "AttributeType": "S"}],
                KeySchema=[{"AttributeName": p["key"], "KeyType": "HASH"}],
                StreamSpecification={"StreamEnabled": True, "StreamViewType": p["stream"]},
                SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": p["sse_key"]},
                DeletionProtectionEnabled=p["deletion_protection"],
                Tags=u.tag_list(res.tags), **_billing(p, p["billing_mode"]))
            self._wait_active(ctx, res.region, res.name)
        actual = self.read(ctx, res)
        assert actual is not None
        changes = diff_props({**p, "tags": dict(res.tags)}, actual.props)
        return self.update(ctx, res, actual, changes) if changes else actual.outputs

    def _request_replica(self, ctx: Context, res: Resource, primary: str) -> None:
        """Ask the primary for a replica here; AWS's answer lists it (CREATING), else nothing was started."""
        ddb = ctx.client("dynamodb", primary)
        self._wait_active(ctx, primary, res.name)
        # One replica change at a time per table: another region's request may still be in progress.
        answer = u.retry(lambda: ddb.update_table(TableName=res.name, ReplicaUpdates=[{"Create": {
            "RegionName": res.region, "KMSMasterKeyId": res.props["sse_key"]}}]), ctx, IN_USE, attempts=20,
            first_delay=5.0)
        replicas = answer.get("TableDescription", {}).get("Replicas") or []
        if not any(r.get("RegionName") == res.region for r in replicas):
            raise ElectionError(f"DynamoDB answered the request for a replica of {res.name} in {res.region} "
                                "without listing that replica, so none is being made; a local emulator needs "
                                "`target: local` in the plan.")

    def _wait_active(self, ctx: Context, region: str, name: str, bound_s: float | None = None) -> dict[str, Any]:
        """Wait until the table (and, for a replica, its replica status) is ACTIVE; returns its description."""
        ddb = ctx.client("dynamodb", region)
        seen: dict[str, Any] = {}

        def active() -> bool:
            desc = _describe(ddb, name)
            seen["desc"] = desc
            return desc is not None and _status(desc, region) == "ACTIVE"

        what = f"{'the replica' if bound_s else 'table'} {name} in {region} to become active"
        u.wait_until(ctx, active, what, bound_s=bound_s, max_delay=60.0 if bound_s else 15.0)
        return seen["desc"]

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        ddb = ctx.client("dynamodb", res.region)
        if any(c.field == "status" for c in changes):
            # Still being created (a replica: possibly for hours) or updated: wait, then diff what AWS has.
            long_wait = res.props.get("_replica_of") or res.props.get("_import")    # a replica, or an import
            self._wait_active(ctx, res.region, res.name, REPLICA_WAIT_S if long_wait else None)
            fresh = self.read(ctx, res)
            assert fresh is not None
            actual, changes = fresh, diff_props({**res.props, "tags": dict(res.tags)}, fresh.props)
        for c in changes:
            self._apply(ctx, ddb, res, actual, c)
            if c.field in ("billing_mode", "sse_key", "deletion_protection", "stream", "warm_throughput"):
                self._wait_active(ctx, res.region, res.name)
        after = self.read(ctx, res)
        return after.outputs if after else actual.outputs

    def _switch(self, ctx: Context, ddb: Any, res: Resource, mode: str) -> None:
        """Switch the capacity mode, unless a switch through another replica already did.

        On a global table the switch made in one region switches every replica (Amazon DynamoDB Developer
        Guide, "Best practices and requirements for managing global tables"), so a replica asked after its
        source may be UPDATING with it, and "while it is UPDATING, you can't issue another UpdateTable
        request" (UpdateTable, API reference; ResourceInUseException): wait for ACTIVE, look again, and
        retry an UpdateTable refused as in use.
        """
        def once() -> None:
            desc = self._wait_active(ctx, res.region, res.name)
            if _mode(desc) != mode:
                ddb.update_table(TableName=res.name, **_billing(res.props, mode))

        # Not LimitExceededException: AWS allows four switches to on demand in 24 hours ("Considerations when
        # switching capacity modes") and a refusal past them is no "not yet" that a retry within a run cures.
        u.retry(once, ctx, ("ResourceInUseException",), attempts=10, first_delay=5.0)

    def _apply(self, ctx: Context, ddb: Any, res: Resource, actual: Actual, c: Change) -> None:
        """One field's change: the UpdateTable (or backups / tags call) that makes it."""
        if c.field == "key":
            raise ElectionError(f"Table {res.name} in {res.region} has key {c.old!r}, not {c.new!r}; a key "
                                "cannot change in place: export the data and delete the table first.")
        if c.field == "billing_mode":
            self._switch(ctx, ddb, res, c.new)
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
            # Right after a table turns ACTIVE, DynamoDB may answer ContinuousBackupsUnavailableException.
            u.retry(partial(ddb.update_continuous_backups, TableName=res.name,
                            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": bool(c.new)}),
                    ctx, u.PITR_NOT_READY, attempts=10)
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

    def delete(self, ctx: Context, found: Found) -> None:
        """Turn deletion protection off (it is on for every table we make), then delete and wait."""
        ddb = ctx.client("dynamodb", found.region)
        desc = _describe(ddb, found.name)
        if desc is None:
            return
        if desc.get("DeletionProtectionEnabled"):
            u.retry(lambda: ddb.update_table(TableName=found.name, DeletionProtectionEnabled=False), ctx, IN_USE,
                  attempts=20, first_delay=5.0)
            self._wait_active(ctx, found.region, found.name)
        try:
            # Replicas of one global table are removed one at a time: wait out the others.
            u.retry(lambda: ddb.delete_table(TableName=found.name), ctx, IN_USE, attempts=20, first_delay=5.0)
        except Exception as exc:
            if u.is_code(exc, "ResourceNotFoundException"):
                return
            raise
        u.wait_for(ctx, ddb, "table_not_exists", f"table {found.name} in {found.region} to be deleted",
                   TableName=found.name)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        ddb = ctx.client("dynamodb", region)
        out = []
        for name in u.paginate(ddb, "list_tables", "TableNames"):
            if not name.startswith(Names(ctx.plan_name).prefix):
                continue
            arn = f"arn:{ctx.partition}:dynamodb:{region}:{ctx.account_id}:table/{name}"
            listed = u.plan_tags(ctx, region)
            if listed is not None and arn not in listed:
                continue   # the tagging API lists every table tagged for the plan
            tags = u.tags_of(ctx, region, arn, partial(_tags, ddb, name))
            if u.ours(tags, ctx):
                out.append(Found(self.name, region, name, {"arn": arn}))
        return out


def _mode(desc: dict[str, Any]) -> str:
    """A described table's capacity mode (DescribeTable omits BillingModeSummary for a table that was always
    provisioned)."""
    return str((desc.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED")


def _billing(props: Any, mode: str) -> dict[str, Any]:
    """CreateTable / UpdateTable arguments of a capacity mode: PROVISIONED needs its starting throughput
    (the plan's minimums; auto scaling, the table_scaling kind, moves it from there)."""
    if mode != "PROVISIONED":
        return {"BillingMode": mode}
    units = props.get("_provisioned") or {"read": 1, "write": 1}
    return {"BillingMode": mode, "ProvisionedThroughput": {"ReadCapacityUnits": units["read"],
                                                           "WriteCapacityUnits": units["write"]}}


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


def _status(desc: dict[str, Any], region: str) -> str:
    """The table's status, or its replica status in this region while that is not ACTIVE yet."""
    mine = [r.get("ReplicaStatus") for r in desc.get("Replicas") or [] if r.get("RegionName") == region]
    if desc.get("TableStatus") == "ACTIVE" and mine and mine[0] != "ACTIVE":
        return str(mine[0])
    return str(desc.get("TableStatus"))


def recent_replicas(ctx: Context, primary: str, names: list[str], now: float) -> list[tuple[str, str, float]]:
    """(table, replica region, when added) for each replica of these source tables added in the last 24 h.

    A source table lists its replicas in DescribeTable; the replica's own CreationDateTime (in its
    region) is when it was added.
    """
    out = []
    for name in names:
        desc = _describe(ctx.client("dynamodb", primary), name)
        for rep in (desc or {}).get("Replicas") or []:
            region = rep.get("RegionName")
            if region in (None, primary):
                continue
            there = _describe(ctx.client("dynamodb", region), name) or {}
            created: Any = there.get("CreationDateTime")   # a datetime from botocore
            added = created.timestamp() if hasattr(created, "timestamp") else None
            if added is not None and now - added < REPLICA_LOCK_S:
                out.append((name, region, added))
    return out


def _tags(ddb: Any, name: str) -> dict[str, str]:
    desc = _describe(ddb, name)
    return {} if desc is None else u.from_tag_list(ddb.list_tags_of_resource(ResourceArn=desc["TableArn"]).get("Tags"))


def _describe(ddb: Any, name: str) -> dict[str, Any] | None:
    try:
        return ddb.describe_table(TableName=name)["Table"]
    except Exception as exc:
        if u.is_code(exc, "ResourceNotFoundException"):
            return None
        raise
