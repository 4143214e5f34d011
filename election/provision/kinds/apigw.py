"""The HTTP API of a region and its auto-deployed `$default` stage (routes and integrations: apiroutes.py)."""

from __future__ import annotations

from typing import Any

from election.provision.clients import is_loopback
from election.provision.kinds import awsutil as u
from election.provision.kinds.apigwutil import (
    delete_quietly,
    find_api_item,
    find_plan_api,
    plan_api_items,
    plan_apis,
    write,
)
from election.provision.kinds.base import TAG_PLAN, Actual, Change, Context, Found, Resource
from election.provision.model.names import Names


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
                for a in plan_apis(ctx, region) if (a.get("Tags") or {}).get(TAG_PLAN) == ctx.plan_name]


# --- api_stage ------------------------------------------------------------------------------


class ApiStage:
    """The auto-deployed `$default` stage carrying the plan's throttling."""

    name = "api_stage"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        if not u.known(res.props["api_id"]):
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
