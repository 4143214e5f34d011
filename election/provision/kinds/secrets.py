"""The two peppers in Secrets Manager, encrypted with each region's key.

A pepper is generated once (32 random bytes, hex) and the same value is
copied to every region; a later `up` never regenerates it. `election close`
deletes the ballot pepper for good: then, when ballots exist, the missing
ballot pepper is reported as retired and is NOT recreated (a new pepper would
let a voter vote again under a new ballot key).
"""

from __future__ import annotations

import secrets as pysecrets
from typing import Any

from botocore.exceptions import ClientError

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.kinds.lookups import has_items
from election.provision.model.names import Names


class Secret:
    name = "secret"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        sm = ctx.client("secretsmanager", res.region)
        listed = _plan_secrets(ctx, res.region)
        desc = listed[res.name] if res.name in listed else _describe(sm, res.name)
        if desc is None:
            if self._retired(ctx, res):
                wanted = {k: v for k, v in res.props.items() if not k.startswith("_")}
                return Actual(props={**wanted, "tags": dict(res.tags)}, outputs={"arn": None, "retired": True})
            return None
        props = {"kms_key_id": desc.get("KmsKeyId"), "description": desc.get("Description", ""),
                 "tags": u.from_tag_list(desc.get("Tags"))}
        return Actual(props=props, outputs={"arn": desc["ARN"], "name": res.name})

    def _retired(self, ctx: Context, res: Resource) -> bool:
        """The ballot pepper is gone for good once ballots exist (the polls were closed)."""
        guard = res.props.get("_guard_tables") or {}
        return any(has_items(ctx.client("dynamodb", region), table) for region, table in guard.items())

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        sm = ctx.client("secretsmanager", res.region)
        value = self._existing_value(ctx, res) or pysecrets.token_bytes(32).hex()

        def create() -> str:
            try:
                return str(sm.create_secret(Name=res.name, KmsKeyId=res.props["kms_key_id"], SecretString=value,
                                            Description=res.props["description"], Tags=u.tag_list(res.tags))["ARN"])
            except ClientError as exc:
                if u.is_code(exc, "ResourceExistsException"):
                    # An earlier attempt of this very call made it (an SDK retry that an emulator does not
                    # recognise by its ClientRequestToken): read just before said it did not exist.
                    return str(sm.describe_secret(SecretId=res.name)["ARN"])
                if not u.is_code(exc, "InvalidRequestException"):
                    raise
                # Scheduled for deletion with a recovery window: restore rather than lose the pepper.
                try:
                    sm.restore_secret(SecretId=res.name)
                except ClientError as gone:
                    if u.is_code(gone, "ResourceNotFoundException", "InvalidRequestException"):
                        raise exc from gone   # force-deleted (down, close): the name is freed shortly
                    raise
                return str(sm.describe_secret(SecretId=res.name)["ARN"])

        # Secrets Manager deletes asynchronously ("use appropriate back off and retry logic" before re-creating
        # a name), and a key made moments ago may not be usable yet (EncryptionFailure).
        arn = u.retry(create, ctx, u.any_of(u.SECRET_NAME_NOT_FREE, u.SECRET_KEY_NOT_READY), attempts=10,
                      first_delay=2.0)
        return {"arn": arn, "name": res.name}

    def _existing_value(self, ctx: Context, res: Resource) -> str | None:
        """The pepper held in the primary (or any other region): never generate a second value."""
        primary = res.props.get("_primary", res.region)
        regions = [primary, *res.props.get("_regions", ())]
        for region in dict.fromkeys(regions):
            if region == res.region:
                continue
            sm = ctx.client("secretsmanager", region)
            try:
                return sm.get_secret_value(SecretId=res.name)["SecretString"]
            except Exception as exc:
                if u.is_code(exc, "ResourceNotFoundException", "InvalidRequestException"):
                    continue
                raise
        return None

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        sm = ctx.client("secretsmanager", res.region)
        fields: dict[str, Any] = {}
        for c in changes:
            if c.field == "kms_key_id":
                fields["KmsKeyId"] = c.new
            elif c.field == "description":
                fields["Description"] = c.new
            elif c.field == "tags":
                add, remove = u.tag_delta(c.old, c.new)
                if add:
                    sm.tag_resource(SecretId=res.name, Tags=u.tag_list(add))
                if remove:
                    sm.untag_resource(SecretId=res.name, TagKeys=remove)
        if fields:
            u.retry(lambda: sm.update_secret(SecretId=res.name, **fields), ctx, u.SECRET_KEY_NOT_READY, attempts=10)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        sm = ctx.client("secretsmanager", found.region)
        try:
            sm.delete_secret(SecretId=found.name, ForceDeleteWithoutRecovery=True)
        except Exception as exc:
            if not u.is_code(exc, "ResourceNotFoundException"):
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        out = []
        for s in _plan_secrets(ctx, region).values():
            if u.ours(u.from_tag_list(s.get("Tags")), ctx):
                out.append(Found(self.name, region, s["Name"], {"arn": s["ARN"]}))
        return out


def _plan_secrets(ctx: Context, region: str) -> dict[str, dict[str, Any]]:
    """The plan's secrets in a region by name (ListSecrets carries key, description and tags): once per run."""
    def fetch() -> dict[str, dict[str, Any]]:
        found = u.paginate(ctx.client("secretsmanager", region), "list_secrets", "SecretList",
                           Filters=[{"Key": "name", "Values": [Names(ctx.plan_name).secret_prefix]}])
        return {s["Name"]: s for s in found if not s.get("DeletedDate") and s["Name"].startswith(Names(ctx.plan_name).secret_prefix)}
    return u.memo(ctx, ("secrets", region), fetch)


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        desc = sm.describe_secret(SecretId=name)
    except Exception as exc:
        if u.is_code(exc, "ResourceNotFoundException"):
            return None
        raise
    return None if desc.get("DeletedDate") else desc
