"""The voting page's upload: files by sha256 (only what changed), config.json, a manifest of what was
uploaded, and a CloudFront invalidation of what changed."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds import s3util as s3u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names
from election.provision.model.site import (
    API_PREFIX,
    CONFIG_KEY,
    PUBLIC_TAGGING,
    site_config,
)

MANIFEST_KEY = ".election-manifest.json"   # what was uploaded: per-file sha256 and the generated config


class SiteFiles:
    """The page's files plus a generated config.json; only changed objects are uploaded.

    The manifest object records what was uploaded (sha256 per file, the generated
    config), so a no-op run reads two things and writes nothing.
    """

    name = "site_files"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        bucket = res.props["bucket"]
        if not u.known(bucket):
            return None
        s3 = ctx.client("s3", res.region)
        try:
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read())
        except ClientError as exc:
            if u.code(exc) in ("NoSuchKey", *s3u.BUCKET_MISSING):
                return None
            raise
        present = set(s3u.keys(ctx, res.region, bucket))
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
        """Upload what changed (files, then config.json), delete what left, write the manifest, invalidate."""
        p = res.props
        bucket = p["bucket"]
        s3 = ctx.client("s3", res.region)
        old_files: Mapping[str, Any] = old.get("files") or {}
        retag = old.get("public_tag") != p.get("public_tag")   # a site uploaded before objects were tagged
        changed = self._upload_files(s3, p, {k: d for k, d in p["files"].items() if retag or old_files.get(k) != d})
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
        if p.get("distribution_id"):
            _invalidate(ctx, res.region, p["distribution_id"], changed + removed)
        return {"bucket": bucket, "uploaded": len(changed), "removed": len(removed)}

    @staticmethod
    def _upload_files(s3: Any, p: Mapping[str, Any], files: Mapping[str, str]) -> list[str]:
        """Put each file (tagged public), refusing one whose content no longer has the planned digest."""
        source = Path(p["source"])
        for key, digest in files.items():
            body = (source / key).read_bytes()
            if hashlib.sha256(body).hexdigest() != digest:
                raise ElectionError(f"{source / key} changed while the site was being uploaded; run the command again.")
            s3.put_object(Bucket=p["bucket"], Key=key, Body=body, ContentType=s3u.content_type(key),
                          CacheControl="no-cache" if key.endswith(".html") else "public, max-age=300",
                          Metadata={"sha256": digest}, Tagging=PUBLIC_TAGGING)
        return list(files)

    def delete(self, ctx: Context, found: Found) -> None:
        bucket = found.outputs.get("bucket") or Names(ctx.plan_name).bucket(ctx.account_id)
        if s3u.bucket_region(ctx, found.region, bucket) is None:
            return
        s3u.empty_bucket(ctx, found.region, bucket)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        bucket = s3u.plan_bucket(ctx, region)
        if bucket is None:
            return []
        try:
            ctx.client("s3", region).head_object(Bucket=bucket, Key=MANIFEST_KEY)
        except ClientError as exc:
            if u.code(exc) in ("404", "NoSuchKey", "NotFound"):
                return []
            raise
        return [Found(self.name, region, Names(ctx.plan_name).site, {"bucket": bucket})]


def _invalidate(ctx: Context, region: str, distribution_id: str, touched: list[str]) -> None:
    """Invalidate the changed paths in CloudFront (all of them past ten; "/" with index.html)."""
    if not touched:
        return
    paths = ["/*"] if len(touched) > 10 else sorted({"/" + k for k in touched} | (
        {"/"} if "index.html" in touched else set()))
    ctx.client("cloudfront", region).create_invalidation(
        DistributionId=distribution_id, InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": uuid.uuid4().hex})   # single-use: a reverted site repeats a manifest
