"""Failover drills on AWS: invert a region's Route 53 health check, so DNS fails over as in an outage.

On the local stack `election region down|up` talks to the running `election
dev` (see control.py); on AWS the same command inverts (or restores) the
region's health check, found by the caller reference the deployer gives it
("<plan>-<region>/..."). The deployer does not diff `Inverted`, so a later
`election up` leaves a drill in place until `election region up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from election.errors import ElectionError
from election.local.control import send
from election.plan import Plan, load_plan
from election.provision.model.names import Names
from election.statedir import read_endpoints


def find_health_check(route53: Any, plan: Plan, region: str) -> dict[str, Any]:
    prefix = Names(plan.name).health_check_reference_prefix(region)   # as the deployer set it
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


@dataclass(frozen=True)
class DrillOutcome:
    """What `election region down|up` did: on AWS the health check it changed, locally every region's health."""

    region: str
    action: str
    aws_check: dict[str, Any] | None = None
    local_health: dict[str, Any] | None = None

    @property
    def inverted(self) -> bool:
        return bool((self.aws_check or {}).get("HealthCheckConfig", {}).get("Inverted"))


def region_drill(action: str, region: str, state_dir: Path, plan_path: str | None = None,
                 endpoint_url: str | None = None, profile: str | None = None) -> DrillOutcome:
    """Which drill runs: an AWS plan given -> its Route 53 health check; otherwise the running local stack's."""
    if plan_path is not None:
        plan = load_plan(plan_path)
        if plan.target == "aws":
            from election.provision.clients import ClientProvider

            check = aws_drill(plan, ClientProvider(endpoint_url=endpoint_url, profile=profile), region,
                              down=action == "down")
            return DrillOutcome(region, action, aws_check=check)
    endpoints = read_endpoints(state_dir)
    if endpoints is None:
        raise ElectionError(f"No local stack is running (no live {state_dir / 'local.json'}); start one with "
                            "`election dev`, or pass --plan with an AWS plan.")
    health = send(endpoints["control"], action, region, endpoints.get("control_token"))
    return DrillOutcome(region, action, local_health=health)
