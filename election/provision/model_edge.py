"""The edge of the desired model: HTTP APIs, alarms, dashboard, voting page, and the domain.

Pure: computes Resources from the plan (and the page's file digests), no AWS
calls. core's model.desired() appends these to the data-plane resources; the
names it shares with core (functions, queues, the distribution's origin) are
spelled the same on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from election.lambdas.contract import FUNCTIONS, ROUTES
from election.ops import capacity
from election.plan import Plan
from election.provision.kinds.apigw import route_resource_name, stage_resource_name
from election.provision.kinds.base import TAG_PLAN, Join, Ref, Resource
from election.provision.kinds.cloudwatch import alarm_description_prefix, dashboard_title
from election.provision.kinds.dns import CLOUDFRONT_ZONE, VALIDATION_PREFIX, zone_comment
from election.provision.kinds.headers import csp_parts
from election.provision.kinds.site import (
    API_PREFIX,
    CACHING_OPTIMIZED,
    PUBLIC_TAGGING,
    managed_marker,
    site_file_digests,
)

SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"   # AWS managed SecurityHeadersPolicy (HSTS, nosniff...)
SITE_CERT_REGION = "us-east-1"   # CloudFront only takes certificates from us-east-1
CORS_METHODS = ["GET", "POST"]
CORS_HEADERS = ["content-type"]
CORS_MAX_AGE_S = 300
OLDEST_VOTE_AGE_S = 300          # alarm when a vote has waited this long in the queue
TALLY_LAG_MS = 60_000            # alarm when the tally is this far behind the ballots stream


def key(region: str, kind: str, name: str) -> str:
    return f"{region}/{kind}/{name}"


def function_key(plan: Plan, region: str, role: str) -> str:
    return key(region, "lambda_function", f"{plan.name}-{role}")


def distribution_key(plan: Plan) -> str:
    """core reads Ref(distribution_key(plan), "origin") for the functions' ALLOWED_ORIGINS."""
    return key(plan.primary_region, "cloudfront_distribution", f"{plan.name}-site")


def _res(kind: str, region: str, name: str, props: dict[str, Any], tags: Mapping[str, str],
         depends_on: tuple[str, ...] = ()) -> Resource:
    """A Resource whose depends_on also lists every resource its props refer to."""
    deps = tuple(dict.fromkeys(_refs(props) + depends_on))
    return Resource(kind=kind, region=region, name=name, props=props, depends_on=deps, tags=dict(tags))


def _refs(value: Any) -> tuple[str, ...]:
    """Keys of every Ref in a value, at any depth."""
    if isinstance(value, Ref):
        return (value.key,)
    if isinstance(value, Join):
        return _refs(value.parts)
    if isinstance(value, Mapping):
        return tuple(k for v in value.values() for k in _refs(v))
    if isinstance(value, (list, tuple)):
        return tuple(k for v in value for k in _refs(v))
    return ()


def edge_resources(plan: Plan, site_dir: Path) -> list[Resource]:
    """Every edge resource of the plan: per region, then global (primary region), then the domain."""
    tags = {TAG_PLAN: plan.name, **plan.tags}
    out: list[Resource] = []
    for region in plan.region_names:
        out += api_resources(plan, region, tags)
        out += alarm_resources(plan, region, tags)
    out += site_resources(plan, site_dir, tags)
    out.append(dashboard(plan, tags))
    if plan.domain and plan.target == "aws":
        out += domain_resources(plan, tags)
    return out


# --- HTTP API -------------------------------------------------------------------------------


