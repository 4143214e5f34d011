"""The voting page's response headers: a CloudFront response headers policy carrying its CSP.

A `<meta>` CSP cannot say `frame-ancestors` and the page cannot know its API's
origin when it is built, so the page's own tag allows any `https:` API. The
header narrows it: browsers enforce every policy they receive, so connect-src
is the page itself plus exactly the plan's API origins (the `api` list of
config.json). The local static server sends the same header (election/local/static.py).

CloudFront API: Create/Get/Update/DeleteResponseHeadersPolicy with a
SecurityHeadersConfig (ContentSecurityPolicy, ContentTypeOptions, FrameOptions,
ReferrerPolicy, StrictTransportSecurity, XSSProtection). moto has no response
headers policies, so the local plan keeps AWS's managed SecurityHeadersPolicy
on its (never served) distribution; this kind is tested with botocore's Stubber.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

HSTS_MAX_AGE_S = 63_072_000   # two years, as the API's own answers say


def security_headers(csp: str) -> dict[str, Any]:
    """The SecurityHeadersConfig: CSP plus what AWS's managed SecurityHeadersPolicy sends, stricter."""
    return {
        "ContentSecurityPolicy": {"Override": True, "ContentSecurityPolicy": csp},
        "ContentTypeOptions": {"Override": True},
        "FrameOptions": {"Override": True, "FrameOption": "DENY"},
        "ReferrerPolicy": {"Override": True, "ReferrerPolicy": "no-referrer"},
        "StrictTransportSecurity": {"Override": True, "AccessControlMaxAgeSec": HSTS_MAX_AGE_S,
                                    "IncludeSubdomains": True, "Preload": False},
        "XSSProtection": {"Override": True, "Protection": True, "ModeBlock": True},
    }


class ResponseHeadersPolicy:
    """props: comment (carries the "managed from" marker), csp (a Join of the API endpoints, resolved)."""

    name = "cloudfront_headers_policy"

    def _find(self, ctx: Context, region: str, name: str) -> dict[str, Any] | None:
        listing = ctx.client("cloudfront", region).list_response_headers_policies
        for item in u.marker_pages(listing, "ResponseHeadersPolicyList", Type="custom"):
            policy: dict[str, Any] = item.get("ResponseHeadersPolicy", {})
            if policy.get("ResponseHeadersPolicyConfig", {}).get("Name") == name:
                return policy
        return None

    def _config(self, res: Resource) -> dict[str, Any]:
        return {"Name": res.name, "Comment": res.props["comment"],
                "SecurityHeadersConfig": security_headers(res.props["csp"])}

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        policy = self._find(ctx, res.region, res.name)
        if policy is None:
            return None
        cfg = policy.get("ResponseHeadersPolicyConfig", {})
        sec = cfg.get("SecurityHeadersConfig", {})
        csp = (sec.get("ContentSecurityPolicy") or {}).get("ContentSecurityPolicy")
        # Any other edit of the security headers shows as a CSP difference, so `up` puts them back.
        if sec != security_headers(csp or ""):
            csp = f"(edited) {csp}"
        return Actual({"comment": cfg.get("Comment", ""), "csp": csp}, {"id": policy["Id"]})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        got = ctx.client("cloudfront", res.region).create_response_headers_policy(
            ResponseHeadersPolicyConfig=self._config(res))
        return {"id": got["ResponseHeadersPolicy"]["Id"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        cf = ctx.client("cloudfront", res.region)
        policy_id = actual.outputs["id"]
        u.if_match(cf.get_response_headers_policy, cf.update_response_headers_policy, policy_id,
                   ResponseHeadersPolicyConfig=self._config(res))
        return {"id": policy_id}

    def delete(self, ctx: Context, found: Found) -> None:
        cf = ctx.client("cloudfront", found.region)
        policy_id = found.outputs.get("id") or (self._find(ctx, found.region, found.name) or {}).get("Id")
        if not policy_id:
            return
        with u.gone_ok("NoSuchResponseHeadersPolicy"):
            u.if_match(cf.get_response_headers_policy, cf.delete_response_headers_policy, policy_id)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        try:
            policy = self._find(ctx, region, Names(ctx.plan_name).site)
        except ClientError as exc:
            # moto (the local target, which never creates one) has no such API and answers 404;
            # AWS never answers this list with 404.
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return []
            raise
        if policy is None or not str(policy.get("ResponseHeadersPolicyConfig", {}).get("Comment", "")).startswith(
                Names(ctx.plan_name).managed_from(region)):
            return []
        return [Found(self.name, region, Names(ctx.plan_name).site, {"id": policy["Id"]})]
