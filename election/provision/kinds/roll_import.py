"""A voters table made by DynamoDB ImportTable from the roll `seed-voters --import` wrote to S3.

Used by the table kind for a resource whose props carry `_import` (the plan's `roll.import`):
- while the table does not exist and the roll's manifest is not in S3 yet, the table *waits*: `read`
  answers "as planned" with a `waiting` note instead of None, so `up` creates the peppers (which the
  roll is hashed with) and everything else, and says what to run; nothing depends on the table's
  existence, only on its deterministic ARN;
- once the manifest is there, `create` calls ImportTable and waits for the import, then the table kind
  turns on what ImportTable cannot set (stream, deletion protection, point-in-time recovery, tags, warm
  throughput) through its usual diff and update, and a global table gets its replicas as any other:
  AWS allows adding a replica after the import completes (S3DataImport.HowItWorks).
AWS's rules (developer guide, S3DataImport.*): import creates a new table only (never into an existing
one); TableCreationParameters has no stream, tags or deletion protection; at most 50 concurrent imports
and 50,000 objects each; billed per GB of uncompressed source ($0.15 in us-east-1), no write units.
moto 5.2.5 differs: it ignores SSESpecification (the update after the import sets the key), its table is
ACTIVE while the import still runs (AWS shows CREATING), a name already taken fails the job (UNKNOWN)
instead of the call, and ProcessedSizeBytes counts attributes, not bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from election.errors import ElectionError
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Context, Resource

IMPORT_WAIT_S = 8 * 3600.0     # AWS gives no rate; times depend on size and object count (S3DataImport.HowItWorks)
WAITING = "waits for the roll: run `election seed-voters --import`, then `election up` again"
NOT_FOUND = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")


def manifest(ctx: Context, res: Resource) -> dict[str, Any] | None:
    """The roll's manifest (written last by seed-voters --import), or None while it is not there."""
    imp = res.props["_import"]
    try:
        body = ctx.client("s3", res.region).get_object(Bucket=imp["bucket"], Key=imp["manifest"])["Body"].read()
    except Exception as exc:
        if u.is_code(exc, *NOT_FOUND):
            return None
        raise
    try:
        got = json.loads(body)
        int(got["voters"])
        return dict(got)
    except (ValueError, KeyError, TypeError):
        raise ElectionError(f"s3://{imp['bucket']}/{imp['manifest']} is not a roll manifest written by "
                            "`election seed-voters --import`; delete it and seed again.") from None


def waiting(ctx: Context, res: Resource) -> Actual | None:
    """For an absent table: None when its roll is ready to import, else the table as planned, waiting."""
    imp = res.props["_import"]
    found = manifest(ctx, res)
    note = WAITING if found is None else ""
    if found is not None:
        # A roll hashed under another deployment's pepper would make every voter unknown (404). A replica
        # asks what its primary asks: while the primary waits there is no table to add the replica to.
        region = res.region if imp.get("imports") else str(res.props.get("_replica_of") or res.region)
        try:
            arn = ctx.client("secretsmanager", region).describe_secret(SecretId=imp["pepper_secret"])["ARN"]
        except Exception as exc:
            if not u.is_code(exc, "ResourceNotFoundException"):
                raise
            arn = None     # deployed anew (this `up` makes the pepper): any roll already there is stale
        if arn is None or (found.get("pepper_secrets") or {}).get(region) != arn:
            note = (f"waits for a new roll: the one at s3://{imp['bucket']}/{imp['manifest']} was hashed under an "
                    "earlier voter pepper; empty that location and run `election seed-voters --import` again")
    if not note:
        return None
    arn = f"arn:{ctx.partition}:dynamodb:{res.region}:{ctx.account_id}:table/{res.name}"
    return Actual(props={**res.props, "tags": dict(res.tags)},
                  outputs={"arn": arn, "stream_arn": None, "name": res.name, "waiting": note})


def import_table(ctx: Context, res: Resource) -> None:
    """ImportTable from the roll's parts; waits for the import and checks every voter arrived."""
    p, imp = res.props, res.props["_import"]
    found = manifest(ctx, res)
    if found is None:
        raise ElectionError(f"The roll's manifest s3://{imp['bucket']}/{imp['manifest']} is gone; run "
                            "`election seed-voters --import` again.")
    ddb = ctx.client("dynamodb", res.region)
    # The same request again within 8 hours (an `up` retried after a lost answer) is the same import.
    token = hashlib.sha256(json.dumps([res.key, found], sort_keys=True).encode()).hexdigest()[:36]
    answer = ddb.import_table(
        ClientToken=token,
        S3BucketSource={"S3Bucket": imp["bucket"], "S3KeyPrefix": imp["parts"]},
        InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": res.name,
            "AttributeDefinitions": [{"AttributeName": p["key"], "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": p["key"], "KeyType": "HASH"}],
            "BillingMode": p["billing_mode"],
            "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": p["sse_key"]}})
    import_arn = answer["ImportTableDescription"]["ImportArn"]
    seen: dict[str, Any] = {}

    def finished() -> bool:
        seen.update(ddb.describe_import(ImportArn=import_arn)["ImportTableDescription"])
        return seen.get("ImportStatus") not in ("IN_PROGRESS", "CANCELLING")

    u.wait_until(ctx, finished, f"the import of the roll into {res.name} in {res.region}", bound_s=IMPORT_WAIT_S,
                 max_delay=60.0)
    wanted, got = int(found["voters"]), int(seen.get("ImportedItemCount") or 0)
    if seen.get("ImportStatus") != "COMPLETED" or seen.get("ErrorCount") or got != wanted:
        why = seen.get("FailureMessage") or seen.get("FailureCode") or f"{seen.get('ErrorCount') or 0} bad items"
        raise ElectionError(f"The import of the roll into {res.name} in {res.region} ended {seen.get('ImportStatus')} "
                            f"with {got:,} of {wanted:,} voters ({why}); see the log group /aws-dynamodb/imports, "
                            "delete the table and run `election up` again.")
