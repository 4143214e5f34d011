"""Failover drills on AWS: invert a region's Route 53 health check, so DNS fails over as in an outage.

On the local stack `election region down|up` talks to the running `election
dev` (see control.py); on AWS the same command inverts (or restores) the
region's health check, found by the caller reference the deployer gives it
("<plan>-<region>/..."). The deployer does not diff `Inverted`, so a later
`election up` leaves a drill in place until `election region up`.
"""

from __future__ import annotations

from typing import Any

from election.errors import ElectionError
from election.plan import Plan


def find_health_check(route53: Any, plan: Plan, region: str) -> dict[str, Any]:
    prefix = f"{plan.name}-{region}/"
    for page in route53.get_paginator("list_health_checks").paginate():
        for check in page.get("HealthChecks", []):
            if str(check.get("CallerReference", "")).startswith(prefix):
                return check
    raise ElectionError(f"No Route 53 health check of plan '{plan.name}' exists for {region}; "
                        "is the plan deployed (election up)?")


def aws_drill(plan: Plan, provider: Any, region: str, down: bool) -> dict[str, Any]:
    """Invert (down) or restore (up) the region's health check; returns the updated check."""
    if region not in plan.region_names:
        raise ElectionError(f"'{region}' is not a region of the plan {plan.name} ({', '.join(plan.region_names)}).")
    if not plan.domain:
        raise ElectionError(f"{plan.path}: the plan has no domain, so there are no Route 53 health checks to drill; "
                            "voting pages fail over between the regional URLs by themselves.")
    route53 = provider.client("route53", "us-east-1")
    check = find_health_check(route53, plan, region)
    updated = route53.update_health_check(HealthCheckId=check["Id"], Inverted=down)
    return updated["HealthCheck"]
