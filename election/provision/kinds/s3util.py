"""S3 helpers the voting page's kinds share (s3site, sitefiles): where a bucket is, its keys and tags,
emptying it (or one prefix of it: a load fleet's run, ops/fleet.py), a file's content type."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import TAG_PLAN, Context
from election.provision.model.names import Names

BUCKET_MISSING = ("404", "NoSuchBucket", "NotFound")
DELETE_ATTEMPTS = 5
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}



def content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def bucket_region(ctx: Context, region: str, bucket: str) -> str | None:
    try:
        loc = ctx.client("s3", region).get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if u.code(exc) in BUCKET_MISSING:
            return None
        raise
    return loc or "us-east-1"


def keys(ctx: Context, region: str, bucket: str) -> Iterator[str]:
    for page in ctx.client("s3", region).get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def empty_bucket(ctx: Context, region: str, bucket: str) -> None:
    delete_prefix(ctx.client("s3", region), bucket)


def delete_prefix(s3: Any, bucket: str, prefix: str = "", sleep: Callable[[float], None] = time.sleep) -> None:
    """Delete every object whose key starts with `prefix` (all of them by default), listed first, then
    1,000 keys per DeleteObjects call (its limit: https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html).
    Takes a client, so ops (a fleet run's objects) share it.

    DeleteObjects answers 200 even when some keys were not deleted: in quiet mode its answer lists only
    those, under Errors (same page). They are asked again with backoff, then named in one sentence: a
    fleet run's slices hold voter IDs, and a silent leftover would keep them in S3."""
    listed = {"Bucket": bucket, **({"Prefix": prefix} if prefix else {})}
    present = [o["Key"] for o in u.paginate(s3, "list_objects_v2", "Contents", **listed)]
    for i in range(0, len(present), 1000):
        left = present[i:i + 1000]
        for attempt in range(DELETE_ATTEMPTS):
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in left], "Quiet": True})
            errors = answer.get("Errors") or []
            left = [e["Key"] for e in errors]
            if not left:
                break
            if attempt < DELETE_ATTEMPTS - 1:
                sleep(0.5 * 2 ** attempt)
        else:
            raise ElectionError(f"S3 did not delete {len(left)} object(s) under s3://{bucket}/{prefix} (first "
                                f"{left[0]}: {errors[0].get('Code')}); nothing else is wrong: run the command again.")


def plan_bucket(ctx: Context, region: str) -> str | None:
    """The plan's site bucket when it is in `region` and tagged for the plan (what discovery may claim)."""
    bucket = Names(ctx.plan_name).bucket(ctx.account_id)
    if bucket_region(ctx, region, bucket) != region or bucket_tags(ctx, region, bucket).get(TAG_PLAN) != ctx.plan_name:
        return None
    return bucket


def bucket_tags(ctx: Context, region: str, bucket: str) -> dict[str, str]:
    try:
        tags = ctx.client("s3", region).get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        if u.code(exc) != "NoSuchTagSet":
            raise
        return {}
    return {t["Key"]: t["Value"] for t in tags}
