"""The voting page: private bucket, origin access control, CloudFront (with the page's CSP), the upload.

Also the page's pure helpers the kinds and the local static server share: the CSP, the files'
digests, the tag that makes an object readable by CloudFront.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from election.plan import Plan
from election.provision.model.common import names, res
from election.provision.model.compute import distribution_key
from election.provision.model.names import VALIDATION_PREFIX, key
from election.provision.resources import Ref, Resource

SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"   # AWS managed SecurityHeadersPolicy (HSTS, nosniff...)
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"   # AWS managed cache policy
SITE_CERT_REGION = "us-east-1"   # CloudFront only takes certificates from us-east-1
# Only objects carrying this tag are readable by CloudFront (bucket policy, s3:ExistingObjectTag): the page's
# files and config.json. The manifest (account and distribution ids) and anything else put in the bucket are not.
PUBLIC_TAG_KEY, PUBLIC_TAG_VALUE = "election:public", "true"
PUBLIC_TAGGING = urllib.parse.urlencode({PUBLIC_TAG_KEY: PUBLIC_TAG_VALUE})
CONFIG_KEY = "config.json"
API_PREFIX = "api_endpoint:"               # site_files props "api_endpoint:<region>" -> regional API URL
PAGE_DIRECTIVES = ("default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
                   "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'")


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (what CSP source lists and CORS compare)."""
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}" if split.scheme and split.netloc else url


def csp_parts(api_origins: Iterable[Any]) -> tuple[Any, ...]:
    """The CSP as parts to join: literals around each API origin (a string, or a Ref the engine resolves)."""
    parts: list[Any] = ["; ".join(PAGE_DIRECTIVES[:4]) + "; connect-src 'self'"]
    for origin in api_origins:
        parts += [" ", origin]
    parts.append("; " + "; ".join(PAGE_DIRECTIVES[4:]))
    return tuple(parts)


def page_csp(api_urls: Iterable[str]) -> str:
    """The page's Content-Security-Policy: the <meta> tag's directives, connect-src narrowed to the APIs."""
    return "".join(csp_parts(dict.fromkeys(origin_of(u) for u in api_urls if u)))


def site_file_digests(site_dir: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file of the page (hidden files and config.json excluded)."""
    if not site_dir.is_dir():
        return {}
    out = {}
    for path in sorted(site_dir.rglob("*")):
        rel = path.relative_to(site_dir).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")) and rel != CONFIG_KEY:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def site_config(props: Mapping[str, Any]) -> dict[str, Any]:
    """The page's config.json: plan, API endpoints in plan order, ballot and home regions."""
    apis = [v for k, v in props.items() if k.startswith(API_PREFIX)]
    return {"plan": props["config"]["plan"], "api": list(props.get("api_urls") or apis),
            "ballot": props["config"]["ballot"], "states": props["config"]["states"]}


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
    """Headers policy (on AWS), bucket, OAC, distribution, the bucket's policy, then the files."""
    n, primary = names(plan), plan.primary_region
    name, marker = n.site, n.managed_from(primary)
    bucket = key(primary, "site_bucket", name)
    extra: list[Resource] = []
    if plan.target == "aws":   # moto has no response headers policies: locally the static server sends the CSP
        extra.append(res("cloudfront_headers_policy", primary, name, {
            "comment": f"{marker}: the page's security headers and CSP",
            "csp": "".join(csp_parts(api_origins(plan)))}, tags))
    dist_deps: tuple[str, ...] = ()
    if plan.domain and plan.target == "aws":
        dist_deps = (key(primary, "dns_record", VALIDATION_PREFIX + plan.domain),)
    return [
        *extra,
        res("site_bucket", primary, name, {
            "block_public_access": {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                                    "RestrictPublicBuckets": True},
            "ownership": "BucketOwnerEnforced", "encryption": "AES256"}, tags),
        res("cloudfront_oac", primary, name, {
            "description": f"{marker}: CloudFront reads the private site bucket",
            "signing_protocol": "sigv4", "signing_behavior": "always", "origin_type": "s3"}, tags),
        res("cloudfront_distribution", primary, name, _distribution_props(plan), tags, dist_deps),
        res("site_bucket_policy", primary, name, {
            "bucket": Ref(bucket, "bucket"), "distribution_arn": Ref(distribution_key(plan), "arn")}, tags),
        res("site_files", primary, name, _files_props(plan, site_dir), tags,
            (key(primary, "site_bucket_policy", name),)),
    ]


def _distribution_props(plan: Plan) -> dict[str, Any]:
    n, primary = names(plan), plan.primary_region
    props: dict[str, Any] = {
        "comment": f"{n.managed_from(primary)}: voting page", "enabled": True,
        "origin_domain": Ref(key(primary, "site_bucket", n.site), "regional_domain"),
        "oac_id": Ref(key(primary, "cloudfront_oac", n.site), "id"),
        "default_root_object": "index.html", "viewer_protocol_policy": "redirect-to-https",
        "cache_policy_id": CACHING_OPTIMIZED, "headers_policy_id": SECURITY_HEADERS,
        "price_class": "PriceClass_100",
        "http_version": "http2and3", "aliases": [], "certificate_arn": "",
    }
    if plan.target == "aws":
        props["headers_policy_id"] = Ref(key(primary, "cloudfront_headers_policy", n.site), "id")
    if plan.domain and plan.target == "aws":
        props["aliases"] = [plan.domain]
        props["certificate_arn"] = Ref(key(SITE_CERT_REGION, "acm_certificate", plan.domain), "arn")
    return props


def _files_props(plan: Plan, site_dir: Path) -> dict[str, Any]:
    n = names(plan)
    props: dict[str, Any] = {
        "bucket": Ref(key(plan.primary_region, "site_bucket", n.site), "bucket"),
        "distribution_id": Ref(distribution_key(plan), "id"), "source": str(site_dir),
        "public_tag": PUBLIC_TAGGING,   # objects CloudFront may read (bucket policy); the manifest has none
        "files": site_file_digests(site_dir),
        "config": {"plan": plan.name,
                   "ballot": {"candidates": list(plan.ballot.candidates),
                              "overrides": {s: list(c) for s, c in sorted(plan.ballot.overrides.items())}},
                   "states": dict(sorted(plan.state_regions().items()))},
    }
    if plan.domain and plan.target == "aws":
        props["api_urls"] = [f"https://api.{plan.domain}"]
    else:
        for region in plan.region_names:
            props[API_PREFIX + region] = Ref(key(region, "http_api", n.api), "endpoint")
    return props
