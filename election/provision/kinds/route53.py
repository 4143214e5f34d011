"""Route 53 for the plan's domain: the hosted zone, the regions' health checks, and the record sets.

Route 53 is global: the zone's comment names the region that manages it, and records are discovered
by the region they belong to (latency records by their set identifier = region; the other records by
the zone's managing region).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import VALIDATION_PREFIX, Names

GLOBAL = "us-east-1"            # Route 53's API lives here


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def _plain(name: str) -> str:
    return name.rstrip(".").lower().replace("\\052", "*")


def _plan_zones(ctx: Context) -> Iterator[dict[str, Any]]:
    """Hosted zones created for this plan (any managing region)."""
    marker = Names(ctx.plan_name).marker + " "
    for page in ctx.client("route53", GLOBAL).get_paginator("list_hosted_zones").paginate():
        for zone in page.get("HostedZones", []):
            if str(zone.get("Config", {}).get("Comment", "")).startswith(marker):
                yield zone


def _zone_id(zone: dict[str, Any]) -> str:
    return str(zone["Id"]).rsplit("/", 1)[-1]


# --- hosted_zone --------------------------------------------------------------------------


class HostedZone:
    """The public zone of the plan's domain (delegate its name servers at the registrar)."""

    name = "hosted_zone"

    def _find(self, ctx: Context, domain: str) -> dict[str, Any] | None:
        return next((z for z in _plan_zones(ctx) if z["Name"] == _fqdn(domain)), None)

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        zone = self._find(ctx, res.name)
        if zone is None:
            return None
        return Actual({"comment": zone.get("Config", {}).get("Comment", "")}, self._outputs(ctx, zone))

    def _outputs(self, ctx: Context, zone: dict[str, Any]) -> dict[str, Any]:
        got = ctx.client("route53", GLOBAL).get_hosted_zone(Id=_zone_id(zone))
        return {"zone_id": _zone_id(zone), "name_servers": list(got.get("DelegationSet", {}).get("NameServers", []))}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        r53 = ctx.client("route53", GLOBAL)
        got = r53.create_hosted_zone(Name=res.name, CallerReference=f"{ctx.plan_name}/{uuid.uuid4().hex}",
                                     HostedZoneConfig={"Comment": res.props["comment"], "PrivateZone": False})
        zone_id = _zone_id(got["HostedZone"])
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id,
                                     AddTags=[{"Key": k, "Value": v} for k, v in res.tags.items()])
        return {"zone_id": zone_id, "name_servers": list(got.get("DelegationSet", {}).get("NameServers", []))}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        ctx.client("route53", GLOBAL).update_hosted_zone_comment(Id=actual.outputs["zone_id"],
                                                                Comment=res.props["comment"])
        return dict(actual.outputs)

    def delete(self, ctx: Context, found: Found) -> None:
        r53 = ctx.client("route53", GLOBAL)
        zone_id = found.outputs.get("zone_id") or _zone_id(self._find(ctx, found.name) or {"Id": ""})
        if not zone_id:
            return
        apex = _fqdn(found.name)
        doomed = [r for r in _records(ctx, zone_id) if not (r["Name"] == apex and r["Type"] in ("NS", "SOA"))]
        if doomed:
            r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
                "Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in doomed]})
        with u.gone_ok("NoSuchHostedZone"):
            r53.delete_hosted_zone(Id=zone_id)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        return [Found(self.name, region, _plain(z["Name"]), {"zone_id": _zone_id(z)}) for z in _plan_zones(ctx)
                if z.get("Config", {}).get("Comment", "").startswith(Names(ctx.plan_name).managed_from(region))]


def _records(ctx: Context, zone_id: str) -> list[dict[str, Any]]:
    pages = ctx.client("route53", GLOBAL).get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [r for page in pages for r in page.get("ResourceRecordSets", [])]


# --- health_check --------------------------------------------------------------------------------


