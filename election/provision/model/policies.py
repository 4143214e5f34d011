"""Who may do what: the KMS key policy and each function's least-privilege IAM policy.

Each function's statements come from one table, ROLE_STATEMENTS, keyed by its role;
a role missing from the table is an error, never a function with logs-only rights.

Each action is here because the handler calls it (tests/test_iam_policies.py derives the calls from
the handlers' source and checks both ways), or because AWS documents that something the function
does on its behalf needs it:
- logs:CreateLogStream / PutLogEvents: the Lambda runtime writes the function's logs (AWSLambdaBasicExecutionRole);
- an SQS event source mapping reads its queue as the function's role: sqs:ReceiveMessage, DeleteMessage,
  GetQueueAttributes (AWSLambdaSQSQueueExecutionRole);
- a DynamoDB stream mapping: dynamodb:DescribeStream, GetRecords, GetShardIterator on the stream, and
  ListStreams, which supports no resource-level permission, so its own statement on "*"
  (AWSLambdaDynamoDBExecutionRole; DynamoDB Developer Guide, "IAM policy to allow an AWS Lambda function
  to access DynamoDB stream records");
- KMS through the services (SQS Developer Guide, "Key management"): sending to a KMS-encrypted queue
  needs kms:GenerateDataKey and kms:Decrypt, receiving kms:Decrypt; reading a secret kms:Decrypt;
  DynamoDB items under a customer managed key: kms:Decrypt to read, plus kms:GenerateDataKey to write.
IAM actions are not always the API's name: BatchGetItem is its own action; a transaction is authorised
per item (UpdateItem...); SendMessageBatch / DeleteMessageBatch as SendMessage / DeleteMessage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from election.plan import Plan
from election.provision.model.common import CTX_ACCOUNT, CTX_PARTITION, arn, names
from election.provision.model.names import FAILURE_QUEUE, QUEUES, TABLE_NAMES, key
from election.provision.resources import Join, Ref

Statement = dict[str, Any]

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
ESM_SQS_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
ESM_STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]


class UnknownRoleError(KeyError):
    """A function role without an entry in ROLE_STATEMENTS: refusing beats deploying it without rights."""


@dataclass(frozen=True)
class Targets:
    """The ARNs (as Refs and Joins) a region's function policies name."""

    table: dict[str, Ref | Join]
    queue: dict[str, Ref]
    ballots_stream: Ref
    key_here: Ref
    all_keys: list[Ref]
    all_votes: list[Ref]
    voter_pepper: Join
    ballot_pepper: Join
    queue_key: Join


def _targets(plan: Plan, region: str) -> Targets:
    n = names(plan)

    def secret(name: str) -> Join:
        return arn("secretsmanager", region, f"secret:{name}-??????")

    return Targets(
        # The roll's ARN is spelt out: a voters table imported from S3 may wait for its roll
        # (kinds/roll_import.py) while the functions that will read it are deployed.
        table={w: arn("dynamodb", region, f"table/{n.table(w)}") if w == "voters" else
               Ref(key(region, "table", n.table(w)), "arn") for w in TABLE_NAMES},
        queue={w: Ref(key(region, "queue", n.queue(w)), "arn") for w in QUEUES},
        ballots_stream=Ref(key(region, "table", n.table("ballots")), "stream_arn"),
        key_here=Ref(key(region, "kms_key", n.alias), "arn"),
        all_keys=[Ref(key(r, "kms_key", n.alias), "arn") for r in plan.region_names],
        all_votes=[Ref(key(r, "queue", n.queue("votes")), "arn") for r in plan.region_names],
        voter_pepper=secret(n.secret("voter")), ballot_pepper=secret(n.secret("ballot")),
        queue_key=secret(n.queue_key))


def _allow(sid: str, actions: list[str], resource: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}


def _enqueue(t: Targets) -> list[Statement]:
    return [
        _allow("ReadRollAndBallots", ["dynamodb:BatchGetItem"], [t.table["voters"], t.table["ballots"]]),
        _allow("ReadPolls", ["dynamodb:GetItem"], [t.table["results"]]),
        _allow("SendVotes", ["sqs:SendMessage"], t.all_votes + [t.queue["handoff"]]),
        _allow("Peppers", ["secretsmanager:GetSecretValue"], [t.voter_pepper, t.ballot_pepper, t.queue_key]),
        _allow("Keys", ["kms:Decrypt", "kms:GenerateDataKey"], t.all_keys),
    ]


def _process(t: Targets) -> list[Statement]:
    return [
        _allow("WriteBallots", ["dynamodb:PutItem", "dynamodb:GetItem"], [t.table["ballots"]]),
        _allow("ReadPolls", ["dynamodb:GetItem"], [t.table["results"]]),
        _allow("QueueKey", ["secretsmanager:GetSecretValue"], [t.queue_key]),
        _allow("ConsumeVotes", ESM_SQS_ACTIONS, [t.queue["votes"]]),
        # A vote of a state short of k is deferred: made visible again after one mixing window.
        _allow("DeferVotes", ["sqs:ChangeMessageVisibility"], [t.queue["votes"]]),
        _allow("Key", ["kms:Decrypt", "kms:GenerateDataKey"], [t.key_here]),
    ]


