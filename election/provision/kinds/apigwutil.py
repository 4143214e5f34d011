"""What the HTTP API kinds (apigw, apiroutes) and the invoke permission share: retried writes, quiet
deletes, and the plan API's listings read once per run (integrations and routes have no names in API
Gateway, so an integration carries its resource name in its description and a route is found by its key)."""

from __future__ import annotations

from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import TAG_PLAN, Context

NOT_FOUND = ("NotFoundException", "ResourceNotFoundException")


def write(ctx: Context, region: str, op: str, service: str = "apigatewayv2", **kwargs: Any) -> Any:
    """One write call. The parallel steps writing one API's integrations, routes and stage get
    ConflictException from API Gateway ("resolve the conflict before retrying"), a function's policy
    ResourceConflictException from Lambda: both are retried with backoff."""
    when = u.CONCURRENT_API_WRITE if service == "apigatewayv2" else u.FUNCTION_BUSY
    return u.retry(lambda: getattr(ctx.client(service, region), op)(**kwargs), ctx, when)


def delete_quietly(ctx: Context, region: str, op: str, service: str = "apigatewayv2", **kwargs: Any) -> None:
    """Run a delete call; something already gone is deleted, not an error (teardown may be re-run)."""
    with u.gone_ok(*NOT_FOUND):
        write(ctx, region, op, service, **kwargs)


def find_plan_api(ctx: Context, region: str, name: str | None = None) -> dict[str, Any] | None:
    """The HTTP API named `name` (default: the plan name) tagged for this plan."""
    wanted = name or ctx.plan_name
    for api in plan_apis(ctx, region):
        if api.get("Name") == wanted and (api.get("Tags") or {}).get(TAG_PLAN) == ctx.plan_name:
            return api
    return None


def plan_apis(ctx: Context, region: str) -> list[dict[str, Any]]:
    """The region's HTTP APIs (GetApis carries their tags): read once per run."""
    return u.memo(ctx, ("apis", region), lambda: list(u.token_pages(ctx.client("apigatewayv2", region).get_apis, "Items")))


def _items(ctx: Context, region: str, list_call: str, api_id: str) -> list[dict[str, Any]]:
    """An API's integrations, routes or stages: one list call per API per run serves every read."""
    return u.memo(ctx, (list_call, region, api_id), lambda: list(u.token_pages(
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
    items: list[dict[str, Any]] = []
    with u.gone_ok(*NOT_FOUND):
        items = _items(ctx, region, list_call, api_id)
    return next((item for item in items if item.get(field) == value), None)
