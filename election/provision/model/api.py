"""The HTTP API of a region: one integration and permission per function behind a route, the routes, the stage."""

from __future__ import annotations

from collections.abc import Mapping

from election.lambdas.contract import ROUTES
from election.ops import capacity
from election.plan import Plan
from election.provision.model.common import names, res
from election.provision.model.compute import distribution_key, function_key
from election.provision.model.names import key
from election.provision.resources import Ref, Resource

CORS_METHODS = ["GET", "POST"]
CORS_HEADERS = ["content-type"]
CORS_MAX_AGE_S = 300


def api_resources(plan: Plan, region: str, tags: Mapping[str, str]) -> list[Resource]:
    n = names(plan)
    api = key(region, "http_api", n.api)
    out = [res("http_api", region, n.api, {
        "protocol": "HTTP",
        "site_origin": Ref(distribution_key(plan), "origin"),
        "extra_origins": list(plan.api.allowed_origins),
        "cors_methods": CORS_METHODS, "cors_headers": CORS_HEADERS, "cors_max_age": CORS_MAX_AGE_S,
    }, tags)]
    for role in dict.fromkeys(ROUTES.values()):
        out.append(res("api_integration", region, n.integration(role), {
            "api_id": Ref(api, "api_id"), "function_arn": Ref(function_key(plan, region, role), "arn"),
            "integration_type": "AWS_PROXY", "payload_format": "2.0",
            "timeout_ms": min(30_000, plan.lambda_.timeout_s * 1000 + 1000),
        }, tags))
        out.append(res("lambda_permission", region, n.permission(role), {
            "function_name": n.function(role), "function_arn": Ref(function_key(plan, region, role), "arn"),
            "principal": "apigateway.amazonaws.com", "source_arn": Ref(api, "source_arn"),
        }, tags))
    for route_key, role in ROUTES.items():
        out.append(res("api_route", region, n.route(route_key), {
            "api_id": Ref(api, "api_id"), "route_key": route_key,
            "integration_id": Ref(key(region, "api_integration", n.integration(role)), "integration_id"),
            "authorization": "NONE",
        }, tags))
    rate, burst = capacity.stage_throttle(plan, region)
    out.append(res("api_stage", region, n.stage("$default"), {
        "api_id": Ref(api, "api_id"), "stage_name": "$default", "auto_deploy": True,
        "throttle_rate": float(rate), "throttle_burst": burst,
        "detailed_metrics": False,
    }, tags))
    return out
