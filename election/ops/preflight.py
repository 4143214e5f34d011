"""`election preflight`: the account's quotas next to what the plan's capacity needs, one sentence each.

Reads Service Quotas (GetServiceQuota: the applied value; else GetAWSDefaultServiceQuota) for
- Lambda concurrent executions, L-B99A9384 (default 1,000 per region);
- API Gateway's account throttle, L-8A5B8E43 (10,000 requests/s per region, 2,500 in some regions,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
moto 5.2.5 answers Service Quotas only for VPC; where a quota cannot be read, the documented
default is assumed and the sentence says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from election.ops import capacity
from election.plan import Plan
from election.plan_limits import API_ACCOUNT_RPS, API_SMALL_REGIONS, API_SMALL_RPS

LAMBDA_CONCURRENCY = ("lambda", "L-B99A9384", "Lambda concurrent executions")
API_THROTTLE = ("apigateway", "L-8A5B8E43", "API Gateway throttle rate")


@dataclass(frozen=True)
class QuotaCheck:
    region: str
    quota: str                 # human name
    code: str
    have: float
    need: float
    assumed: bool              # the account's value could not be read; AWS's default assumed

    @property
    def ok(self) -> bool:
        return self.have >= self.need

    def sentence(self) -> str:
        src = " (AWS's default: the account's value could not be read)" if self.assumed else ""
        if self.ok:
            return (f"{self.region}: {self.quota} is {self.have:,.0f}{src}, enough for the {self.need:,.0f} "
                    "the peak needs; nothing to request.")
        return (f"{self.region}: request {self.quota} ({self.code}) from {self.have:,.0f}{src} to at least "
                f"{self.need:,.0f} in Service Quotas before election day.")


def read_quota(client: Any, service: str, code: str) -> float | None:
    """The applied quota, else AWS's default for the account, else None."""
    for call in (client.get_service_quota, client.get_aws_default_service_quota):
        try:
            return float(call(ServiceCode=service, QuotaCode=code)["Quota"]["Value"])
        except Exception as exc:
            code_ = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code_ not in ("NoSuchResourceException", "NoSuchResource", "AccessDeniedException", "404", ""):
                raise
    return None


def checks(plan: Plan, client_for: Callable[[str], Any]) -> list[QuotaCheck]:
    """One check per region and quota; client_for(region) gives a service-quotas client."""
    out = []
    for n in capacity.needs(plan):
        client = client_for(n.region)
        lam = read_quota(client, LAMBDA_CONCURRENCY[0], LAMBDA_CONCURRENCY[1])
        api = read_quota(client, API_THROTTLE[0], API_THROTTLE[1])
        api_default = API_SMALL_RPS if n.region in API_SMALL_REGIONS else API_ACCOUNT_RPS
        out.append(QuotaCheck(n.region, LAMBDA_CONCURRENCY[2], LAMBDA_CONCURRENCY[1],
                              lam if lam is not None else capacity.LAMBDA_DEFAULT_CONCURRENCY,
                              n.total_concurrency, lam is None))
        out.append(QuotaCheck(n.region, API_THROTTLE[2], API_THROTTLE[1],
                              api if api is not None else api_default, n.throttle_rate, api is None))
    return out