def api_resources(plan: Plan, region: str, tags: Mapping[str, str]) -> list[Resource]:
    p = plan.name
    api = key(region, "http_api", p)
    out = [_res("http_api", region, p, {
        "protocol": "HTTP",
        "site_origin": Ref(distribution_key(plan), "origin"),
        "extra_origins": list(plan.api.allowed_origins),
        "cors_methods": CORS_METHODS, "cors_headers": CORS_HEADERS, "cors_max_age": CORS_MAX_AGE_S,
    }, tags)]
    roles = list(dict.fromkeys(ROUTES.values()))
    for role in roles:
        out.append(_res("api_integration", region, f"{p}-{role}", {
            "api_id": Ref(api, "api_id"), "function_arn": Ref(function_key(plan, region, role), "arn"),
            "integration_type": "AWS_PROXY", "payload_format": "2.0",
            "timeout_ms": min(30_000, plan.lambda_.timeout_s * 1000 + 1000),
        }, tags))
        out.append(_res("lambda_permission", region, f"{p}-{role}-apigw", {
            "function_name": f"{p}-{role}", "function_arn": Ref(function_key(plan, region, role), "arn"),
            "principal": "apigateway.amazonaws.com", "source_arn": Ref(api, "source_arn"),
        }, tags))
    for route_key, role in ROUTES.items():
        out.append(_res("api_route", region, route_resource_name(p, route_key), {
            "api_id": Ref(api, "api_id"), "route_key": route_key,
            "integration_id": Ref(key(region, "api_integration", f"{p}-{role}"), "integration_id"),
            "authorization": "NONE",
        }, tags))
    rate, burst = capacity.stage_throttle(plan, region)
    out.append(_res("api_stage", region, stage_resource_name(p, "$default"), {
        "api_id": Ref(api, "api_id"), "stage_name": "$default", "auto_deploy": True,
        "throttle_rate": float(rate), "throttle_burst": burst,
        "detailed_metrics": False,
    }, tags))
    return out


# --- alarms and dashboard -------------------------------------------------------------------------


def topic_key(plan: Plan, region: str) -> str:
    return key(region, "sns_topic", f"{plan.name}-alerts")


def alerts_topic(plan: Plan, region: str, tags: Mapping[str, str]) -> Resource:
    """The region's alerts topic, encrypted with the region's key; `alerts.email` addresses subscribed."""
    return _res("sns_topic", region, f"{plan.name}-alerts", {
        "kms_key": Ref(key(region, "kms_key", f"alias/{plan.name}"), "arn"),
        "emails": sorted(plan.alerts.email),
    }, tags)


def _alarm(plan: Plan, region: str, tags: Mapping[str, str], name: str, what: str, namespace: str, metric: str,
           dimensions: dict[str, str], statistic: str, threshold: float, periods: int = 1) -> Resource:
    topic = Ref(topic_key(plan, region), "arn")
    return _res("alarm", region, f"{plan.name}-{name}", {
        "description": f"{alarm_description_prefix(plan.name)} {what}",
        "namespace": namespace, "metric": metric, "dimensions": dimensions, "statistic": statistic,
        "period": 60, "evaluation_periods": periods, "datapoints_to_alarm": periods,
        "threshold": float(threshold), "comparison": "GreaterThanThreshold", "treat_missing_data": "notBreaching",
        # Into the region's topic when it fires, and again when it is back to OK (so nobody waits on a fixed one).
        "alarm_actions": [topic], "ok_actions": [topic],
    }, tags)


