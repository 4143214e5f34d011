"""HTTP API edge of a region: the API, its Lambda integrations, routes, `$default` stage, invoke permissions.

Integrations and routes have no names in API Gateway, so an integration
carries its resource name in its description and a route is found by its
route key; that keeps the deployer stateless (everything is found again in AWS).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from election.provision.clients import is_loopback
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import TAG_PLAN, Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

F = TypeVar("F", bound=Callable[..., Any])
PERMISSION_SID = "election-apigw"   # statement id of the permission letting the plan's API invoke a function
NOT_FOUND = ("NotFoundException", "ResourceNotFoundException")


def known(*values: Any) -> bool:
    """False while a referenced output is not known yet (the engine's plan of a fresh deploy)."""
    return all(isinstance(v, str) and v for v in values)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def write(ctx: Context, region: str, op: str, service: str = "apigatewayv2", **kwargs: Any) -> Any:
    """One write call. The parallel steps writing one API's integrations, routes and stage get
    ConflictException from API Gateway ("resolve the conflict before retrying"), a function's policy
    ResourceConflictException from Lambda: both are retried with backoff."""
    when = u.CONCURRENT_API_WRITE if service == "apigatewayv2" else u.FUNCTION_BUSY
    return u.retry(lambda: getattr(ctx.client(service, region), op)(**kwargs), ctx, when)


def delete_quietly(ctx: Context, region: str, op: str, service: str = "apigatewayv2", **kwargs: Any) -> None:
    """Run a delete call; something already gone is deleted, not an error (teardown may be re-run)."""
    try:
        write(ctx, region, op, service, **kwargs)
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND:
            raise


def _paged(call: Any, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Items of an apigatewayv2 list call, following NextToken (v2 has no paginators)."""
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def find_plan_api(ctx: Context, region: str, name: str | None = None) -> dict[str, Any] | None:
    """The HTTP API named `name` (default: the plan name) tagged for this plan."""
    wanted = name or ctx.plan_name
    for api in _apis(ctx, region):
        if api.get("Name") == wanted and (api.get("Tags") or {}).get(TAG_PLAN) == ctx.plan_name:
            return api
    return None


def _apis(ctx: Context, region: str) -> list[dict[str, Any]]:
    """The region's HTTP APIs (GetApis carries their tags): read once per run."""
    return u.memo(ctx, ("apis", region), lambda: list(_paged(ctx.client("apigatewayv2", region).get_apis, "Items")))


def _items(ctx: Context, region: str, list_call: str, api_id: str) -> list[dict[str, Any]]:
    """An API's integrations, routes or stages: one list call per API per run serves every read."""
    return u.memo(ctx, (list_call, region, api_id), lambda: list(_paged(
        getattr(ctx.client("apigatewayv2", region), list_call), "Items", ApiId=api_id)))


def plan_api_items(ctx: Context, region: str, list_call: str) -> tuple[str, list[dict[str, Any]]]:
    """The plan API's id and what one of its list calls (get_routes, get_stages, ...) returns; ("", []) if no API."""
    api = find_plan_api(ctx, region)
    if api is None:
        return "", []
    return api["ApiId"], _items(ctx, region, list_call, api["ApiId"])


def find_api_item(ctx: Context, region: str, list_call: str, api_id: str, field: str,
                  value: str) -> dict[str, Any] | None:
    """The first item of an API's list call whose `field` is `value`; None also when the API itself is gone."""
    try:
        for item in _items(ctx, region, list_call, api_id):
            if item.get(field) == value:
                return item
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise
    return None


# --- http_api -------------------------------------------------------------------------


class HttpApi:
    """The regional HTTP API; CORS allows exactly the site origin plus the plan's extra origins."""

    name = "http_api"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        api = find_plan_api(ctx, res.region, res.name)
        if api is None:
            return None
        cors = api.get("CorsConfiguration") or {}
        origins = list(cors.get("AllowOrigins") or [])
        props = {
            "protocol": api.get("ProtocolType"),
            "site_origin": origins[0] if origins else None,
            "extra_origins": origins[1:],
            "cors_methods": list(cors.get("AllowMethods") or []),
            "cors_headers": list(cors.get("AllowHeaders") or []),
            "cors_max_age": cors.get("MaxAge"),
            "tags": dict(api.get("Tags") or {}),   # the engine compares them with the plan's tags
        }
        return Actual(props=props, outputs=self._outputs(ctx, res.region, api))

    def _outputs(self, ctx: Context, region: str, api: dict[str, Any]) -> dict[str, Any]:
        api_id = api["ApiId"]
        endpoint = api.get("ApiEndpoint") or f"https://{api_id}.execute-api.{region}.amazonaws.com"
        return {
            "api_id": api_id,
            "endpoint": endpoint,
            "host": endpoint.split("://", 1)[-1],
            "source_arn": f"arn:{ctx.partition}:execute-api:{region}:{ctx.account_id}:{api_id}/*/*",
            "arn": f"arn:{ctx.partition}:apigateway:{region}::/apis/{api_id}",
        }

    @staticmethod
    def _cors(props: dict[str, Any] | Any) -> dict[str, Any]:
        origins = [props["site_origin"], *[o for o in props["extra_origins"] if o != props["site_origin"]]]
        return {"AllowOrigins": origins, "AllowMethods": list(props["cors_methods"]),
                "AllowHeaders": list(props["cors_headers"]), "MaxAge": int(props["cors_max_age"])}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        api = write(
            ctx, res.region, "create_api", Name=res.name, ProtocolType=res.props["protocol"], CorsConfiguration=self._cors(res.props),
            Tags=dict(res.tags))
        return self._outputs(ctx, res.region, api)

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        fields = {c.field for c in changes}
        if fields - {"tags"}:
            write(ctx, res.region, "update_api", ApiId=actual.outputs["api_id"], CorsConfiguration=self._cors(res.props))
        if "tags" in fields:
            arn = actual.outputs["arn"]
            stale = [k for k in actual.props.get("tags", {}) if k not in res.tags]
            if stale:
                write(ctx, res.region, "untag_resource", ResourceArn=arn, TagKeys=stale)
            write(ctx, res.region, "tag_resource", ResourceArn=arn, Tags=dict(res.tags))
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        api_id = found.outputs.get("api_id")
        if not api_id:
            api = find_plan_api(ctx, found.region, found.name)
            if api is None:
                return
            api_id = api["ApiId"]
        delete_quietly(ctx, found.region, "delete_api", ApiId=api_id)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        return [Found(self.name, region, a["Name"], {"api_id": a["ApiId"]})
                for a in _apis(ctx, region) if (a.get("Tags") or {}).get(TAG_PLAN) == ctx.plan_name]


# --- api_integration --------------------------------------------------------------------


class ApiIntegration:
    """A Lambda proxy integration (payload format 2.0); its description holds the resource name."""

    name = "api_integration"

    def _find(self, ctx: Context, region: str, api_id: str, name: str) -> dict[str, Any] | None:
        return find_api_item(ctx, region, "get_integrations", api_id, "Description", name)

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        item = self._find(ctx, res.region, res.props["api_id"], res.name) if known(res.props["api_id"]) else None
        if item is None:
            return None
        props = {"api_id": res.props["api_id"], "function_arn": item.get("IntegrationUri"),
                 "integration_type": item.get("IntegrationType"),
                 "payload_format": item.get("PayloadFormatVersion"),
                 "timeout_ms": item.get("TimeoutInMillis")}
        return Actual(props, {"integration_id": item["IntegrationId"], "api_id": res.props["api_id"]})

    def _args(self, res: Resource) -> dict[str, Any]:
        return {"IntegrationUri": res.props["function_arn"], "IntegrationType": res.props["integration_type"],
                "PayloadFormatVersion": res.props["payload_format"], "TimeoutInMillis": res.props["timeout_ms"],
                "IntegrationMethod": "POST", "Description": res.name}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        item = write(ctx, res.region, "create_integration", ApiId=res.props["api_id"], **self._args(res))
        return {"integration_id": item["IntegrationId"], "api_id": res.props["api_id"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        write(ctx, res.region, "update_integration",
              ApiId=res.props["api_id"], IntegrationId=actual.outputs["integration_id"], **self._args(res))
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        api_id, integration_id = found.outputs.get("api_id"), found.outputs.get("integration_id")
        if not (api_id and integration_id):
            api = find_plan_api(ctx, found.region)
            item = self._find(ctx, found.region, api["ApiId"], found.name) if api else None
            if not api or not item:
                return   # the API went first and took its integrations along
            api_id, integration_id = api["ApiId"], item["IntegrationId"]
        delete_quietly(ctx, found.region, "delete_integration", ApiId=api_id, IntegrationId=integration_id)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        api_id, items = plan_api_items(ctx, region, "get_integrations")
        return [Found(self.name, region, i["Description"], {"api_id": api_id, "integration_id": i["IntegrationId"]})
                for i in items if str(i.get("Description") or "").startswith(Names(ctx.plan_name).prefix)]


# --- api_route ----------------------------------------------------------------------------


class ApiRoute:
    """One route ('POST /votes') targeting an integration; found again by its route key."""

    name = "api_route"

    def _find(self, ctx: Context, region: str, api_id: str, route_key: str) -> dict[str, Any] | None:
        return find_api_item(ctx, region, "get_routes", api_id, "RouteKey", route_key)

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        if not known(res.props["api_id"]):
            return None
        item = self._find(ctx, res.region, res.props["api_id"], res.props["route_key"])
        if item is None:
            return None
        target = str(item.get("Target") or "")
        props = {"api_id": res.props["api_id"], "route_key": item["RouteKey"],
                 "integration_id": target.split("/", 1)[1] if target.startswith("integrations/") else None,
                 "authorization": item.get("AuthorizationType")}
        return Actual(props, {"route_id": item["RouteId"], "api_id": res.props["api_id"]})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        item = write(
            ctx, res.region, "create_route", ApiId=res.props["api_id"], RouteKey=res.props["route_key"],
            Target=f"integrations/{res.props['integration_id']}", AuthorizationType=res.props["authorization"])
        return {"route_id": item["RouteId"], "api_id": res.props["api_id"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        write(
            ctx, res.region, "update_route", ApiId=res.props["api_id"], RouteId=actual.outputs["route_id"], RouteKey=res.props["route_key"],
            Target=f"integrations/{res.props['integration_id']}", AuthorizationType=res.props["authorization"])
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        api_id, route_id = found.outputs.get("api_id"), found.outputs.get("route_id")
        if not (api_id and route_id):
            api_id, items = plan_api_items(ctx, found.region, "get_routes")
            match = [i for i in items if Names(ctx.plan_name).route(i["RouteKey"]) == found.name]
            if not match:
                return
            route_id = match[0]["RouteId"]
        delete_quietly(ctx, found.region, "delete_route", ApiId=api_id, RouteId=route_id)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        api_id, items = plan_api_items(ctx, region, "get_routes")
        return [Found(self.name, region, Names(ctx.plan_name).route(i["RouteKey"]),
                      {"api_id": api_id, "route_id": i["RouteId"]}) for i in items]


# --- api_stage ------------------------------------------------------------------------------


class ApiStage:
    """The auto-deployed `$default` stage carrying the plan's throttling."""

    name = "api_stage"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        if not known(res.props["api_id"]):
            return None
        st = find_api_item(ctx, res.region, "get_stages", res.props["api_id"], "StageName", res.props["stage_name"])
        if st is None:
            return None
        route = st.get("DefaultRouteSettings") or {}
        props = {"api_id": res.props["api_id"], "stage_name": st["StageName"],
                 "auto_deploy": bool(st.get("AutoDeploy")),
                 "throttle_rate": route.get("ThrottlingRateLimit"),
                 "throttle_burst": route.get("ThrottlingBurstLimit"),
                 "detailed_metrics": bool(route.get("DetailedMetricsEnabled"))}
        return Actual(props, {"api_id": res.props["api_id"], "stage_name": st["StageName"]})

    @staticmethod
    def _route_settings(res: Resource) -> dict[str, Any]:
        return {"ThrottlingRateLimit": float(res.props["throttle_rate"]),
                "ThrottlingBurstLimit": int(res.props["throttle_burst"]),
                "DetailedMetricsEnabled": bool(res.props["detailed_metrics"])}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        write(
            ctx, res.region, "create_stage", ApiId=res.props["api_id"], StageName=res.props["stage_name"], AutoDeploy=bool(res.props["auto_deploy"]),
            DefaultRouteSettings=self._route_settings(res), Tags=dict(res.tags))
        return {"api_id": res.props["api_id"], "stage_name": res.props["stage_name"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        client = ctx.client("apigatewayv2", res.region)
        try:
            if is_loopback(client.meta.endpoint_url):
                raise NotImplementedError("a moto server answers UpdateStage with a 500")
            write(ctx, res.region, "update_stage", ApiId=res.props["api_id"], StageName=res.props["stage_name"],
                  AutoDeploy=bool(res.props["auto_deploy"]), DefaultRouteSettings=self._route_settings(res))
        except NotImplementedError:
            # moto has no UpdateStage: replace the stage there (AWS itself takes the update in place).
            write(ctx, res.region, "delete_stage", ApiId=res.props["api_id"], StageName=res.props["stage_name"])
            return self.create(ctx, res)
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        api_id = found.outputs.get("api_id")
        stage = found.outputs.get("stage_name", "$default")
        if not api_id:
            api = find_plan_api(ctx, found.region)
            if api is None:
                return
            api_id = api["ApiId"]
        delete_quietly(ctx, found.region, "delete_stage", ApiId=api_id, StageName=stage)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        api_id, stages = plan_api_items(ctx, region, "get_stages")
        return [Found(self.name, region, Names(ctx.plan_name).stage(s["StageName"]),
                      {"api_id": api_id, "stage_name": s["StageName"]}) for s in stages]


# --- lambda_permission --------------------------------------------------------------------------


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
                if error_code(exc) in NOT_FOUND:
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
