"""The voting page: private S3 bucket, CloudFront with origin access control, and the upload itself.

CloudFront resources are global, so each carries "managed from <region>" in its
comment or description and only that region discovers it; otherwise every
other plan region would report it as something to delete.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.provision.kinds.apigw import known
from election.provision.kinds.base import TAG_PLAN, Actual, Change, Context, Found, Resource, diff_props
from election.provision.kinds.dns import wait_issued
from election.provision.model.names import Names
from election.provision.model.site import (
    API_PREFIX,
    CONFIG_KEY,
    PUBLIC_TAG_KEY,
    PUBLIC_TAG_VALUE,
    PUBLIC_TAGGING,
    site_config,
)

MANIFEST_KEY = ".election-manifest.json"   # what was uploaded: per-file sha256 and the generated config
OAC_TAG = "election:oac"                   # the OAC id, tagged on the distribution (moto does not echo it)
BUCKET_MISSING = ("404", "NoSuchBucket", "NotFound")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def _bucket_region(ctx: Context, region: str, bucket: str) -> str | None:
    try:
        loc = ctx.client("s3", region).get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if _code(exc) in BUCKET_MISSING:
            return None
        raise
    return loc or "us-east-1"


def _keys(ctx: Context, region: str, bucket: str) -> Iterator[str]:
    for page in ctx.client("s3", region).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def _empty_bucket(ctx: Context, region: str, bucket: str) -> None:
    keys = list(_keys(ctx, region, bucket))
    for i in range(0, len(keys), 1000):
        ctx.client("s3", region).delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


def _bucket_tags(ctx: Context, region: str, bucket: str) -> dict[str, str]:
    try:
        tags = ctx.client("s3", region).get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        if _code(exc) != "NoSuchTagSet":
            raise
        return {}
    return {t["Key"]: t["Value"] for t in tags}


# --- site_bucket ----------------------------------------------------------------------


class SiteBucket:
    """Private bucket: all public access blocked, owner-enforced objects, default encryption."""

    name = "site_bucket"

    def _outputs(self, ctx: Context, res_region: str, bucket: str) -> dict[str, Any]:
        return {"bucket": bucket, "arn": f"arn:{ctx.partition}:s3:::{bucket}",
                "regional_domain": f"{bucket}.s3.{res_region}.amazonaws.com"}

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        bucket = Names(ctx.plan_name).bucket(ctx.account_id)
        s3 = ctx.client("s3", res.region)
        if _bucket_region(ctx, res.region, bucket) is None:
            return None
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if _code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        try:
            rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
            ownership = rules[0]["ObjectOwnership"] if rules else None
        except ClientError as exc:
            if _code(exc) != "OwnershipControlsNotFoundError":
                raise
            ownership = None
        try:
            enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            sse = enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if enc else None
        except ClientError as exc:
            if _code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            sse = None
        props = {"block_public_access": {k: bool(block.get(k)) for k in
                                         ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                          "RestrictPublicBuckets")},
                 "ownership": ownership, "encryption": sse, "tags": _bucket_tags(ctx, res.region, bucket)}
        return Actual(props, self._outputs(ctx, res.region, bucket))

    def _apply(self, ctx: Context, res: Resource, bucket: str, fields: set[str]) -> None:
        s3 = ctx.client("s3", res.region)
        if "block_public_access" in fields:
            s3.put_public_access_block(Bucket=bucket,
                                       PublicAccessBlockConfiguration=dict(res.props["block_public_access"]))
        if "ownership" in fields:
            s3.put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": res.props["ownership"]}]})
        if "encryption" in fields:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": res.props["encryption"]},
                 "BucketKeyEnabled": True}]})
        if "tags" in fields:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                                      for k, v in res.tags.items()]})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        bucket = Names(ctx.plan_name).bucket(ctx.account_id)
        s3 = ctx.client("s3", res.region)
        extra = {} if res.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": res.region}}
        try:
            s3.create_bucket(Bucket=bucket, ObjectOwnership=res.props["ownership"], **extra)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":   # an interrupted run created it: carry on
                raise
        self._apply(ctx, res, bucket, {"block_public_access", "ownership", "encryption", "tags"})
        return self._outputs(ctx, res.region, bucket)

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        bucket = Names(ctx.plan_name).bucket(ctx.account_id)
        self._apply(ctx, res, bucket, {c.field for c in changes})
        return self._outputs(ctx, res.region, bucket)

    def delete(self, ctx: Context, found: Found) -> None:
        bucket = found.outputs.get("bucket") or Names(ctx.plan_name).bucket(ctx.account_id)
        if _bucket_region(ctx, found.region, bucket) is None:
            return
        _empty_bucket(ctx, found.region, bucket)
        ctx.client("s3", found.region).delete_bucket(Bucket=bucket)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        name = Names(ctx.plan_name).site
        bucket = Names(ctx.plan_name).bucket(ctx.account_id)
        if _bucket_region(ctx, region, bucket) != region:
            return []
        if _bucket_tags(ctx, region, bucket).get(TAG_PLAN) != ctx.plan_name:
            return []
        return [Found(self.name, region, name, {"bucket": bucket})]


# --- site_bucket_policy ------------------------------------------------------------------


def bucket_policy(partition: str, bucket: str, distribution_arn: str) -> dict[str, Any]:
    """Read access for exactly one CloudFront distribution (via OAC), to objects tagged public only.

    The tag condition keeps the deployer's manifest (and anything not uploaded as part of the page)
    out of CloudFront's reach: S3 answers it 403, so the distribution never serves it.

    No deny-insecure-transport statement: moto enforces a Deny without its
    condition, which would lock the deployer out of the bucket on the local stack.
    """
    arn = f"arn:{partition}:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "CloudFrontReadsThroughOAC", "Effect": "Allow",
         "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
         "Resource": f"{arn}/*", "Condition": {"StringEquals": {
             "AWS:SourceArn": distribution_arn, f"s3:ExistingObjectTag/{PUBLIC_TAG_KEY}": PUBLIC_TAG_VALUE}}},
    ]}


class SiteBucketPolicy:
    """The bucket policy, separate from the bucket because the distribution needs the bucket first."""

    name = "site_bucket_policy"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        bucket = res.props["bucket"]
        if not known(bucket):
            return None
        try:
            doc = json.loads(ctx.client("s3", res.region).get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError as exc:
            if _code(exc) in ("NoSuchBucketPolicy", *BUCKET_MISSING):
                return None
            raise
        allow: dict[str, Any] = next((s for s in doc.get("Statement", []) if s.get("Sid") == "CloudFrontReadsThroughOAC"), {})
        source = ((allow.get("Condition") or {}).get("StringEquals") or {}).get("AWS:SourceArn")
        # Anything beyond the exact policy we write (an added statement, a wider principal) is a difference.
        exact = source is not None and doc == bucket_policy(ctx.partition, bucket, source)
        return Actual({"bucket": bucket, "distribution_arn": source if exact else f"(edited) {source}"},
                      {"bucket": bucket})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        bucket = res.props["bucket"]
        ctx.client("s3", res.region).put_bucket_policy(
            Bucket=bucket, Policy=json.dumps(bucket_policy(ctx.partition, bucket, res.props["distribution_arn"])))
        return {"bucket": bucket}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        return self.create(ctx, res)

    def delete(self, ctx: Context, found: Found) -> None:
        bucket = found.outputs.get("bucket") or Names(ctx.plan_name).bucket(ctx.account_id)
        try:
            ctx.client("s3", found.region).delete_bucket_policy(Bucket=bucket)
        except ClientError as exc:
            if _code(exc) not in BUCKET_MISSING:
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        found = SiteBucket().discover(ctx, region)
        out = []
        for b in found:
            try:
                ctx.client("s3", region).get_bucket_policy(Bucket=b.outputs["bucket"])
            except ClientError as exc:
                if _code(exc) == "NoSuchBucketPolicy":
                    continue
                raise
            out.append(Found(self.name, region, b.name, {"bucket": b.outputs["bucket"]}))
        return out


# --- cloudfront_oac ------------------------------------------------------------------------


class CloudFrontOac:
    """Origin access control: CloudFront signs its requests to the private bucket (SigV4, always)."""

    name = "cloudfront_oac"

    def _find(self, ctx: Context, region: str, name: str) -> dict[str, Any] | None:
        cf = ctx.client("cloudfront", region)
        marker = None
        while True:
            page = cf.list_origin_access_controls(**({"Marker": marker} if marker else {}))["OriginAccessControlList"]
            for item in page.get("Items", []) or []:
                if item.get("Name") == name:
                    return item
            marker = page.get("NextMarker")
            if not page.get("IsTruncated") or not marker:
                return None

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
        etag = cf.get_origin_access_control(Id=actual.outputs["id"])["ETag"]
        cf.update_origin_access_control(Id=actual.outputs["id"], IfMatch=etag,
                                        OriginAccessControlConfig=self._config(res))
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        cf = ctx.client("cloudfront", found.region)
        oac_id = found.outputs.get("id") or (self._find(ctx, found.region, found.name) or {}).get("Id")
        if not oac_id:
            return
        try:
            etag = cf.get_origin_access_control(Id=oac_id)["ETag"]
            cf.delete_origin_access_control(Id=oac_id, IfMatch=etag)
        except ClientError as exc:
            if _code(exc) != "NoSuchOriginAccessControl":
                raise

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
            wait_issued(ctx, "us-east-1", res.props["certificate_arn"])
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
            wait_issued(ctx, "us-east-1", res.props["certificate_arn"])
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
        try:
            got = cf.get_distribution_config(Id=dist_id)
            if got["DistributionConfig"].get("Enabled"):
                cfg = got["DistributionConfig"]
                cfg["Enabled"] = False
                cf.update_distribution(Id=dist_id, IfMatch=got["ETag"], DistributionConfig=cfg)
            etag = self._wait_deployed(ctx, found.region, dist_id)
            cf.delete_distribution(Id=dist_id, IfMatch=etag)
        except ClientError as exc:
            if _code(exc) != "NoSuchDistribution":
                raise

    def _wait_deployed(self, ctx: Context, region: str, dist_id: str) -> str:
        """Wait (bounded, with backoff) until the disabled distribution is deployed; returns its ETag."""
        cf = ctx.client("cloudfront", region)
        waited, delay = 0.0, 5.0
        while True:
            got = cf.get_distribution(Id=dist_id)
            if got["Distribution"]["Status"] == "Deployed":
                return str(got["ETag"])
            if waited >= self.disable_wait_s:
                raise ElectionError(f"CloudFront distribution {dist_id} is still deploying after being disabled; "
                                    "run the same command again in a few minutes to delete it.")
            ctx.sleep(delay)
            waited += delay
            delay = min(delay * 2, 60.0)

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


# --- site_files ----------------------------------------------------------------------------------


class SiteFiles:
    """The page's files plus a generated config.json; only changed objects are uploaded.

    The manifest object records what was uploaded (sha256 per file, the generated
    config), so a no-op run reads two things and writes nothing.
    """

    name = "site_files"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        bucket = res.props["bucket"]
        if not known(bucket):
            return None
        s3 = ctx.client("s3", res.region)
        try:
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read())
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", *BUCKET_MISSING):
                return None
            raise
        present = set(_keys(ctx, res.region, bucket))
        props = dict(manifest.get("props", {}))
        props["files"] = {k: (v if k in present else None) for k, v in props.get("files", {}).items()}
        if CONFIG_KEY not in present:
            props["config"] = None
        stray = sorted(present - set(props["files"]) - {CONFIG_KEY, MANIFEST_KEY})
        for key in stray:   # something we did not upload: show it so the next run removes it
            props["files"][key] = "(not in the site)"
        props["source"] = res.props["source"]   # where the files come from is local, not in AWS
        return Actual(props, {"bucket": bucket, "uploaded": len(present)})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        return self._sync(ctx, res, {"files": {}, "config": None})

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        return self._sync(ctx, res, actual.props)

    def _sync(self, ctx: Context, res: Resource, old: Mapping[str, Any]) -> dict[str, Any]:
        p = res.props
        bucket, source = p["bucket"], Path(p["source"])
        s3 = ctx.client("s3", res.region)
        old_files: Mapping[str, Any] = old.get("files") or {}
        changed: list[str] = []
        retag = old.get("public_tag") != p.get("public_tag")   # a site uploaded before objects were tagged
        for key, digest in p["files"].items():
            if old_files.get(key) == digest and not retag:
                continue
            body = (source / key).read_bytes()
            if hashlib.sha256(body).hexdigest() != digest:
                raise ElectionError(f"{source / key} changed while the site was being uploaded; run the command again.")
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type(key),
                          CacheControl="no-cache" if key.endswith(".html") else "public, max-age=300",
                          Metadata={"sha256": digest}, Tagging=PUBLIC_TAGGING)
            changed.append(key)
        config_props = {k: v for k, v in p.items() if k == "config" or k.startswith(API_PREFIX) or k == "api_urls"}
        if retag or any(old.get(k) != v for k, v in config_props.items()):
            body = json.dumps(site_config(p), indent=2, sort_keys=True).encode()
            s3.put_object(Bucket=bucket, Key=CONFIG_KEY, Body=body, ContentType="application/json",
                          CacheControl="no-cache", Metadata={"sha256": hashlib.sha256(body).hexdigest()},
                          Tagging=PUBLIC_TAGGING)
            changed.append(CONFIG_KEY)
        removed = [k for k in old_files if k not in p["files"]]
        if removed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in removed], "Quiet": True})
        manifest = {"props": {k: v for k, v in p.items() if k != "source"}}
        s3.put_object(Bucket=bucket, Key=MANIFEST_KEY, Body=json.dumps(manifest, sort_keys=True).encode(),
                      ContentType="application/json", CacheControl="no-store")   # untagged: never served
        touched = changed + removed
        if touched and p.get("distribution_id"):
            paths = ["/*"] if len(touched) > 10 else sorted({"/" + k for k in touched} | (
                {"/"} if "index.html" in touched else set()))
            ctx.client("cloudfront", res.region).create_invalidation(
                DistributionId=p["distribution_id"], InvalidationBatch={
                    "Paths": {"Quantity": len(paths), "Items": paths},
                    "CallerReference": uuid.uuid4().hex})   # single-use: a reverted site repeats a manifest
        return {"bucket": bucket, "uploaded": len(changed), "removed": len(removed)}

    def delete(self, ctx: Context, found: Found) -> None:
        bucket = found.outputs.get("bucket") or Names(ctx.plan_name).bucket(ctx.account_id)
        if _bucket_region(ctx, found.region, bucket) is None:
            return
        _empty_bucket(ctx, found.region, bucket)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        for b in SiteBucket().discover(ctx, region):
            try:
                ctx.client("s3", region).head_object(Bucket=b.outputs["bucket"], Key=MANIFEST_KEY)
            except ClientError as exc:
                if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise
            return [Found(self.name, region, b.name, {"bucket": b.outputs["bucket"]})]
        return []