def alarm_resources(plan: Plan, region: str, tags: Mapping[str, str]) -> list[Resource]:
    """The region's alerts topic, then its alarms (every one notifies that topic)."""
    p = plan.name
    out = [
        alerts_topic(plan, region, tags),
        _alarm(plan, region, tags, "votes-dlq-visible", "Votes were dead-lettered: inspect with `election dlq`.",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"{p}-votes-dlq"}, "Maximum", 0),
        _alarm(plan, region, tags, "handoff-dlq-visible", "Hand-off messages were dead-lettered.",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"{p}-handoff-dlq"}, "Maximum", 0),
        _alarm(plan, region, tags, "tally-failures-visible",
               "The tally gave up on a stream batch: see `election dlq list`, then `election recount`.",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": f"{p}-tally-failures"}, "Maximum", 0),
        # A vote waits up to the mixing window (secrecy.window_s) by design before it is written.
        _alarm(plan, region, tags, "votes-oldest-age",
               f"A vote has waited over {OLDEST_VOTE_AGE_S + plan.secrecy.window_s} s in the queue.",
               "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": f"{p}-votes"}, "Maximum",
               OLDEST_VOTE_AGE_S + plan.secrecy.window_s, periods=5),
        # Only the pipeline can tag a vote: a refused message is forged, off-ballot or in the wrong region.
        _alarm(plan, region, tags, "process-refused",
               "The process function refused a vote message (bad tag, off-ballot, or state not homed here).",
               f"Election/{p}", "Refused", {"Region": region, "Function": "process"}, "Sum", 0),
        # Hand-offs wait out the home region's outage (1,000 receives): say when votes are parked there.
        _alarm(plan, region, tags, "handoff-oldest-age",
               f"A vote for another region has waited over {OLDEST_VOTE_AGE_S} s in the hand-off queue.",
               "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": f"{p}-handoff"}, "Maximum",
               OLDEST_VOTE_AGE_S, periods=5),
        _alarm(plan, region, tags, "tally-lag", f"The tally is over {TALLY_LAG_MS // 1000} s behind the ballots.",
               "AWS/Lambda", "IteratorAge", {"FunctionName": f"{p}-tally"}, "Maximum", TALLY_LAG_MS, periods=3),
    ]
    for role in FUNCTIONS:
        fn = {"FunctionName": f"{p}-{role}"}
        out.append(_alarm(plan, region, tags, f"{role}-errors", f"The {role} function reports errors.",
                          "AWS/Lambda", "Errors", fn, "Sum", 0))
        out.append(_alarm(plan, region, tags, f"{role}-throttles", f"The {role} function is throttled.",
                          "AWS/Lambda", "Throttles", fn, "Sum", 0))
    return out


def dashboard_body(plan: Plan) -> dict[str, Any]:
    """Three rows per region, for the operator on election day.

    Votes accepted (enqueue's Queued + HandedOff on POST /votes), recorded (process) and counted (tally);
    the oldest vote's age in each queue; dead letters and given-up tally batches; errors and throttles of
    every function; tally lag; API traffic and latency. The API ids are Refs; the engine resolves them.
    """
    p = plan.name
    ns = f"Election/{p}"    # the handlers' embedded metrics (contract.ENV_METRICS_NAMESPACE)
    widgets: list[dict[str, Any]] = [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
                                      "properties": {"markdown": dashboard_title(p, plan.primary_region)}}]

    def metric(x: int, y: int, title: str, region: str, stat: str, metrics: list[list[Any]],
               width: int = 8) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": {
            "title": f"{title} ({region})", "region": region, "stat": stat, "period": 60, "view": "timeSeries",
            "metrics": metrics}}

    for i, region in enumerate(plan.region_names):
        y = 2 + 18 * i
        api = ["ApiId", Ref(key(region, "http_api", p), "api_id"), "Stage", "$default"]
        votes = ["Region", region, "Route", "POST /votes"]
        widgets += [
            metric(0, y, "Votes accepted, recorded and counted", region, "Sum", [
                [ns, "Queued", *votes], [ns, "HandedOff", *votes],
                [ns, "Recorded", "Function", "process", "Region", region],
                [ns, "Counted", "Function", "tally", "Region", region]]),
            metric(8, y, "Oldest vote waiting (s)", region, "Maximum", [
                ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"{p}-{q}"] for q in ("votes", "handoff")]),
            metric(16, y, "Dead letters and given-up tally batches", region, "Maximum", [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{p}-{q}"]
                for q in ("votes-dlq", "handoff-dlq", "tally-failures")]),
            metric(0, y + 6, "Function errors", region, "Sum", [
                ["AWS/Lambda", "Errors", "FunctionName", f"{p}-{role}"] for role in FUNCTIONS]),
            metric(8, y + 6, "Function throttles", region, "Sum", [
                ["AWS/Lambda", "Throttles", "FunctionName", f"{p}-{role}"] for role in FUNCTIONS]),
            metric(16, y + 6, "Tally lag (ms)", region, "Maximum", [
                ["AWS/Lambda", "IteratorAge", "FunctionName", f"{p}-tally"]]),
            metric(0, y + 12, "API requests and errors", region, "Sum", [
                ["AWS/ApiGateway", m, *api] for m in ("Count", "4xx", "5xx")], width=12),
            metric(12, y + 12, "API latency (p99, ms)", region, "p99", [["AWS/ApiGateway", "Latency", *api]], width=12),
        ]
    return {"widgets": widgets}


