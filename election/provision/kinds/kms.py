"""KMS key per region (rotation on), found through its alias `alias/{plan}`.

The key also records the plan's regions in the `election:regions` tag, so a
later run can find (and tear down) a region that was removed from the plan.
"""

from __future__ import annotations

import json
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import TAG_REGIONS, Actual, Change, Context, Found, Resource, diff_props
from election.provision.model.names import Names

PENDING_DAYS = 7


class KmsKey:
    name = "kms_key"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        kms = ctx.client("kms", res.region)
        try:
            meta = kms.describe_key(KeyId=res.name)["KeyMetadata"]
        except Exception as exc:
            if u.is_code(exc, "NotFoundException"):
                return None
            raise
        if meta.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
            return None
        return self._actual(ctx, kms, meta)

    def _actual(self, ctx: Context, kms: Any, meta: dict[str, Any]) -> Actual:
        key_id = meta["KeyId"]
        rotation = _on_key(ctx, kms.get_key_rotation_status, KeyId=key_id)["KeyRotationEnabled"]
        policy = json.loads(_on_key(ctx, kms.get_key_policy, KeyId=key_id, PolicyName="default")["Policy"])
        tags = u.tags_of(ctx, kms.meta.region_name, meta["Arn"], lambda: u.from_tag_list(
            _on_key(ctx, kms.list_resource_tags, KeyId=key_id).get("Tags"), "TagKey", "TagValue"))
        return Actual(props={"description": meta.get("Description", ""), "rotation": rotation,
                             "policy": policy, "tags": tags},
                      outputs={"arn": meta["Arn"], "key_id": key_id})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        """Create the key, or adopt a tagged key an interrupted run left without its alias."""
        kms = ctx.client("kms", res.region)
        meta = self._orphan(ctx, res.region)
        if meta is None:
            meta = kms.create_key(Description=res.props["description"], Policy=json.dumps(res.props["policy"]),
                                  KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
                                  Tags=u.tag_list(res.tags, "TagKey", "TagValue"))["KeyMetadata"]
        key_id = meta["KeyId"]
        # KMS is eventually consistent: a new key may be NotFound / in an invalid state for a while.
        if res.props.get("rotation"):
            _on_key(ctx, kms.enable_key_rotation, KeyId=key_id)
        try:
            _on_key(ctx, kms.create_alias, AliasName=res.name, TargetKeyId=key_id)
        except Exception as exc:
            if not u.is_code(exc, "AlreadyExistsException"):
                raise
            _on_key(ctx, kms.update_alias, AliasName=res.name, TargetKeyId=key_id)  # it named a deleted key
        actual = self._actual(ctx, kms, _on_key(ctx, kms.describe_key, KeyId=key_id)["KeyMetadata"])
        changes = _diff(res, actual)
        if changes:
            self.update(ctx, res, actual, changes)
        return actual.outputs

    def _orphan(self, ctx: Context, region: str) -> dict[str, Any] | None:
        kms = ctx.client("kms", region)
        aliased = {a.get("TargetKeyId") for a in u.paginate(kms, "list_aliases", "Aliases")}
        for found in self.discover(ctx, region):
            if found.outputs["key_id"] not in aliased:
                return _on_key(ctx, kms.describe_key, KeyId=found.outputs["key_id"])["KeyMetadata"]
        return None

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        kms = ctx.client("kms", res.region)
        key_id = actual.outputs["key_id"]
        for c in changes:
            if c.field == "description":
                _on_key(ctx, kms.update_key_description, KeyId=key_id, Description=c.new)
            elif c.field == "rotation":
                _on_key(ctx, kms.enable_key_rotation if c.new else kms.disable_key_rotation, KeyId=key_id)
            elif c.field == "policy":
                _on_key(ctx, kms.put_key_policy, KeyId=key_id, PolicyName="default", Policy=json.dumps(c.new))
            elif c.field == "tags":
                add, remove = u.tag_delta(c.old, c.new)
                if add:
                    _on_key(ctx, kms.tag_resource, KeyId=key_id, Tags=u.tag_list(add, "TagKey", "TagValue"))
                if remove:
                    _on_key(ctx, kms.untag_resource, KeyId=key_id, TagKeys=remove)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        """Delete the alias and schedule the key's deletion (the shortest window AWS allows)."""
        kms = ctx.client("kms", found.region)
        try:
            kms.delete_alias(AliasName=found.name)
        except Exception as exc:
            if not u.is_code(exc, "NotFoundException"):
                raise
        _on_key(ctx, kms.schedule_key_deletion, KeyId=found.outputs["key_id"], PendingWindowInDays=PENDING_DAYS)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        """Enabled customer keys tagged for the plan; outputs carry the recorded plan regions.

        Asked once per region and run (the regions' discovery and `known_regions` share it).
        """
        return u.memo(ctx, ("kms_keys", region), lambda: self._discover(ctx, region))

    def _discover(self, ctx: Context, region: str) -> list[Found]:
        kms = ctx.client("kms", region)
        listed = u.plan_tags(ctx, region)
        if listed is not None:   # the tagging API lists the plan's keys with their tags
            keys = [(arn.rsplit("/", 1)[-1], tags) for arn, tags in listed.items() if ":key/" in arn]
        else:
            keys = []
            for k in u.paginate(kms, "list_keys", "Keys"):
                try:
                    keys.append((k["KeyId"], u.from_tag_list(kms.list_resource_tags(KeyId=k["KeyId"]).get("Tags"),
                                                             "TagKey", "TagValue")))
                except Exception as exc:
                    if u.is_code(exc, "AccessDeniedException", "NotFoundException"):
                        continue
                    raise
        out = []
        for key_id, tags in keys:
            if not u.ours(tags, ctx):
                continue
            meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            if meta.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            regions = tuple(r for r in tags.get(TAG_REGIONS, "").split(",") if r)
            out.append(Found(self.name, region, Names(ctx.plan_name).alias,
                             {"key_id": key_id, "arn": meta["Arn"], "regions": regions}))
        return out


def _on_key(ctx: Context, call: Any, **kwargs: Any) -> Any:
    """A call on a key that exists: NotFound / invalid state right after CreateKey are retried (eventual)."""
    return u.retry(lambda: call(**kwargs), ctx, u.KEY_NOT_READY, attempts=10)


def _diff(res: Resource, actual: Actual) -> list[Change]:
    return diff_props({**res.props, "tags": dict(res.tags)}, actual.props)
