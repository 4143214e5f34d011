"""AWS list prices (US East, N. Virginia, USD) used by `election plan`'s capacity figures and bench/.

One table so the plan's cost estimate and bench/pipeline_cost.py can never disagree. Per million
requests or units unless the name says otherwise. Sources (list prices, checked for this table):
- API Gateway https://aws.amazon.com/api-gateway/pricing/: HTTP API $1.00/M (first 300 M a month),
  REST API $3.50/M (first 333 M).
- Lambda https://aws.amazon.com/lambda/pricing/: $0.20 per 1 M requests; duration per GB-second
  $0.0000133334 on arm64 and $0.0000166667 on x86_64 (first 6 B / 7.5 B GB-s a month).
- SQS https://aws.amazon.com/sqs/pricing/: standard queue $0.40 per 1 M requests (each 64 KB chunk
  of a payload is one request).
- DynamoDB on-demand https://aws.amazon.com/dynamodb/pricing/on-demand/: $0.625 per 1 M write request
  units, $0.125 per 1 M read request units, replicated write request units at the write price,
  storage $0.25 per GB-month, continuous backups (PITR) $0.20 per GB-month, import from S3 $0.15 per GB
  of uncompressed source data; GetRecords calls made by Lambda for a DynamoDB Streams trigger are free.
- DynamoDB provisioned https://aws.amazon.com/dynamodb/pricing/provisioned/: $0.00065 per write capacity
  unit-hour, $0.00013 per read capacity unit-hour, replicated write capacity units (rWCU, a global
  table's replicas) at the WCU price since the November 2024 global tables price cut (rWCU had been
  $0.000975). Billed per hour for what is provisioned, used or not.
- CloudWatch https://aws.amazon.com/cloudwatch/pricing/: logs ingestion $0.50 per GB, log storage
  $0.03 per GB-month, standard alarm $0.10 a month, dashboard $3.00 a month, custom metric $0.30 a month.
- Secrets Manager https://aws.amazon.com/secrets-manager/pricing/: $0.40 per secret a month,
  $0.05 per 10,000 API calls.
- KMS https://aws.amazon.com/kms/pricing/: $1.00 per customer managed key a month, $0.03 per 10,000 requests.
- Route 53 https://aws.amazon.com/route53/pricing/: $0.50 per hosted zone a month; a health check of an
  AWS endpoint $0.50 a month plus $1.00 a month per optional feature (HTTPS is one); latency-record
  queries $0.60 per 1 M.
- S3 https://aws.amazon.com/s3/pricing/: PUT $5.00 per 1 M, storage $0.023 per GB-month.
"""

from __future__ import annotations

from typing import Final

PER_MILLION: Final[dict[str, float]] = {
    "http_api": 1.00,
    "rest_api": 3.50,
    "lambda_request": 0.20,
    "sqs_request": 0.40,
    "dynamodb_wru": 0.625,
    "dynamodb_rru": 0.125,
    "dynamodb_replicated_wru": 0.625,
    "secrets_api": 5.00,          # $0.05 per 10,000 calls
    "kms_request": 3.00,          # $0.03 per 10,000 requests
    "s3_put": 5.00,
    "route53_latency_query": 0.60,
}
DYNAMODB_WCU_HOUR: Final = 0.00065
DYNAMODB_RCU_HOUR: Final = 0.00013
DYNAMODB_RWCU_HOUR: Final = 0.00065
HOURS_PER_MONTH: Final = 730
LAMBDA_GB_S: Final[dict[str, float]] = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
LOGS_INGEST_GB: Final = 0.50
LOGS_STORE_GB_MONTH: Final = 0.03
DYNAMODB_STORAGE_GB_MONTH: Final = 0.25
DYNAMODB_PITR_GB_MONTH: Final = 0.20
DYNAMODB_IMPORT_GB: Final = 0.15
S3_STORAGE_GB_MONTH: Final = 0.023
MONTHLY: Final[dict[str, float]] = {
    "kms_key": 1.00,
    "secret": 0.40,
    "alarm": 0.10,
    "dashboard": 3.00,
    "custom_metric": 0.30,
    "hosted_zone": 0.50,
    "health_check": 0.50,
    "health_check_feature": 1.00,
}
GB: Final = 1024 ** 3
# Lambda gives a function CPU in proportion to its memory: one full vCPU at 1,769 MB
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html). Below that, CPU-bound
# work takes 1769/memory times longer, so its GB-seconds do not depend on the memory size; only
# the time spent waiting on AWS calls gets cheaper with less memory.
FULL_VCPU_MB: Final = 1769


def per_request(item: str) -> float:
    """USD for one request or unit of a per-million item."""
    return PER_MILLION[item] / 1e6


def lambda_duration_usd(gb_seconds: float, architecture: str = "arm64") -> float:
    """USD for this many GB-seconds of Lambda duration."""
    return gb_seconds * LAMBDA_GB_S[architecture]


def provisioned_usd_per_hour(wcu_per_region: float, regions: int, rcu_total: float) -> float:
    """USD an hour for a provisioned global table: the same write units in every region (WCU at home, rWCU in
    the others, one price) and the read units of all regions together."""
    return (wcu_per_region * (DYNAMODB_WCU_HOUR + (regions - 1) * DYNAMODB_RWCU_HOUR)
            + rcu_total * DYNAMODB_RCU_HOUR)


def lambda_gb_seconds(cpu_ms: float, wait_ms: float, memory_mb: int) -> float:
    """Billed GB-s of one invocation: CPU time stretched by the memory's CPU share, plus waiting, 1 ms granularity."""
    import math

    duration_ms = cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb) + wait_ms
    return math.ceil(duration_ms) / 1000 * memory_mb / 1024