def dashboard(plan: Plan, tags: Mapping[str, str]) -> Resource:
    return _res("dashboard", plan.primary_region, plan.name, {"body": dashboard_body(plan)}, tags)


# --- the voting page -----------------------------------------------------------------------------


def api_origins(plan: Plan) -> list[str]:
    """The API origins the page may connect to (its CSP connect-src).

    With a domain: exactly https://api.<domain>. Without one, the API ids are not known before
    the distribution exists (each API's CORS names the distribution's origin, and the distribution
    names this policy: a cycle), so the plan regions' API Gateway hosts stand in for them.
    """
    if plan.domain:
        return [f"https://api.{plan.domain}"]
    return [f"https://*.execute-api.{r}.amazonaws.com" for r in plan.region_names]


def site_resources(plan: Plan, site_dir: Path, tags: Mapping[str, str]) -> list[Resource]:
    p, primary = plan.name, plan.primary_region
    name = f"{p}-site"
    bucket = key(primary, "site_bucket", name)
    oac = key(primary, "cloudfront_oac", name)
    dist = distribution_key(plan)
    marker = managed_marker(p, primary)
    dist_props: dict[str, Any] = {
        "comment": f"{marker}: voting page", "enabled": True,
        "origin_domain": Ref(bucket, "regional_domain"), "oac_id": Ref(oac, "id"),
        "default_root_object": "index.html", "viewer_protocol_policy": "redirect-to-https",
        "cache_policy_id": CACHING_OPTIMIZED, "headers_policy_id": SECURITY_HEADERS,
        "price_class": "PriceClass_100",
        "http_version": "http2and3", "aliases": [], "certificate_arn": "",
    }
    dist_deps: tuple[str, ...] = ()
    extra: list[Resource] = []
    if plan.target == "aws":   # moto has no response headers policies: locally the static server sends the CSP
        extra.append(_res("cloudfront_headers_policy", primary, name, {
            "comment": f"{marker}: the page's security headers and CSP",
            "csp": "".join(csp_parts(api_origins(plan)))}, tags))
        dist_props["headers_policy_id"] = Ref(key(primary, "cloudfront_headers_policy", name), "id")
    if plan.domain and plan.target == "aws":
        dist_props["aliases"] = [plan.domain]
        dist_props["certificate_arn"] = Ref(key(SITE_CERT_REGION, "acm_certificate", plan.domain), "arn")
        dist_deps = (key(primary, "dns_record", VALIDATION_PREFIX + plan.domain),)
    files_props: dict[str, Any] = {
        "bucket": Ref(bucket, "bucket"), "distribution_id": Ref(dist, "id"), "source": str(site_dir),
        "public_tag": PUBLIC_TAGGING,   # objects CloudFront may read (bucket policy); the manifest has none
        "files": site_file_digests(site_dir),
        "config": {"plan": p,
                   "ballot": {"candidates": list(plan.ballot.candidates),
                              "overrides": {s: list(c) for s, c in sorted(plan.ballot.overrides.items())}},
                   "states": dict(sorted(plan.state_regions().items()))},
    }
    if plan.domain and plan.target == "aws":
        files_props["api_urls"] = [f"https://api.{plan.domain}"]
    else:
        for region in plan.region_names:
            files_props[API_PREFIX + region] = Ref(key(region, "http_api", p), "endpoint")
    return [
        *extra,
        _res("site_bucket", primary, name, {
            "block_public_access": {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                                    "RestrictPublicBuckets": True},
            "ownership": "BucketOwnerEnforced", "encryption": "AES256"}, tags),
        _res("cloudfront_oac", primary, name, {
            "description": f"{marker}: CloudFront reads the private site bucket",
            "signing_protocol": "sigv4", "signing_behavior": "always", "origin_type": "s3"}, tags),
        _res("cloudfront_distribution", primary, name, dist_props, tags, dist_deps),
        _res("site_bucket_policy", primary, name, {
            "bucket": Ref(bucket, "bucket"), "distribution_arn": Ref(dist, "arn")}, tags),
        _res("site_files", primary, name, files_props, tags, (key(primary, "site_bucket_policy", name),)),
    ]


