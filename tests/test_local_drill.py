"""`election region down|up --plan <aws plan>`: the Route 53 health check of that region is inverted and restored."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from moto import mock_aws

from election.errors import ElectionError
from election.local.drill import aws_drill
from election.plan import load_plan
from election.provision.clients import ClientProvider

ROOT = Path(__file__).resolve().parents[1]


def plan_with_domain(tmp: Path) -> Path:
    data = yaml.safe_load((ROOT / "config/aws.yaml").read_text())
    data["domain"] = "vote.example.org"
    path = tmp / "aws.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_drill_inverts_only_that_regions_health_check_and_restores_it(tmp_path: Path) -> None:
    plan = load_plan(plan_with_domain(tmp_path))
    with mock_aws():
        provider = ClientProvider()
        r53 = provider.client("route53", "us-east-1")
        ids = {}
        for region in plan.region_names:
            ids[region] = r53.create_health_check(CallerReference=f"{plan.name}-{region}/0123456789ab", HealthCheckConfig={
                "Type": "HTTPS", "FullyQualifiedDomainName": f"api-{region}.vote.example.org", "ResourcePath": "/health",
                "Port": 443, "RequestInterval": 10, "FailureThreshold": 3})["HealthCheck"]["Id"]

        def inverted(region: str) -> bool:
            return bool(r53.get_health_check(HealthCheckId=ids[region])["HealthCheck"]["HealthCheckConfig"].get("Inverted"))

        aws_drill(plan, provider, "us-west-2", down=True)
        assert inverted("us-west-2") and not inverted("us-east-1")
        aws_drill(plan, provider, "us-west-2", down=False)
        assert not inverted("us-west-2")
        with pytest.raises(ElectionError, match="not a region of the plan"):
            aws_drill(plan, provider, "eu-west-1", down=True)


def test_drill_without_a_domain_says_why_in_one_sentence() -> None:
    with pytest.raises(ElectionError, match="has no domain"):
        aws_drill(load_plan(ROOT / "config/aws.yaml"), ClientProvider(), "us-east-1", down=True)
