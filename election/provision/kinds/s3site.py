"""The voting page's bucket: private, owner-enforced, encrypted; and its policy: only the plan's distribution
reads, and only the page's tagged files."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from election.provision.kinds import awsutil as u
from election.provision.kinds import s3util as s3u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names
from election.provision.model.site import (
    PUBLIC_TAG_KEY,
    PUBLIC_TAG_VALUE,
)

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
        if s3u.bucket_region(ctx, res.region, bucket) is None:
            return None
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if u.code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = {}
        try:
            rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
            ownership = rules[0]["ObjectOwnership"] if rules else None
        except ClientError as exc:
            if u.code(exc) != "OwnershipControlsNotFoundError":
                raise
            ownership = None
        try:
            enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            sse = enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if enc else None
        except ClientError as exc:
            if u.code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            sse = None
        props = {"block_public_access": {k: bool(block.get(k)) for k in
                                         ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                          "RestrictPublicBuckets")},
                 "ownership": ownership, "encryption": sse, "tags": s3u.bucket_tags(ctx, res.region, bucket)}
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
            if u.code(exc) != "BucketAlreadyOwnedByYou":   # an interrupted run created it: carry on
                raise
        self._apply(ctx, res, bucket, {"block_public_access", "ownership", "encryption", "tags"})
        return self._outputs(ctx, res.region, bucket)

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        bucket = Names(ctx.plan_name).bucket(ctx.account_id)
        self._apply(ctx, res, bucket, {c.field for c in changes})
        return self._outputs(ctx, res.region, bucket)

    def delete(self, ctx: Context, found: Found) -> None:
        bucket = found.outputs.get("bucket") or Names(ctx.plan_name).bucket(ctx.account_id)
        if s3u.bucket_region(ctx, found.region, bucket) is None:
            return
        s3u.empty_bucket(ctx, found.region, bucket)
        ctx.client("s3", found.region).delete_bucket(Bucket=bucket)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        bucket = s3u.plan_bucket(ctx, region)
        return [] if bucket is None else [Found(self.name, region, Names(ctx.plan_name).site, {"bucket": bucket})]


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
        if not u.known(bucket):
            return None
        try:
            doc = json.loads(ctx.client("s3", res.region).get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError as exc:
            if u.code(exc) in ("NoSuchBucketPolicy", *s3u.BUCKET_MISSING):
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
            if u.code(exc) not in s3u.BUCKET_MISSING:
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        found = SiteBucket().discover(ctx, region)
        out = []
        for b in found:
            try:
                ctx.client("s3", region).get_bucket_policy(Bucket=b.outputs["bucket"])
            except ClientError as exc:
                if u.code(exc) == "NoSuchBucketPolicy":
                    continue
                raise
            out.append(Found(self.name, region, b.name, {"bucket": b.outputs["bucket"]}))
        return out