# --- the domain ------------------------------------------------------------------------------------


def domain_resources(plan: Plan, tags: Mapping[str, str]) -> list[Resource]:
    """Zone, certificates and their validation, API custom domains, latency records with health checks."""
    assert plan.domain
    p, primary, domain = plan.name, plan.primary_region, plan.domain
    api_name = f"api.{domain}"
    zone = key(primary, "hosted_zone", domain)
    out = [_res("hosted_zone", primary, domain, {"comment": zone_comment(p, primary)}, tags)]
    certs = {(SITE_CERT_REGION, domain)} | {(r, api_name) for r in plan.region_names}
    for region, name in sorted(certs):
        out.append(_res("acm_certificate", region, name, {"domain": name, "validation": "DNS"}, tags))
    # ACM gives one validation CNAME per domain and account, the same in every region: one record each.
    for region, name in ((SITE_CERT_REGION, domain), (primary, api_name)):
        cert = key(region, "acm_certificate", name)
        out.append(_res("dns_record", primary, VALIDATION_PREFIX + name, {
            "zone_id": Ref(zone, "zone_id"), "record_name": Ref(cert, "validation_name"), "type": "CNAME",
            "set_identifier": None, "latency_region": None, "health_check_id": None, "ttl": 300,
            "value": Ref(cert, "validation_value"),
            "alias_dns_name": None, "alias_zone_id": None, "evaluate_target_health": None}, tags))
    for region in plan.region_names:
        api_domain = key(region, "api_domain", api_name)
        out += [
            _res("api_domain", region, api_name, {
                "certificate_arn": Ref(key(region, "acm_certificate", api_name), "arn"),
                "endpoint_type": "REGIONAL", "security_policy": "TLS_1_2"}, tags,
                 (key(primary, "dns_record", VALIDATION_PREFIX + api_name),)),
            _res("api_mapping", region, api_name, {
                "domain_name": api_name, "api_id": Ref(key(region, "http_api", p), "api_id"), "stage": "$default"},
                 tags, (api_domain, key(region, "api_stage", stage_resource_name(p, "$default")))),
            _res("health_check", region, f"{p}-{region}", {
                "type": "HTTPS", "fqdn": Ref(key(region, "http_api", p), "host"), "path": "/health", "port": 443,
                "interval": 30, "failure_threshold": 3, "sni": True}, tags),
            _res("dns_record", region, api_name, {
                "zone_id": Ref(zone, "zone_id"), "record_name": api_name, "type": "A",
                "set_identifier": region, "latency_region": region,
                "health_check_id": Ref(key(region, "health_check", f"{p}-{region}"), "id"),
                "ttl": None, "value": None,
                "alias_dns_name": Ref(api_domain, "target_domain"), "alias_zone_id": Ref(api_domain, "hosted_zone_id"),
                "evaluate_target_health": True}, tags),
        ]
    out.append(_res("dns_record", primary, domain, {
        "zone_id": Ref(zone, "zone_id"), "record_name": domain, "type": "A",
        "set_identifier": None, "latency_region": None, "health_check_id": None, "ttl": None, "value": None,
        "alias_dns_name": Ref(distribution_key(plan), "domain"), "alias_zone_id": CLOUDFRONT_ZONE,
        "evaluate_target_health": False}, tags))
    return out
