"""CloudFront in front of the voting page: the origin access control and the distribution.

CloudFront resources are global, so each carries "managed from <region>" in its comment or description
and only that region discovers it; otherwise every other plan region would report it as something to
delete. Updates and deletes go through awsutil.if_match (CloudFront's ETag locking).
"""

from __future__ import annotations

import uuid
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource, diff_props
from election.provision.kinds.lookups import wait_issued
from election.provision.model.names import Names
from election.provision.model.site import SITE_CERT_REGION

OAC_TAG = "election:oac"                   # the OAC id, tagged on the distribution (moto does not echo it)


# --- cloudfront_oac ------------------------------------------------------------------------


class CloudFrontOac:
    """Origin access control: CloudFront signs its requests to the private bucket (SigV4, always)."""

    name = "cloudfront_oac"

    def _find(self, ctx: Context, region: str, name: str) -> dict[str, Any] | None:
        listing = ctx.client("cloudfront", region).list_origin_access_controls
        return next((item for item in u.marker_pages(listing, "OriginAccessControlList") if item.get("Name") == name),
                    None)

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        item = self._find(ctx, res.region, res.name)
        if item is None:
            return None
        props = {"description": item.get("Description", ""), "signing_protocol": item.get("SigningProtocol"),
                 "signing_behavior": item.get("SigningBehavior"), "origin_type": item.get("OriginAccessControlOriginType")}
        return Actual(props, {"id": item["Id"]})

    def _config(self, res: Resource) -> dict[str, Any]:
        return {"Name": res.name, "Description": res.props["description"],
                "SigningProtocol": res.props["signing_protocol"], "SigningBehavior": res.props["signing_behavior"],
                "OriginAccessControlOriginType": res.props["origin_type"]}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        got = ctx.client("cloudfront", res.region).create_origin_access_control(
            OriginAccessControlConfig=self._config(res))
        return {"id": got["OriginAccessControl"]["Id"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        cf = ctx.client("cloudfront", res.region)
        u.if_match(cf.get_origin_access_control, cf.update_origin_access_control, actual.outputs["id"],
                   OriginAccessControlConfig=self._config(res))
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        cf = ctx.client("cloudfront", found.region)
        oac_id = found.outputs.get("id") or (self._find(ctx, found.region, found.name) or {}).get("Id")
        if not oac_id:
            return
        with u.gone_ok("NoSuchOriginAccessControl"):
            u.if_match(cf.get_origin_access_control, cf.delete_origin_access_control, oac_id)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        item = self._find(ctx, region, Names(ctx.plan_name).site)
        if item is None or not str(item.get("Description", "")).startswith(Names(ctx.plan_name).managed_from(region)):
            return []
        return [Found(self.name, region, item["Name"], {"id": item["Id"]})]


# --- cloudfront_distribution ------------------------------------------------------------------


class CloudFrontDistribution:
    """The CDN in front of the bucket: HTTPS only (redirect), index.html at the root, origin via OAC."""

    name = "cloudfront_distribution"
    disable_wait_s = 1800.0   # bound on waiting for a disabled distribution to deploy before deleting it

    def _find(self, ctx: Context, region: str, comment: str) -> dict[str, Any] | None:
        for page in ctx.client("cloudfront", region).get_paginator("list_distributions").paginate():
            for item in page.get("DistributionList", {}).get("Items", []) or []:
                if item.get("Comment") == comment:
                    return item
        return None

    def _outputs(self, dist_id: str, arn: str, domain: str, aliases: list[str]) -> dict[str, Any]:
        return {"id": dist_id, "arn": arn, "domain": domain,
                "origin": f"https://{aliases[0] if aliases else domain}"}

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        item = self._find(ctx, res.region, res.props["comment"])
        if item is None:
            return None
        cf = ctx.client("cloudfront", res.region)
        cfg = cf.get_distribution_config(Id=item["Id"])["DistributionConfig"]
        origin = (cfg.get("Origins", {}).get("Items") or [{}])[0]
        oac_id = origin.get("OriginAccessControlId")
        if oac_id is None:   # moto drops the field; the tag records what was written
            tags = cf.list_tags_for_resource(Resource=item["ARN"])["Tags"].get("Items", [])
            oac_id = {t["Key"]: t.get("Value") for t in tags}.get(OAC_TAG)
        behavior = cfg.get("DefaultCacheBehavior", {})
        cert = cfg.get("ViewerCertificate", {})
        aliases = list(cfg.get("Aliases", {}).get("Items") or [])
        props = {
            "comment": cfg.get("Comment"), "enabled": cfg.get("Enabled"),
            "origin_domain": origin.get("DomainName"), "oac_id": oac_id,
            "default_root_object": cfg.get("DefaultRootObject"),
            "viewer_protocol_policy": behavior.get("ViewerProtocolPolicy"),
            "cache_policy_id": behavior.get("CachePolicyId"),
            "headers_policy_id": behavior.get("ResponseHeadersPolicyId") or "",
            "price_class": cfg.get("PriceClass"), "http_version": cfg.get("HttpVersion"),
            "aliases": aliases,
            "certificate_arn": cert.get("ACMCertificateArn") or "",
        }
        return Actual(props, self._outputs(item["Id"], item["ARN"], item["DomainName"], aliases))

    def _config(self, res: Resource, caller_reference: str) -> dict[str, Any]:
        p = res.props
        aliases = list(p["aliases"])
        cert = ({"ACMCertificateArn": p["certificate_arn"], "SSLSupportMethod": "sni-only",
                 "MinimumProtocolVersion": "TLSv1.2_2021"} if p["certificate_arn"]
                else {"CloudFrontDefaultCertificate": True})
        return {
            "CallerReference": caller_reference, "Comment": p["comment"], "Enabled": bool(p["enabled"]),
            "DefaultRootObject": p["default_root_object"], "PriceClass": p["price_class"],
            "HttpVersion": p["http_version"], "IsIPV6Enabled": True,
            "Aliases": {"Quantity": len(aliases), **({"Items": aliases} if aliases else {})},
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "site-bucket", "DomainName": p["origin_domain"],
                "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": p["oac_id"]}]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "site-bucket", "ViewerProtocolPolicy": p["viewer_protocol_policy"],
                "CachePolicyId": p["cache_policy_id"], "Compress": True,
                **({"ResponseHeadersPolicyId": p["headers_policy_id"]} if p["headers_policy_id"] else {}),
                "AllowedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"],
                                   "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}},
            "ViewerCertificate": cert,
        }

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        if res.props["certificate_arn"]:
            wait_issued(ctx, SITE_CERT_REGION, res.props["certificate_arn"])
        existing = self._find(ctx, res.region, res.props["comment"])
        if existing is not None:   # made by an interrupted run: found by its comment, so never made twice
            actual = self.read(ctx, res)
            assert actual is not None
            changes = diff_props(res.props, actual.props)
            return self.update(ctx, res, actual, changes) if changes else actual.outputs
        tags = {**res.tags, OAC_TAG: res.props["oac_id"]}
        # CallerReference must be new for every distribution ever created (a reused one is refused with
        # DistributionAlreadyExists, e.g. on `up` after `down`); idempotence comes from the lookup above.
        got = ctx.client("cloudfront", res.region).create_distribution_with_tags(DistributionConfigWithTags={
            "DistributionConfig": self._config(res, f"{res.props['comment'][:64]} {uuid.uuid4().hex}"),
            "Tags": {"Items": [{"Key": k, "Value": v} for k, v in tags.items()]}})["Distribution"]
        return self._outputs(got["Id"], got["ARN"], got["DomainName"], list(res.props["aliases"]))

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        if res.props["certificate_arn"]:
            wait_issued(ctx, SITE_CERT_REGION, res.props["certificate_arn"])
        cf = ctx.client("cloudfront", res.region)
        dist_id = actual.outputs["id"]
        got = cf.get_distribution_config(Id=dist_id)
        cf.update_distribution(Id=dist_id, IfMatch=got["ETag"],
                               DistributionConfig=self._config(res, got["DistributionConfig"]["CallerReference"]))
        if any(c.field == "oac_id" for c in changes):
            cf.tag_resource(Resource=actual.outputs["arn"],
                            Tags={"Items": [{"Key": OAC_TAG, "Value": res.props["oac_id"]}]})
        return self._outputs(dist_id, actual.outputs["arn"], actual.outputs["domain"], list(res.props["aliases"]))

    def delete(self, ctx: Context, found: Found) -> None:
        cf = ctx.client("cloudfront", found.region)
        dist_id = found.outputs.get("id")
        if not dist_id:
            item = self._find_any(ctx, found.region)
            if item is None:
                return
            dist_id = item["Id"]
        with u.gone_ok("NoSuchDistribution"):
            got = cf.get_distribution_config(Id=dist_id)
            if got["DistributionConfig"].get("Enabled"):
                cfg = got["DistributionConfig"]
                cfg["Enabled"] = False
                cf.update_distribution(Id=dist_id, IfMatch=got["ETag"], DistributionConfig=cfg)
            etag = self._wait_deployed(ctx, found.region, dist_id)
            cf.delete_distribution(Id=dist_id, IfMatch=etag)

    def _wait_deployed(self, ctx: Context, region: str, dist_id: str) -> str:
        """Wait (bounded, with backoff) until the disabled distribution is deployed; returns its ETag."""
        cf = ctx.client("cloudfront", region)
        etag: list[str] = []

        def deployed() -> bool:
            got = cf.get_distribution(Id=dist_id)
            etag[:] = [str(got["ETag"])]
            return bool(got["Distribution"]["Status"] == "Deployed")

        u.wait_until(ctx, deployed, f"CloudFront distribution {dist_id} to deploy after being disabled "
                     "(then it can be deleted)", first_delay=5.0, max_delay=60.0, bound_s=self.disable_wait_s)
        return etag[0]

    def _find_any(self, ctx: Context, region: str) -> dict[str, Any] | None:
        for page in ctx.client("cloudfront", region).get_paginator("list_distributions").paginate():
            for item in page.get("DistributionList", {}).get("Items", []) or []:
                if str(item.get("Comment", "")).startswith(Names(ctx.plan_name).managed_from(region)):
                    return item
        return None

    def discover(self, ctx: Context, region: str) -> list[Found]:
        item = self._find_any(ctx, region)
        if item is None:
            return []
        return [Found(self.name, region, Names(ctx.plan_name).site,
                      {"id": item["Id"], "arn": item["ARN"], "domain": item["DomainName"]})]
