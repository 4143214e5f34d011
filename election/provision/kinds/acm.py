"""ACM certificates of the plan's domain: DNS-validated; the validation record is a dns_record fed by
the certificate's outputs. Every wait is bounded and sleeps through ctx.sleep."""

from __future__ import annotations

import uuid
from typing import Any

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import TAG_PLAN, Actual, Change, Context, Found, Resource


def _plain(name: str) -> str:
    return name.rstrip(".").lower().replace("\\052", "*")


class AcmCertificate:
    """A DNS-validated certificate; the validation record is a dns_record using its outputs."""

    name = "acm_certificate"
    record_wait_s = 120.0   # ACM takes a few seconds to publish the validation record

    def _find(self, ctx: Context, region: str, domain: str) -> dict[str, Any] | None:
        acm = ctx.client("acm", region)
        for page in acm.get_paginator("list_certificates").paginate():
            for cert in page.get("CertificateSummaryList", []):
                if cert.get("DomainName") == domain and self._is_ours(ctx, region, cert["CertificateArn"]):
                    return cert
        return None

    def _is_ours(self, ctx: Context, region: str, arn: str) -> bool:
        tags = ctx.client("acm", region).list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
        return {t["Key"]: t.get("Value") for t in tags}.get(TAG_PLAN) == ctx.plan_name

    def _describe(self, ctx: Context, region: str, arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
        cert = ctx.client("acm", region).describe_certificate(CertificateArn=arn)["Certificate"]
        record = next((o.get("ResourceRecord") for o in cert.get("DomainValidationOptions", [])
                       if o.get("ResourceRecord")), None) or {}
        outputs = {"arn": arn, "status": cert.get("Status"),
                   "validation_name": _plain(record.get("Name", "")), "validation_value": record.get("Value", "")}
        return cert, outputs

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        found = self._find(ctx, res.region, res.props["domain"])
        if found is None:
            return None
        cert, outputs = self._describe(ctx, res.region, found["CertificateArn"])
        return Actual({"domain": cert.get("DomainName"), "validation": cert.get(
            "DomainValidationOptions", [{}])[0].get("ValidationMethod", "DNS")}, outputs)

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        # New per request: botocore's own retries of this call reuse it (one certificate), while an `up` after a
        # `down` within the hour must not get the deleted certificate back, as a token fixed per plan would
        # (ACM keeps tokens for an hour). A re-run finds a certificate made earlier by its tags (read).
        token = uuid.uuid4().hex
        arn = ctx.client("acm", res.region).request_certificate(
            DomainName=res.props["domain"], ValidationMethod=res.props["validation"], IdempotencyToken=token,
            Tags=[{"Key": k, "Value": v} for k, v in res.tags.items()])["CertificateArn"]
        published: dict[str, Any] = {}

        def record_published() -> bool:
            published.update(self._describe(ctx, res.region, arn)[1])
            return bool(published["validation_name"])

        u.wait_until(ctx, record_published, f"ACM to publish the validation record of {res.props['domain']} "
                     f"in {res.region}", first_delay=2.0, max_delay=20.0, bound_s=self.record_wait_s)
        return published

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        raise ElectionError(f"The certificate {res.name} in {res.region} cannot be changed in place; "
                            "run `election down` for the domain or delete the certificate, then `up` again.")

    def delete(self, ctx: Context, found: Found) -> None:
        arn = found.outputs.get("arn") or (self._find(ctx, found.region, found.name) or {}).get("CertificateArn")
        if not arn:
            return
        with u.gone_ok("ResourceNotFoundException"):   # a custom domain just deleted may hold it for a little while
            u.retry(lambda: ctx.client("acm", found.region).delete_certificate(CertificateArn=arn), ctx,
                    ("ResourceInUseException",), attempts=8, first_delay=5.0)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        acm = ctx.client("acm", region)
        return [Found(self.name, region, c["DomainName"], {"arn": c["CertificateArn"]})
                for page in acm.get_paginator("list_certificates").paginate()
                for c in page.get("CertificateSummaryList", []) if self._is_ours(ctx, region, c["CertificateArn"])]
