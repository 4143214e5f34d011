"""The regional custom domain api.<domain> of each region's HTTP API, and its mapping to the `$default` stage."""

from __future__ import annotations

from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import TAG_PLAN, Actual, Change, Context, Found, Resource
from election.provision.kinds.lookups import wait_issued

# API Gateway regional endpoints' hosted zones (used only when the API does not report it, as on moto).
APIGW_ZONES = {"us-east-1": "Z1UJRXOUMOOFQ8", "us-east-2": "ZOJJZC49E0EPZ", "us-west-1": "Z2MUQ32089INYE",
               "us-west-2": "Z2OJLYMUO9EFXC", "eu-west-1": "ZLY8HYME6SFDD", "eu-central-1": "Z1U9ULNL0V5AJ3"}


class ApiDomain:
    """The regional custom domain api.<domain> of the HTTP API (same name in every region)."""

    name = "api_domain"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        got: dict[str, Any] | None = None
        with u.gone_ok("NotFoundException"):
            got = ctx.client("apigatewayv2", res.region).get_domain_name(DomainName=res.name)
        if got is None:
            return None
        cfg = (got.get("DomainNameConfigurations") or [{}])[0]
        props = {"certificate_arn": cfg.get("CertificateArn"), "endpoint_type": cfg.get("EndpointType"),
                 "security_policy": cfg.get("SecurityPolicy")}
        return Actual(props, self._outputs(res.region, res.name, cfg))

    @staticmethod
    def _outputs(region: str, name: str, cfg: dict[str, Any]) -> dict[str, Any]:
        return {"domain_name": name,
                "target_domain": cfg.get("ApiGatewayDomainName") or f"{name}.execute-api.{region}.amazonaws.com",
                "hosted_zone_id": cfg.get("HostedZoneId") or APIGW_ZONES.get(region, APIGW_ZONES["us-east-1"])}

    def _config(self, res: Resource) -> list[dict[str, Any]]:
        return [{"CertificateArn": res.props["certificate_arn"], "EndpointType": res.props["endpoint_type"],
                 "SecurityPolicy": res.props["security_policy"]}]

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        wait_issued(ctx, res.region, res.props["certificate_arn"])
        got = ctx.client("apigatewayv2", res.region).create_domain_name(
            DomainName=res.name, DomainNameConfigurations=self._config(res), Tags=dict(res.tags))
        return self._outputs(res.region, res.name, (got.get("DomainNameConfigurations") or [{}])[0])

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        wait_issued(ctx, res.region, res.props["certificate_arn"])
        got = ctx.client("apigatewayv2", res.region).update_domain_name(
            DomainName=res.name, DomainNameConfigurations=self._config(res))
        return self._outputs(res.region, res.name, (got.get("DomainNameConfigurations") or [{}])[0])

    def delete(self, ctx: Context, found: Found) -> None:
        with u.gone_ok("NotFoundException"):
            ctx.client("apigatewayv2", found.region).delete_domain_name(DomainName=found.name)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        apis = ctx.client("apigatewayv2", region)
        items = apis.get_domain_names().get("Items", [])
        return [Found(self.name, region, d["DomainName"], {"domain_name": d["DomainName"]})
                for d in items if (d.get("Tags") or {}).get(TAG_PLAN) == ctx.plan_name]


class ApiMapping:
    """Maps the custom domain's root to the plan's API `$default` stage."""

    name = "api_mapping"

    def _find(self, ctx: Context, region: str, domain: str) -> dict[str, Any] | None:
        items: list[dict[str, Any]] | None = None
        with u.gone_ok("NotFoundException"):
            items = ctx.client("apigatewayv2", region).get_api_mappings(DomainName=domain).get("Items", [])
        if items is None:
            return None
        return next((m for m in items if not m.get("ApiMappingKey")), None)

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        m = self._find(ctx, res.region, res.props["domain_name"])
        if m is None:
            return None
        return Actual({"domain_name": res.props["domain_name"], "api_id": m.get("ApiId"), "stage": m.get("Stage")},
                      {"mapping_id": m["ApiMappingId"]})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        m = ctx.client("apigatewayv2", res.region).create_api_mapping(
            DomainName=res.props["domain_name"], ApiId=res.props["api_id"], Stage=res.props["stage"])
        return {"mapping_id": m["ApiMappingId"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        client = ctx.client("apigatewayv2", res.region)
        client.delete_api_mapping(DomainName=res.props["domain_name"], ApiMappingId=actual.outputs["mapping_id"])
        return self.create(ctx, res)

    def delete(self, ctx: Context, found: Found) -> None:
        m = self._find(ctx, found.region, found.name)
        if m is not None:
            ctx.client("apigatewayv2", found.region).delete_api_mapping(DomainName=found.name,
                                                                        ApiMappingId=m["ApiMappingId"])

    def discover(self, ctx: Context, region: str) -> list[Found]:
        return [Found(self.name, region, d.name, {}) for d in ApiDomain().discover(ctx, region)
                if self._find(ctx, region, d.name) is not None]
