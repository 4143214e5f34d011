"""A plan with a domain (on AWS): hosted zone, certificates and their validation records, API custom
domains, latency records with health checks, and the page's alias."""

from __future__ import annotations

from collections.abc import Mapping

from election.plan import Plan
from election.provision.model.common import names, res
from election.provision.model.compute import distribution_key
from election.provision.model.names import VALIDATION_PREFIX, key
from election.provision.model.site import SITE_CERT_REGION
from election.provision.resources import Ref, Resource

CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"   # the hosted zone of every CloudFront alias target


def domain_resources(plan: Plan, tags: Mapping[str, str]) -> list[Resource]:
    """Zone, certificates and their validation, API custom domains, latency records with health checks."""
    assert plan.domain
    n, primary, domain = names(plan), plan.primary_region, plan.domain
    api_name = f"api.{domain}"
    zone = key(primary, "hosted_zone", domain)
    out = [res("hosted_zone", primary, domain, {"comment": n.managed_from(primary)}, tags)]
    certs = {(SITE_CERT_REGION, domain)} | {(r, api_name) for r in plan.region_names}
    for region, name in sorted(certs):
        out.append(res("acm_certificate", region, name, {"domain": name, "validation": "DNS"}, tags))
    # ACM gives one validation CNAME per domain and account, the same in every region: one record each.
    for region, name in ((SITE_CERT_REGION, domain), (primary, api_name)):
        cert = key(region, "acm_certificate", name)
        out.append(res("dns_record", primary, VALIDATION_PREFIX + name, {
            "zone_id": Ref(zone, "zone_id"), "record_name": Ref(cert, "validation_name"), "type": "CNAME",
            "set_identifier": None, "latency_region": None, "health_check_id": None, "ttl": 300,
            "value": Ref(cert, "validation_value"),
            "alias_dns_name": None, "alias_zone_id": None, "evaluate_target_health": None}, tags))
    for region in plan.region_names:
        api_domain = key(region, "api_domain", api_name)
        out += [
            res("api_domain", region, api_name, {
                "certificate_arn": Ref(key(region, "acm_certificate", api_name), "arn"),
                "endpoint_type": "REGIONAL", "security_policy": "TLS_1_2"}, tags,
                 (key(primary, "dns_record", VALIDATION_PREFIX + api_name),)),
            res("api_mapping", region, api_name, {
                "domain_name": api_name,
                "api_id": Ref(key(region, "http_api", n.api), "api_id"), "stage": "$default"},
                 tags, (api_domain, key(region, "api_stage", n.stage("$default")))),
            res("health_check", region, n.health_check(region), {
                "type": "HTTPS", "fqdn": Ref(key(region, "http_api", n.api), "host"), "path": "/health", "port": 443,
                "interval": 30, "failure_threshold": 3, "sni": True}, tags),
            res("dns_record", region, api_name, {
                "zone_id": Ref(zone, "zone_id"), "record_name": api_name, "type": "A",
                "set_identifier": region, "latency_region": region,
                "health_check_id": Ref(key(region, "health_check", n.health_check(region)), "id"),
                "ttl": None, "value": None,
                "alias_dns_name": Ref(api_domain, "target_domain"), "alias_zone_id": Ref(api_domain, "hosted_zone_id"),
                "evaluate_target_health": True}, tags),
        ]
    out.append(res("dns_record", primary, domain, {
        "zone_id": Ref(zone, "zone_id"), "record_name": domain, "type": "A",
        "set_identifier": None, "latency_region": None, "health_check_id": None, "ttl": None, "value": None,
        "alias_dns_name": Ref(distribution_key(plan), "domain"), "alias_zone_id": CLOUDFRONT_ZONE,
        "evaluate_target_health": False}, tags))
    return out