def _forward(t: Targets) -> list[Statement]:
    return [
        _allow("ConsumeHandoff", ESM_SQS_ACTIONS, [t.queue["handoff"]]),
        _allow("ReadPolls", ["dynamodb:GetItem"], [t.table["results"]]),
        _allow("QueueKey", ["secretsmanager:GetSecretValue"], [t.queue_key]),
        _allow("SendVotes", ["sqs:SendMessage"], t.all_votes),
        _allow("Keys", ["kms:Decrypt", "kms:GenerateDataKey"], t.all_keys),
    ]


def _tally(t: Targets) -> list[Statement]:
    return [
        _allow("ReadBallotsStream", ESM_STREAM_ACTIONS, [t.ballots_stream]),
        _allow("ListStreams", ["dynamodb:ListStreams"], "*"),
        _allow("WriteResults", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [t.table["results"]]),
        _allow("Key", ["kms:Decrypt", "kms:GenerateDataKey"], [t.key_here]),
        # Lambda sends a failed batch's location to the mapping's on-failure queue with the function's role.
        _allow("ReportFailedBatches", ["sqs:SendMessage"], [t.queue[FAILURE_QUEUE]]),
    ]


def _results(t: Targets) -> list[Statement]:
    return [
        _allow("ReadResults", ["dynamodb:Scan"], [t.table["results"]]),
        _allow("Key", ["kms:Decrypt"], [t.key_here]),
    ]


def _receipt(t: Targets) -> list[Statement]:
    return [
        _allow("ReadReceipt", ["dynamodb:GetItem"], [t.table["ballots"], t.table["results"]]),
        _allow("ReadCheckpoints", ["dynamodb:Scan"], [t.table["results"]]),
        _allow("Key", ["kms:Decrypt"], [t.key_here]),
    ]


def _health(t: Targets) -> list[Statement]:
    # Table and queue metadata only: the health role reads no item and holds no key.
    return [
        _allow("CheckTables", ["dynamodb:DescribeTable"], [t.table[w] for w in TABLE_NAMES]),
        _allow("CheckQueue", ["sqs:GetQueueAttributes"], [t.queue["votes"]]),
    ]


ROLE_STATEMENTS: dict[str, Callable[[Targets], list[Statement]]] = {
    "enqueue": _enqueue, "process": _process, "forward": _forward, "tally": _tally,
    "results": _results, "receipt": _receipt, "health": _health,
}


def function_policy(plan: Plan, region: str, role: str) -> dict[str, Any]:
    """Exactly the actions and resources this function needs: its log group, then its role's statements."""
    try:
        statements = ROLE_STATEMENTS[role]
    except KeyError:
        raise UnknownRoleError(f"no IAM policy for function role {role!r}: add it to "
                               "election/provision/model/policies.py ROLE_STATEMENTS") from None
    lg = Ref(key(region, "log_group", names(plan).log_group(role)), "arn")
    logs = _allow("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [lg, Join((lg, ":*"))])
    return {"Version": "2012-10-17", "Statement": [logs, *statements(_targets(plan, region))]}


# Key administration (AWS KMS Developer Guide, "Default key policy": the key administrators statement):
# everything but using the key, so the account keeps managing it (a key nobody can manage cannot be
# recovered) without any principal being able to decrypt with it directly.
KEY_ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                     "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                     "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]
KEY_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
                   "kms:CreateGrant"]
KEY_SERVICES = ("dynamodb", "sqs", "secretsmanager", "lambda")


def key_policy(plan: Plan, region: str) -> dict[str, Any]:
    """The account administers the key; it is used only through this plan's services, never directly.

    The root principal delegates to IAM: which role may use the key through DynamoDB, SQS, Secrets
    Manager or Lambda is decided by its identity policy (function_policy), and who may read a pepper
    by the secret's resource policy (resource_policies.py). Nobody, administrators included, may call
    kms:Decrypt on a ciphertext directly (a copied backup or secret version stays opaque). The key
    cannot name the functions' roles itself: their policies name the key, so the key comes first.
    """
    n = names(plan)
    root = Join(("arn:", CTX_PARTITION, ":iam::", CTX_ACCOUNT, ":root"))
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": KEY_ADMIN_ACTIONS, "Resource": "*"},
        {"Sid": "UsedOnlyThroughThePlansServices", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": KEY_USE_ACTIONS, "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in KEY_SERVICES],
                                        "kms:CallerAccount": CTX_ACCOUNT}}},
        {"Sid": "LogsEncryptThisPlan", "Effect": "Allow", "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "*",
         "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                   arn("logs", region, f"log-group:{n.log_group_prefix}*")}}},
        # CloudWatch cannot publish an alarm into the KMS-encrypted alerts topic without these
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services),
        # and only for this plan's alarms in this account.
        {"Sid": "AlarmsNotifyEncryptedTopic", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": CTX_ACCOUNT},
                       "ArnLike": {"aws:SourceArn": arn("cloudwatch", region, f"alarm:{n.prefix}*")}}},
    ]}