class HealthCheck:
    """HTTPS health check of a region's /health; its caller reference starts with the resource name.

    Caller references are single-use and at most 64 characters: name (<= 47) + "/" + 12 random hex.
    """

    name = "health_check"

    def _find(self, ctx: Context, name: str) -> dict[str, Any] | None:
        return next((h for h in self._all(ctx) if str(h.get("CallerReference", "")).startswith(f"{name}/")), None)

    def _all(self, ctx: Context) -> Iterator[dict[str, Any]]:
        for page in ctx.client("route53", GLOBAL).get_paginator("list_health_checks").paginate():
            yield from page.get("HealthChecks", [])

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        h = self._find(ctx, res.name)
        if h is None:
            return None
        c = h["HealthCheckConfig"]
        props = {"type": c.get("Type"), "fqdn": c.get("FullyQualifiedDomainName"), "path": c.get("ResourcePath"),
                 "port": c.get("Port"), "interval": c.get("RequestInterval"),
                 "failure_threshold": c.get("FailureThreshold"), "sni": c.get("EnableSNI")}
        return Actual(props, {"id": h["Id"], "version": h.get("HealthCheckVersion")})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        p = res.props
        r53 = ctx.client("route53", GLOBAL)
        h = r53.create_health_check(CallerReference=f"{res.name}/{uuid.uuid4().hex[:12]}", HealthCheckConfig={
            "Type": p["type"], "FullyQualifiedDomainName": p["fqdn"], "ResourcePath": p["path"], "Port": p["port"],
            "RequestInterval": p["interval"], "FailureThreshold": p["failure_threshold"], "EnableSNI": p["sni"]})
        hid = h["HealthCheck"]["Id"]
        r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=hid, AddTags=[
            {"Key": "Name", "Value": res.name}, *({"Key": k, "Value": v} for k, v in res.tags.items())])
        return {"id": hid, "version": h["HealthCheck"].get("HealthCheckVersion")}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        if {c.field for c in changes} & {"type", "interval"}:   # immutable in Route 53: replace
            self.delete(ctx, Found(self.name, res.region, res.name, actual.outputs))
            return self.create(ctx, res)
        p = res.props
        h = ctx.client("route53", GLOBAL).update_health_check(
            HealthCheckId=actual.outputs["id"], FullyQualifiedDomainName=p["fqdn"], ResourcePath=p["path"],
            Port=p["port"], FailureThreshold=p["failure_threshold"], EnableSNI=p["sni"])
        return {"id": actual.outputs["id"], "version": h["HealthCheck"].get("HealthCheckVersion")}

    def delete(self, ctx: Context, found: Found) -> None:
        hid = found.outputs.get("id") or (self._find(ctx, found.name) or {}).get("Id")
        if not hid:
            return
        with u.gone_ok("NoSuchHealthCheck"):
            ctx.client("route53", GLOBAL).delete_health_check(HealthCheckId=hid)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        prefix = Names(ctx.plan_name).health_check_reference_prefix(region)
        return [Found(self.name, region, prefix[:-1], {"id": h["Id"]}) for h in self._all(ctx)
                if str(h.get("CallerReference", "")).startswith(prefix)]


# --- dns_record ----------------------------------------------------------------------------------


