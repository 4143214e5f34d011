"""The load fleet's plan: a load-generator function, its role, log group, key and run bucket, deployed apart.

`loadtest --fleet N` invokes this function N times at once (ops/fleet.py). It is a plan of its own,
named `<election>-fleet` and tagged with that name, so the election's `up`/`down` never see its
resources and `election down --fleet` deletes only them. It lives in the election's primary region
and may send only to the election's own APIs: their URLs are read from the running election when
the fleet is deployed and set on the function (LOADGEN_ALLOWED_URLS), which refuses any other URL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from election.lambdas.loadgen import worker
from election.plan import Plan
from election.provision import package
from election.provision.kinds import REGISTRY
from election.provision.kinds.base import Kind
from election.provision.model.names import Names
from election.provision.resources import TAG_PLAN, Join, Ref, Resource

FUNCTION_ROLE = "loadgen"
HANDLER = "election.lambdas.loadgen.worker.handler"
LOADGEN_DIR = package.LAMBDAS_DIR / "loadgen"
RUNTIME = "python3.12"
MEMORY_MB = 1769            # one full vCPU (Lambda allocates CPU in proportion to memory)
TIMEOUT_S = 900             # Lambda's longest: a fleet run's schedule must end within it
LOG_RETENTION_DAYS = 30
LOGGING = {"format": "JSON", "application_level": "INFO", "system_level": "WARN"}
TAG_REGION = "election:region"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
CTX_ACCOUNT = Ref("@ctx", "account_id")
CTX_PARTITION = Ref("@ctx", "partition")


def fleet_plan(plan: Plan) -> Plan:
    """The election's plan renamed `<name>-fleet` (its own tags and names), in the primary region only."""
    return dataclasses.replace(plan, name=f"{plan.name}-fleet", regions=plan.regions[:1])


# Registration order is dependency order; deletion walks it backwards (the function first, the key last).
# The run bucket is a site bucket of the fleet plan: private, SSE-S3, owner-enforced, found by the plan's name.
FLEET_REGISTRY: dict[str, Kind] = {"kms_key": REGISTRY["kms_key"], "site_bucket": REGISTRY["site_bucket"],
                                   "log_group": REGISTRY["log_group"], "iam_role": REGISTRY["iam_role"],
                                   "lambda_function": REGISTRY["lambda_function"]}


def build_zip() -> tuple[bytes, str]:
    """The worker's package (the loadgen modules and the two package stubs), deterministic like package.build."""
    files = {"election/__init__.py": package.PACKAGE_STUB, "election/lambdas/__init__.py": b""}
    for path in sorted(LOADGEN_DIR.glob("*.py")):
        files[f"election/lambdas/loadgen/{path.name}"] = path.read_bytes()
    return package.zip_files(files)


def resources(plan: Plan, allowed_urls: Sequence[str]) -> list[Resource]:
    """The fleet plan's resources in its primary region. `plan` is the fleet plan (fleet_plan())."""
    region = plan.primary_region
    n = Names(plan.name)        # the run bucket is the fleet plan's site bucket (`<plan>-site-<account>`)
    tags = {**dict(plan.tags), TAG_PLAN: plan.name}
    kms = f"{region}/kms_key/{n.alias}"
    bucket = f"{region}/site_bucket/{n.site}"
    lg = f"{region}/log_group/{n.log_group(FUNCTION_ROLE)}"
    iam = f"{region}/iam_role/{n.role(FUNCTION_ROLE, region)}"
    data, sha = build_zip()
    env = {worker.ENV_BUCKET: Ref(bucket, "bucket"), worker.ENV_ALLOWED: ",".join(sorted(allowed_urls))}
    return [
        Resource("kms_key", region, n.alias, {"description": f"load fleet {plan.name}: its function and logs",
                                              "rotation": True, "policy": _key_policy(plan.name, region)},
                 tags=tags),
        Resource("site_bucket", region, n.site,
                 {"block_public_access": dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                                        "RestrictPublicBuckets"), True),
                  "ownership": "BucketOwnerEnforced", "encryption": "AES256"}, tags=tags),
        Resource("log_group", region, n.log_group(FUNCTION_ROLE),
                 {"retention_days": LOG_RETENTION_DAYS, "kms_key": Ref(kms, "arn")}, depends_on=(kms,), tags=tags),
        Resource("iam_role", region, n.role(FUNCTION_ROLE, region),
                 {"assume_role_policy": LAMBDA_TRUST, "policy": _policy(Ref(lg, "arn"), Ref(bucket, "arn"),
                                                                        Ref(kms, "arn"))},
                 tags={**tags, TAG_REGION: region}),
        Resource("lambda_function", region, n.function(FUNCTION_ROLE),
                 {"runtime": RUNTIME, "handler": HANDLER, "role": Ref(iam, "arn"), "memory_mb": MEMORY_MB,
                  "timeout_s": TIMEOUT_S, "architecture": "arm64", "environment": env, "kms_key": Ref(kms, "arn"),
                  "code_sha256": sha, "logging": LOGGING, "_zip": data},
                 depends_on=(lg,), tags=tags),
    ]


def _policy(log_group: Ref, bucket: Ref, key: Ref) -> dict[str, Any]:
    """Read the slices, write the outcomes, look for the stop key; logs; the key of its environment."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [log_group, Join((log_group, ":*"))]},
        {"Sid": "ReadSlices", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [Join((bucket, "/runs/*/slices/*")), Join((bucket, "/runs/*/stop"))]},
        {"Sid": "WriteOutcomes", "Effect": "Allow", "Action": ["s3:PutObject"],
         "Resource": [Join((bucket, "/runs/*/outcomes/*"))]},
        {"Sid": "Key", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key]},
    ]}


def _key_policy(plan_name: str, region: str) -> dict[str, Any]:
    """The account administers and uses the key through IAM; CloudWatch Logs may use it for the fleet's logs."""
    root = Join(("arn:", CTX_PARTITION, ":iam::", CTX_ACCOUNT, ":root"))
    logs_arn = Join(("arn:", CTX_PARTITION, f":logs:{region}:", CTX_ACCOUNT, f":log-group:/aws/lambda/{plan_name}-*"))
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountThroughIam", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "LogsEncryptTheFleetsLogs", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "*", "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arn}}},
    ]}



def deployer(election_plan: Plan, provider: Any, allowed_urls: Sequence[str],
             sleep: Any = None) -> Any:
    """The engine, on the fleet plan's resources and kinds only."""
    from election.provision.engine import Deployer

    fplan = fleet_plan(election_plan)
    return Deployer(fplan, provider, sleep=sleep, registry=FLEET_REGISTRY,
                    resources=resources(fplan, allowed_urls))
