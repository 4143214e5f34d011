"""A fault-injecting AWS for the deployer's tests: moto, plus the transient errors and eventual consistency
AWS documents and moto never shows.

Installed on a ClientProvider as botocore event handlers (every client it makes gets them): a
`before-call` handler answers chosen calls with an AWS error instead of sending them (so the call has
no effect, as when AWS refuses it), and an `after-call` handler learns what was just created or deleted
and, for describe calls, reports the state AWS would report for a while. Windows are counted in calls,
not seconds, so a test with a sleep that returns at once is deterministic.

What is played, each from AWS's documentation (the retry predicates in election/provision/kinds/awsutil.py
quote it):
- apigatewayv2: the first write of each kind on one HTTP API answers ConflictException (its integrations,
  routes and stage are written by parallel steps).
- DynamoDB: the first UpdateContinuousBackups of a table answers ContinuousBackupsUnavailableException;
  a replica asked for with UpdateTable is CREATING in its region for the next few DescribeTable calls.
- KMS eventual consistency: after CreateKey, the first call of each operation naming the new key answers
  NotFoundException or KMSInvalidStateException in KMS, InvalidParameterException in CloudWatch Logs and
  EncryptionFailure in Secrets Manager. (DynamoDB and SQS are not faulted: SQS checks the key when a message
  is sent, not at CreateQueue, and DynamoDB documents no CreateTable error for it.)
- IAM eventual consistency: the first two CreateFunction calls with a role made moments ago answer
  InvalidParameterValueException "The role defined for the function cannot be assumed by Lambda."
- Lambda: after CreateFunction / UpdateFunctionConfiguration / UpdateFunctionCode the function is
  updating (State Pending / LastUpdateStatus InProgress) for the next two GetFunctionConfiguration calls;
  an update meanwhile answers ResourceConflictException.
- Secrets Manager deletes asynchronously: after a forced DeleteSecret, the next two CreateSecret calls of the
  name answer InvalidRequestException and the next two DescribeSecret calls still show it being deleted.
- SQS: after DeleteQueue, the next two CreateQueue calls of the name answer QueueDeletedRecently.
- CloudFront: a CallerReference used before answers DistributionAlreadyExists.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from election.provision.clients import ClientProvider

PARAMS = "fault_params"
INJECTED = "fault_injected"
API_WRITES = {"CreateIntegration", "CreateRoute", "CreateStage", "UpdateIntegration", "UpdateRoute", "UpdateStage",
              "DeleteIntegration", "DeleteRoute", "DeleteStage"}
LAMBDA_UPDATES = {"CreateFunction", "UpdateFunctionConfiguration", "UpdateFunctionCode"}
KEY_FAULTS = 8   # calls naming a new key that fail before it is usable everywhere
KEY_USES = {"kms": "NotFoundException", "logs": "InvalidParameterException", "secretsmanager": "EncryptionFailure"}
MESSAGES = {
    "ConflictException": "Unable to complete operation due to concurrent modification. Please try again later.",
    "ContinuousBackupsUnavailableException": "Backups are being enabled for the table. Please retry later.",
    "NotFoundException": "Key '{key}' does not exist",
    "KMSInvalidStateException": "{key} is pending creation.",
    "InvalidParameterException": "The specified KMS key does not exist or is not allowed to be used with LogGroup",
    "EncryptionFailure": "Secrets Manager can't encrypt the protected secret text using the provided KMS key.",
    "InvalidParameterValueException": "The role defined for the function cannot be assumed by Lambda.",
    "ResourceConflictException": "The operation cannot be performed at this time. An update is in progress "
                                 "for resource: {key}",
    "InvalidRequestException": "You can't create this secret because a secret with this name is already "
                               "scheduled for deletion.",
    "AWS.SimpleQueueService.QueueDeletedRecently": "You must wait 60 seconds after deleting a queue before you "
                                                   "can create another with the same name.",
    "DistributionAlreadyExists": "The caller reference that you are using to create a distribution is associated "
                                 "with another distribution.",
}
STATUS = {"ConflictException": 409, "ResourceConflictException": 409, "DistributionAlreadyExists": 409,
          "NotFoundException": 404}


class FaultyAws:
    """Install on a provider; `injected` counts (service, operation, error code) answered instead of AWS."""

    def __init__(self, provider: ClientProvider, window: int = 2) -> None:
        self.window = window
        self.injected: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._seen: set[tuple[Any, ...]] = set()          # first-call faults already given
        self._new_keys: dict[str, set[str]] = {}          # key id -> operations that already failed on it
        self._new_roles: dict[str, int] = {}              # role ARN -> CreateFunction refusals left
        self._updating: dict[tuple[str, str], int] = {}   # (region, function) -> polls until settled
        self._deleted_secrets: dict[tuple[str, str], Counter[str]] = {}   # (region, name) -> calls seen
        self._deleted_queues: dict[tuple[str, str], int] = {}
        self._replicas: dict[tuple[str, str], int] = {}   # (region, table) -> describes still CREATING
        self._references: set[str] = set()
        self.forever_creating = False                     # a replica that never becomes ACTIVE (bounded wait)
        self.install(provider)

    def install(self, provider: ClientProvider) -> None:
        """Answer the calls of this provider's clients too (a later run against the same AWS)."""
        provider.register("before-parameter-build", self._keep_params)
        provider.register("before-call", self._before)
        provider.register("after-call", self._after)

    # --- machinery --------------------------------------------------------------------------

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[PARAMS] = dict(params)

    def _fail(self, context: dict[str, Any], service: str, op: str, code: str, key: str = "") -> Any:
        context[INJECTED] = True
        self.injected[(service, op, code)] += 1
        status = STATUS.get(code, 400)
        message = MESSAGES[code].format(key=key)
        return (SimpleNamespace(status_code=status, headers={}),
                {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}})

    def _first(self, *key: Any) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    # --- before the call: refuse it --------------------------------------------------------------

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        service, op = model.service_model.service_name, model.name
        region, params = context.get("client_region", ""), context.get(PARAMS) or {}
        with self._lock:
            if service == "secretsmanager" and op == "DescribeSecret":
                return self._being_deleted(context, region, params.get("SecretId", ""))
            code, key = self._refusal(service, op, region, params)
            if code:
                return self._fail(context, service, op, code, key)
        return None

    def _being_deleted(self, context: dict[str, Any], region: str, name: str) -> Any:
        """A force-deleted secret is still shown, with its DeletedDate, while the deletion runs."""
        seen = self._deleted_secrets.get((region, name))
        if seen is None or seen["DescribeSecret"] >= self.window:
            return None
        seen["DescribeSecret"] += 1
        context[INJECTED] = True
        self.injected[("secretsmanager", "DescribeSecret", "being deleted")] += 1
        return (SimpleNamespace(status_code=200, headers={}),
                {"ARN": f"arn:aws:secretsmanager:{region}:123456789012:secret:{name}", "Name": name,
                 "DeletedDate": datetime.now(UTC), "ResponseMetadata": {"HTTPStatusCode": 200}})

    def _refusal(self, service: str, op: str, region: str, params: dict[str, Any]) -> tuple[str, str]:
        if service == "apigatewayv2" and op in API_WRITES and self._first(region, op, params.get("ApiId")):
            return "ConflictException", ""
        if service == "dynamodb" and op == "UpdateContinuousBackups" and self._first(region, op, params["TableName"]):
            return "ContinuousBackupsUnavailableException", ""
        if service in KEY_USES:
            for key_id in self._new_keys:
                named = any(key_id in text for text in _strings(params))
                fresh = len(self._new_keys[key_id]) < KEY_FAULTS   # then KMS has caught up
                if named and fresh and op not in self._new_keys[key_id] and not op.startswith("List"):
                    self._new_keys[key_id].add(op)
                    code = KEY_USES[service]
                    if service == "kms" and len(self._new_keys[key_id]) % 2 == 0:
                        code = "KMSInvalidStateException"
                    return code, key_id
        if service == "lambda" and op == "CreateFunction" and self._new_roles.get(params.get("Role", ""), 0) > 0:
            self._new_roles[params["Role"]] -= 1
            return "InvalidParameterValueException", ""
        busy = self._updating.get((region, params.get("FunctionName", "")), 0) > 0
        if service == "lambda" and op in LAMBDA_UPDATES - {"CreateFunction"} and busy:
            return "ResourceConflictException", params["FunctionName"]
        if service == "secretsmanager" and op == "CreateSecret":
            seen = self._deleted_secrets.get((region, params.get("Name", "")))
            if seen is not None and seen[op] < self.window:
                seen[op] += 1
                return "InvalidRequestException", ""
        if service == "sqs" and op == "CreateQueue" and self._deleted_queues.get((region, params["QueueName"]), 0) > 0:
            self._deleted_queues[(region, params["QueueName"])] -= 1
            return "AWS.SimpleQueueService.QueueDeletedRecently", ""
        if service == "cloudfront" and op in ("CreateDistribution", "CreateDistributionWithTags"):
            config = params.get("DistributionConfig") or params["DistributionConfigWithTags"]["DistributionConfig"]
            if config["CallerReference"] in self._references:
                return "DistributionAlreadyExists", ""
            self._references.add(config["CallerReference"])
        return "", ""

    # --- after the call: learn what changed, report what AWS would report meanwhile ------------------

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        if context.get(INJECTED) or http_response.status_code >= 300:
            return
        service, op = model.service_model.service_name, model.name
        region, params = context.get("client_region", ""), context.get(PARAMS) or {}
        with self._lock:
            self._learn(service, op, region, params, parsed)

    def _learn(self, service: str, op: str, region: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if service == "kms" and op == "CreateKey":
            self._new_keys[parsed["KeyMetadata"]["KeyId"]] = set()
        elif service == "iam" and op == "CreateRole":
            self._new_roles[parsed["Role"]["Arn"]] = 2
        elif service == "lambda" and op in LAMBDA_UPDATES:
            self._updating[(region, params["FunctionName"])] = self.window
        elif service == "lambda" and op == "GetFunctionConfiguration":
            left = self._updating.get((region, params["FunctionName"]), 0)
            if left > 0:
                self._updating[(region, params["FunctionName"])] = left - 1
                parsed.update({"State": "Pending", "LastUpdateStatus": "InProgress"})
        elif service == "secretsmanager" and op == "DeleteSecret" and params.get("ForceDeleteWithoutRecovery"):
            self._deleted_secrets[(region, params["SecretId"])] = Counter()
        elif service == "secretsmanager" and op == "CreateSecret":
            self._deleted_secrets.pop((region, params["Name"]), None)   # the deletion is over: a new secret
        elif service == "sqs" and op == "DeleteQueue":
            self._deleted_queues[(region, params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1])] = self.window
        elif service == "dynamodb" and op == "UpdateTable":
            for update in params.get("ReplicaUpdates") or []:
                if "Create" in update:
                    self._replicas[(update["Create"]["RegionName"], params["TableName"])] = 3
        elif service == "dynamodb" and op == "DescribeTable":
            left = self._replicas.get((region, params["TableName"]), 0)
            if left > 0 or (self.forever_creating and (region, params["TableName"]) in self._replicas):
                self._replicas[(region, params["TableName"])] = left - 1
                parsed["Table"]["TableStatus"] = "CREATING"


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a request's parameters (a key id may sit in an ARN, a nested spec...)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