class DnsRecord:
    """One record set: a CNAME with a value, or an alias (optionally latency-routed with a health check)."""

    name = "dns_record"

    def _find(self, ctx: Context, zone_id: str, name: str, rtype: str, set_id: str | None) -> dict[str, Any] | None:
        got = ctx.client("route53", GLOBAL).list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=_fqdn(name), StartRecordType=rtype, MaxItems="100")
        for r in got.get("ResourceRecordSets", []):
            if _fqdn(r["Name"]) == _fqdn(name) and r["Type"] == rtype and r.get("SetIdentifier") == set_id:
                return r
        return None

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        p = res.props
        if not u.known(p["zone_id"], p["record_name"]):
            return None
        r = None
        with u.gone_ok("NoSuchHostedZone"):
            r = self._find(ctx, p["zone_id"], p["record_name"], p["type"], p.get("set_identifier"))
        if r is None:
            return None
        return Actual(record_props(p["zone_id"], r), {"zone_id": p["zone_id"], "fqdn": _plain(r["Name"])})

    def _upsert(self, ctx: Context, res: Resource) -> dict[str, Any]:
        p = res.props
        ctx.client("route53", GLOBAL).change_resource_record_sets(HostedZoneId=p["zone_id"], ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": record_set(p)}]})
        return {"zone_id": p["zone_id"], "fqdn": _plain(p["record_name"])}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        return self._upsert(ctx, res)

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        return self._upsert(ctx, res)

    def delete(self, ctx: Context, found: Found) -> None:
        o = found.outputs
        record = o.get("record")
        if record is None:
            for zone in _plan_zones(ctx):
                for f in self._discover_zone(ctx, zone, found.region):
                    if f.name == found.name:
                        record, o = f.outputs["record"], f.outputs
        if record is None:
            return
        with u.gone_ok("NoSuchHostedZone", "InvalidChangeBatch"):
            ctx.client("route53", GLOBAL).change_resource_record_sets(HostedZoneId=o["zone_id"], ChangeBatch={
                "Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]})

    def discover(self, ctx: Context, region: str) -> list[Found]:
        return [f for zone in _plan_zones(ctx) for f in self._discover_zone(ctx, zone, region)]

    def _discover_zone(self, ctx: Context, zone: dict[str, Any], region: str) -> list[Found]:
        zone_id = _zone_id(zone)
        manages = zone.get("Config", {}).get("Comment", "").startswith(Names(ctx.plan_name).managed_from(region))
        out = []
        for r in _records(ctx, zone_id):
            if r["Type"] in ("NS", "SOA") and _fqdn(r["Name"]) == zone["Name"]:
                continue
            name = _plain(r["Name"])
            if r["Type"] == "CNAME" and name.startswith("_"):
                name = VALIDATION_PREFIX + name.split(".", 1)[1]
            mine = r.get("SetIdentifier") == region if r.get("SetIdentifier") else manages
            if mine:
                out.append(Found(self.name, region, name, {"zone_id": zone_id, "record": r}))
        return out


def record_set(p: dict[str, Any] | Any) -> dict[str, Any]:
    """The Route 53 ResourceRecordSet for dns_record props."""
    rs: dict[str, Any] = {"Name": _fqdn(p["record_name"]), "Type": p["type"]}
    if p.get("set_identifier"):
        rs["SetIdentifier"] = p["set_identifier"]
    if p.get("latency_region"):
        rs["Region"] = p["latency_region"]
    if p.get("health_check_id"):
        rs["HealthCheckId"] = p["health_check_id"]
    if p.get("alias_dns_name"):
        rs["AliasTarget"] = {"HostedZoneId": p["alias_zone_id"], "DNSName": _fqdn(p["alias_dns_name"]),
                             "EvaluateTargetHealth": bool(p["evaluate_target_health"])}
    else:
        rs["TTL"] = int(p["ttl"])
        rs["ResourceRecords"] = [{"Value": p["value"]}]
    return rs


def record_props(zone_id: str, r: dict[str, Any]) -> dict[str, Any]:
    """dns_record props in the shape the model writes them, from a Route 53 record set."""
    alias = r.get("AliasTarget") or {}
    values = [v["Value"] for v in r.get("ResourceRecords", [])]
    return {"zone_id": zone_id, "record_name": _plain(r["Name"]), "type": r["Type"],
            "set_identifier": r.get("SetIdentifier"), "latency_region": r.get("Region"),
            "health_check_id": r.get("HealthCheckId"),
            "ttl": r.get("TTL"), "value": values[0] if values else None,
            "alias_dns_name": _plain(alias["DNSName"]) if alias else None,
            "alias_zone_id": alias.get("HostedZoneId"),
            "evaluate_target_health": alias.get("EvaluateTargetHealth") if alias else None}
