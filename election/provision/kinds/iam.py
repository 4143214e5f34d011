"""One IAM role per function per region, with one inline policy naming exact resources."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

POLICY_NAME = "election"
TAG_REGION = "election:region"


class IamRole:
    name = "iam_role"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        listed = _plan_roles(ctx, res.region)
        if listed is not None and res.name in listed:
            detail = listed[res.name]
            policy = next((_doc(p["PolicyDocument"]) for p in detail.get("RolePolicyList") or []
                           if p.get("PolicyName") == POLICY_NAME), None)
            return Actual(props={"assume_role_policy": _doc(detail["AssumeRolePolicyDocument"]), "policy": policy,
                                 "tags": u.from_tag_list(detail.get("Tags"))},
                          outputs={"arn": detail["Arn"], "name": res.name})
        iam = ctx.client("iam", res.region)
        try:
            role = iam.get_role(RoleName=res.name)["Role"]
        except Exception as exc:
            if u.is_code(exc, "NoSuchEntity"):
                return None
            raise
        try:
            policy = _doc(iam.get_role_policy(RoleName=res.name, PolicyName=POLICY_NAME)["PolicyDocument"])
        except Exception as exc:
            if not u.is_code(exc, "NoSuchEntity"):
                raise
            policy = None
        tags = u.from_tag_list(role.get("Tags") or iam.list_role_tags(RoleName=res.name).get("Tags"))
        return Actual(props={"assume_role_policy": _doc(role["AssumeRolePolicyDocument"]), "policy": policy,
                             "tags": tags}, outputs={"arn": role["Arn"], "name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        iam = ctx.client("iam", res.region)
        try:
            arn = iam.create_role(RoleName=res.name, AssumeRolePolicyDocument=json.dumps(
                res.props["assume_role_policy"]), Description=f"election {ctx.plan_name}: {res.name}",
                Tags=u.tag_list(res.tags))["Role"]["Arn"]
        except Exception as exc:
            if not u.is_code(exc, "EntityAlreadyExists"):
                raise
            arn = iam.get_role(RoleName=res.name)["Role"]["Arn"]
        iam.put_role_policy(RoleName=res.name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(res.props["policy"]))
        return {"arn": arn, "name": res.name}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        iam = ctx.client("iam", res.region)
        for c in changes:
            if c.field == "assume_role_policy":
                iam.update_assume_role_policy(RoleName=res.name, PolicyDocument=json.dumps(c.new))
            elif c.field == "policy":
                iam.put_role_policy(RoleName=res.name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(c.new))
            elif c.field == "tags":
                add, remove = u.tag_delta(c.old, c.new)
                if add:
                    iam.tag_role(RoleName=res.name, Tags=u.tag_list(add))
                if remove:
                    iam.untag_role(RoleName=res.name, TagKeys=remove)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        iam = ctx.client("iam", found.region)
        try:
            for name in u.paginate(iam, "list_role_policies", "PolicyNames", RoleName=found.name):
                iam.delete_role_policy(RoleName=found.name, PolicyName=name)
            for p in u.paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=found.name):
                iam.detach_role_policy(RoleName=found.name, PolicyArn=p["PolicyArn"])
            iam.delete_role(RoleName=found.name)
        except Exception as exc:
            if not u.is_code(exc, "NoSuchEntity"):
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        """Roles are global; each belongs to the region named in its election:region tag."""
        iam = ctx.client("iam", region)
        out = []
        listed = _plan_roles(ctx, region)
        roles = listed.values() if listed is not None else u.paginate(iam, "list_roles", "Roles")
        for role in roles:
            name = role["RoleName"]
            if not (name.startswith(Names(ctx.plan_name).prefix) and name.endswith(f"-{region}")):
                continue
            tags = u.from_tag_list(role["Tags"] if listed is not None else iam.list_role_tags(RoleName=name).get(
                "Tags"))
            if u.ours(tags, ctx) and tags.get(TAG_REGION) == region:
                out.append(Found(self.name, region, name, {"arn": role["Arn"]}))
        return out


def _plan_roles(ctx: Context, region: str) -> dict[str, dict[str, Any]] | None:
    """The plan's roles with their inline policies and tags, by name: GetAccountAuthorizationDetails answers
    for every role at once (a page per 1,000), instead of GetRole + GetRolePolicy + ListRoleTags per role.
    IAM is global, so one listing serves every region. None without the permission to list (then per role).
    """
    def fetch() -> dict[str, dict[str, Any]] | None:
        try:
            pages = ctx.client("iam", region).get_paginator("get_account_authorization_details").paginate(
                Filter=["Role"], PaginationConfig={"PageSize": 1000})
            return {r["RoleName"]: r for page in pages for r in page.get("RoleDetailList", [])
                    if r["RoleName"].startswith(Names(ctx.plan_name).prefix)}
        except ClientError as exc:
            if u.is_code(exc, "AccessDenied", "AccessDeniedException"):
                return None
            raise
    return u.memo(ctx, ("iam_roles",), fetch)


def _doc(raw: Any) -> Any:
    """IAM returns documents URL-encoded JSON (botocore usually decodes them already)."""
    if isinstance(raw, str):
        return json.loads(unquote(raw))
    return raw
