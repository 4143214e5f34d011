"""What one kind needs to know about another kind's resource, without importing that kind.

A custom domain or a distribution waits for its certificate; secrets and their policies refuse to go
while the ballots table holds votes. Kinds import these, never each other.
"""

from __future__ import annotations

from typing import Any

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Context


def wait_issued(ctx: Context, region: str, arn: str, bound_s: float = 1800.0) -> None:
    """Wait until the certificate is issued (DNS validation done), bounded, with backoff."""
    acm = ctx.client("acm", region)

    def issued() -> bool:
        status = acm.describe_certificate(CertificateArn=arn)["Certificate"].get("Status")
        if status not in ("ISSUED", "PENDING_VALIDATION", None):
            raise ElectionError(f"The certificate {arn} is {status}, not issued; check that the domain's name "
                                "servers point at the hosted zone, then run the same command again.")
        return status == "ISSUED"

    u.wait_until(ctx, issued, f"the certificate {arn} to be issued (it is not issued until the domain's name "
                 "servers point at the hosted zone)", first_delay=5.0, max_delay=60.0, bound_s=bound_s)


def has_items(ddb: Any, name: str) -> bool:
    """True when the table exists and holds at least one item (one small Scan)."""
    try:
        return ddb.scan(TableName=name, Limit=1, Select="COUNT").get("Count", 0) > 0
    except Exception as exc:
        if u.is_code(exc, "ResourceNotFoundException"):
            return False
        raise
