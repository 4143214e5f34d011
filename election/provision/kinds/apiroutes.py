"""The HTTP API's Lambda proxy integrations and its routes.

Integrations and routes have no names in API Gateway: an integration carries its resource name in its
description and a route is found by its route key, so the deployer stays stateless.
"""

from __future__ import annotations

from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.apigwutil import (
    delete_quietly,
    find_api_item,
    find_plan_api,
    plan_api_items,
    write,
)
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

# --- api_integration --------------------------------------------------------------------


class ApiIntegration:
    """A Lambda proxy integration (payload format 2.0); its description holds the resource name."""

    name = "api_integration"

    def _find(self, ctx: Context, region: str, api_id: str, name: str) -> dict[str, Any] | None:
        return find_api_item(ctx, region, "get_integrations", api_id, "Description", name)

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        item = self._find(ctx, res.region, res.props["api_id"], res.name) if u.known(res.props["api_id"]) else None
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
        if not u.known(res.props["api_id"]):
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
