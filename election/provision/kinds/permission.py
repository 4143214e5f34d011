"""The invoke permission letting the plan's API (and only it: source ARN) call a function."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from election.provision.kinds import awsutil as u
from election.provision.kinds.apigwutil import NOT_FOUND, delete_quietly, write
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

PERMISSION_SID = "election-apigw"   # statement id of the permission letting the plan's API invoke a function


class LambdaPermission:
    """Lets the plan's API (and only it: source ARN) invoke one function."""

    name = "lambda_permission"

    @staticmethod
    def _function_of(ctx: Context, name: str) -> str:
        return name.removesuffix("-apigw")

    def _statement(self, ctx: Context, region: str, function: str) -> dict[str, Any] | None:
        def fetch() -> dict[str, Any] | None:
            try:
                got: dict[str, Any] = ctx.client("lambda", region).get_policy(FunctionName=function)
                return got
            except ClientError as exc:
                if u.code(exc) in NOT_FOUND:
                    return None
                raise
        policy = u.memo(ctx, ("lambda_policy", region, function), fetch)   # read and discover share it
        if policy is None:
            return None
        for st in json.loads(policy["Policy"]).get("Statement", []):
            if st.get("Sid") == PERMISSION_SID:
                return st
        return None

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        st = self._statement(ctx, res.region, res.props["function_name"])
        if st is None:
            return None
        principal = st.get("Principal")
        props = {"function_name": res.props["function_name"], "function_arn": st.get("Resource"),
                 "principal": principal.get("Service") if isinstance(principal, dict) else principal,
                 "source_arn": ((st.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")}
        return Actual(props, {"statement_id": PERMISSION_SID})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        write(ctx, res.region, "add_permission", "lambda", FunctionName=res.props["function_name"],
              StatementId=PERMISSION_SID, Action="lambda:InvokeFunction", Principal=res.props["principal"],
              SourceArn=res.props["source_arn"])
        return {"statement_id": PERMISSION_SID}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        self._remove(ctx, res.region, res.props["function_name"])
        return self.create(ctx, res)

    def _remove(self, ctx: Context, region: str, function: str) -> None:
        delete_quietly(ctx, region, "remove_permission", service="lambda", FunctionName=function, StatementId=PERMISSION_SID)

    def delete(self, ctx: Context, found: Found) -> None:
        self._remove(ctx, found.region, found.outputs.get("function_name") or self._function_of(ctx, found.name))

    def discover(self, ctx: Context, region: str) -> list[Found]:
        from election.lambdas.contract import FUNCTIONS

        out = []
        for role in FUNCTIONS:
            function = Names(ctx.plan_name).function(role)
            if self._statement(ctx, region, function) is not None:
                out.append(Found(self.name, region, f"{function}-apigw", {"function_name": function}))
        return out
