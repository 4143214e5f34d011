"""The desired resources of a plan, by concern: pure data, no boto3.

Every resource has a deterministic name from the plan name (and region) (`Names`), so the
deployer needs no state file: it reads what exists back from AWS. Values known only after
another resource exists are `Ref`s (or `Join`s of literals and Refs); `CTX_ACCOUNT` /
`CTX_PARTITION` are resolved by the engine from the caller's identity.

    data        KMS key, secrets, tables, queues
    compute     log groups, roles, functions, their environment and event source mappings
    policies    the key policy and each function role's IAM statements
    api         the HTTP API            site        the voting page (bucket, CloudFront, files)
    monitoring  alerts topic, alarms, dashboard       domain   zone, certificates, records
"""

from __future__ import annotations

from pathlib import Path

from election.plan import Plan
from election.provision import package, resource_policies
from election.provision.model.api import CORS_HEADERS, CORS_MAX_AGE_S, CORS_METHODS, api_resources
from election.provision.model.common import (
    CTX_ACCOUNT,
    CTX_PARTITION,
    TAG_REGION,
    arn,
    json_join,
    names,
    plan_tags,
)
from election.provision.model.compute import (
    LOCAL_ORIGINS,
    LOGGING,
    RUNTIME,
    compute_resources,
    distribution_key,
    function_environment,
    function_key,
    mapping_resources,
    mix_defer_rounds,
    sqs_batching_windows,
)
from election.provision.model.data import (
    DLQ_RETENTION_S,
    HANDOFF_MAX_RECEIVES,
    QUEUE_RETENTION_S,
    TABLES,
    data_resources,
    votes_visibility,
)
from election.provision.model.domain import CLOUDFRONT_ZONE, domain_resources
from election.provision.model.monitoring import (
    OLDEST_VOTE_AGE_S,
    TALLY_LAG_MS,
    alarm_resources,
    alerts_topic,
    dashboard,
    dashboard_body,
    dashboard_title,
    topic_key,
)
from election.provision.model.names import FAILURE_QUEUE, QUEUES, VALIDATION_PREFIX, Names, key
from election.provision.model.policies import (
    ESM_SQS_ACTIONS,
    ESM_STREAM_ACTIONS,
    KEY_ADMIN_ACTIONS,
    KEY_SERVICES,
    KEY_USE_ACTIONS,
    LAMBDA_TRUST,
    ROLE_STATEMENTS,
    UnknownRoleError,
    function_policy,
    key_policy,
)
from election.provision.model.site import SECURITY_HEADERS, SITE_CERT_REGION, api_origins, site_resources
from election.provision.resources import Resource

__all__ = [
    "CLOUDFRONT_ZONE", "CORS_HEADERS", "CORS_MAX_AGE_S", "CORS_METHODS", "CTX_ACCOUNT", "CTX_PARTITION",
    "DLQ_RETENTION_S", "ESM_SQS_ACTIONS", "ESM_STREAM_ACTIONS", "FAILURE_QUEUE",
    "HANDOFF_MAX_RECEIVES", "KEY_ADMIN_ACTIONS", "KEY_SERVICES", "KEY_USE_ACTIONS", "LAMBDA_TRUST",
    "LOCAL_ORIGINS", "LOGGING", "OLDEST_VOTE_AGE_S", "QUEUES", "QUEUE_RETENTION_S", "ROLE_STATEMENTS", "RUNTIME",
    "SECURITY_HEADERS", "SITE_CERT_REGION", "TABLES", "TAG_REGION", "TALLY_LAG_MS", "VALIDATION_PREFIX",
    "Names", "UnknownRoleError", "alarm_resources", "alerts_topic", "api_origins", "api_resources", "arn",
    "dashboard", "dashboard_body", "dashboard_title", "desired", "distribution_key", "domain_resources",
    "edge_resources", "function_environment", "function_key", "function_policy", "json_join", "key",
    "key_policy", "mapping_resources", "mix_defer_rounds", "names", "plan_tags", "site_resources",
    "sqs_batching_windows", "topic_key", "votes_visibility",
]


def desired(plan: Plan, site_dir: Path = Path("website"), lambdas_dir: Path | None = None,
            edge: bool = True) -> list[Resource]:
    """All resources of the plan: the data plane and functions per region, then the edge.

    `edge=False` leaves out the HTTP API, alarms, site and DNS (core tests, or a data-plane-only stack).
    """
    out: list[Resource] = []
    for region in plan.region_names:
        out += data_resources(plan, region)
        out += compute_resources(plan, region, lambdas_dir or package.LAMBDAS_DIR, edge)
        out += resource_policies.resources(plan, region)
    return out + (edge_resources(plan, site_dir) if edge else [])


def edge_resources(plan: Plan, site_dir: Path) -> list[Resource]:
    """Every edge resource of the plan: per region, then global (primary region), then the domain."""
    tags = plan_tags(plan)
    out: list[Resource] = []
    for region in plan.region_names:
        out += api_resources(plan, region, tags)
        out += alarm_resources(plan, region, tags)
    out += site_resources(plan, site_dir, tags)
    out.append(dashboard(plan, tags))
    if plan.domain and plan.target == "aws":
        out += domain_resources(plan, tags)
    return out
