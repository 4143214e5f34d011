"""The desired resources of a plan: pure data, no boto3.

Every resource has a deterministic name from the plan name (and region), so
the deployer needs no state file: it reads what exists back from AWS.
Values known only after another resource exists are `Ref`s (or `Join`s of
literals and Refs); `CTX_ACCOUNT` / `CTX_PARTITION` are resolved by the engine
from the caller's identity.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from election.lambdas import contract
from election.ops import capacity
from election.plan import Plan
from election.provision import package
from election.provision.kinds.base import TAG_PLAN, TAG_REGIONS, Join, Ref, Resource

CTX_ACCOUNT = Ref("@ctx", "account_id")
CTX_PARTITION = Ref("@ctx", "partition")
TAG_REGION = "election:region"
DLQ_RETENTION_S = 14 * 24 * 3600     # the longest SQS allows: time to inspect and redrive
# A hand-off waits for its home region to come back, so it must outlast an outage rather than
# plan.queue.max_receives visibility timeouts (5 x 60 s): SQS's maximum, ~17 hours at 60 s, then the DLQ.
HANDOFF_MAX_RECEIVES = 1000
QUEUE_RETENTION_S = 14 * 24 * 3600   # an outage of the processor must not drop votes either
RUNTIME = "python3.12"
# Lambda's advanced logging controls: JSON format drops the runtime's START/END/REPORT lines below
# WARN (system logs: "start" and "report" are INFO), ~350 bytes per invocation, ~$0.17 per million votes
# (bench/pipeline_cost.py). Application logs stay at INFO: the handlers' metric lines are printed
# without a level, which Lambda files as INFO, and must reach CloudWatch (embedded metric format).
LOGGING = {"format": "JSON", "application_level": "INFO", "system_level": "WARN"}
LOCAL_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*")
TABLES = {"voters": contract.VOTERS_KEY, "ballots": contract.BALLOTS_KEY, "results": contract.RESULTS_KEY}
QUEUES = ("votes", "votes_dlq", "handoff", "handoff_dlq", "tally_failures")
FAILURE_QUEUE = "tally_failures"     # where the tally's stream mapping sends the location of a batch it gave up on


@dataclass(frozen=True)
class Names:
    """Every deterministic name of a plan (shared with the local runtime and ops)."""

    plan: str

    def table(self, which: str) -> str:
        return f"{self.plan}-{which}"

    def queue(self, which: str) -> str:
        return f"{self.plan}-{which.replace('_', '-')}"

    def function(self, role: str) -> str:
        return f"{self.plan}-{role}"

    def role(self, role: str, region: str) -> str:
        return f"{self.plan}-{role}-{region}"

    def log_group(self, role: str) -> str:
        return f"/aws/lambda/{self.function(role)}"

    @property
    def alias(self) -> str:
        return f"alias/{self.plan}"

    def secret(self, which: str) -> str:
        return f"{self.plan}/{which}-pepper"

    @property
    def queue_key(self) -> str:
        """The key that tags vote messages and ballots (readable by enqueue, forward, process, the audit)."""
        return f"{self.plan}/queue-key"

    @property
    def site_distribution(self) -> str:
        return f"{self.plan}-site"

    def esm(self, role: str) -> str:
        return f"{self.plan}-{role}-{ESM_SOURCES[role]}"

    @property
    def topic(self) -> str:
        """The region's alerts topic (SNS names are per region, like queues)."""
        return f"{self.plan}-alerts"


ESM_SOURCES = {"process": "votes", "forward": "handoff", "tally": "ballots"}


def names(plan: Plan) -> Names:
    return Names(plan.name)


def key(region: str, kind: str, name: str) -> str:
    return f"{region}/{kind}/{name}"


def plan_tags(plan: Plan) -> dict[str, str]:
    """Tags on every resource: the operator's tags plus the plan tag discovery relies on."""
    return {**dict(plan.tags), TAG_PLAN: plan.name}


def desired(plan: Plan, site_dir: Path = Path("website"), lambdas_dir: Path | None = None,
            edge: bool = True) -> list[Resource]:
    """All resources of the plan: core data plane per region, then the edge (if that module exists).

    `edge=False` leaves out the HTTP API, alarms, site and DNS (core tests, or a data-plane-only stack).
    """
    edge_res = _edge(plan, site_dir) if edge else []
    edge_keys = {r.key for r in edge_res}
    out: list[Resource] = []
    for region in plan.region_names:
        out.extend(_region(plan, region, lambdas_dir or package.LAMBDAS_DIR, edge_keys))
    return out + edge_res


def _edge(plan: Plan, site_dir: Path) -> list[Resource]:
    try:
        mod = importlib.import_module("election.provision.model_edge")
    except ModuleNotFoundError as exc:
        if exc.name != "election.provision.model_edge":
            raise
        return []
    return list(mod.edge_resources(plan, site_dir))


def _arn(service: str, region: str, rest: str) -> Join:
    return Join(("arn:", CTX_PARTITION, f":{service}:{region}:", CTX_ACCOUNT, f":{rest}"))


def _region(plan: Plan, region: str, lambdas_dir: Path, edge_keys: set[str]) -> list[Resource]:
    n = names(plan)
    tags = plan_tags(plan)
    primary = plan.primary_region
    kms = key(region, "kms_key", n.alias)
    kms_arn = Ref(kms, "arn")
    res: list[Resource] = [Resource(
        "kms_key", region, n.alias,
        {"description": f"election {plan.name}: tables, queues, logs and secrets in {region}",
         "rotation": True, "policy": _key_policy(plan, region)},
        tags={**tags, TAG_REGIONS: ",".join(plan.region_names)})]

    for which in ("voter", "ballot"):
        secret_deps = (kms,) if region == primary else (kms, key(primary, "secret", n.secret(which)))
        guard = {r: n.table("ballots") for r in plan.region_names} if which == "ballot" else {}
        res.append(Resource("secret", region, n.secret(which),
                            {"kms_key_id": kms_arn, "description": f"{which} pepper of election {plan.name}",
                             "_primary": primary, "_regions": plan.region_names, "_guard_tables": guard},
                            depends_on=secret_deps, tags=tags))

    qk_deps = (kms,) if region == primary else (kms, key(primary, "secret", n.queue_key))
    res.append(Resource("secret", region, n.queue_key,
                        {"kms_key_id": kms_arn, "description": f"vote message and ballot tag key of election {plan.name}",
                         "_primary": primary, "_regions": plan.region_names, "_guard_tables": {}},
                        depends_on=qk_deps, tags=tags))

    warm = capacity.warm_throughput(plan)
    for which, key_attr in TABLES.items():
        props: dict[str, Any] = {"status": "ACTIVE", "key": key_attr, "billing_mode": "PAY_PER_REQUEST",
                                 "sse_key": kms_arn,
                                 "pitr": True, "deletion_protection": True, "stream": "NEW_AND_OLD_IMAGES"}
        deps: tuple[str, ...] = (kms,)
        if plan.replicated_by_aws and region != primary:
            props["_replica_of"] = primary
            deps = (kms, key(primary, "table", n.table(which)))
        elif which in warm:   # a global table's warm throughput is set once and applies to every replica
            props["warm_throughput"] = warm[which]
        res.append(Resource("table", region, n.table(which), props, depends_on=deps, tags=tags))

    for main in ("votes", "handoff"):
        dlq = f"{main}_dlq"
        res.append(Resource("queue", region, n.queue(dlq),
                            {"kms_key": kms_arn, "retention_s": DLQ_RETENTION_S,
                             "visibility_timeout_s": plan.queue.visibility_timeout_s, "redrive": None},
                            depends_on=(kms,), tags=tags))
        res.append(Resource("queue", region, n.queue(main),
                            {"kms_key": kms_arn, "retention_s": QUEUE_RETENTION_S,
                             "visibility_timeout_s": votes_visibility(plan) if main == "votes"
                             else plan.queue.visibility_timeout_s,
                             "redrive": {"deadLetterTargetArn": Ref(key(region, "queue", n.queue(dlq)), "arn"),
                                         "maxReceiveCount": HANDOFF_MAX_RECEIVES if main == "handoff"
                                         else plan.queue.max_receives}},
                            depends_on=(kms,), tags=tags))

    res.append(Resource("queue", region, n.queue(FAILURE_QUEUE),
                        {"kms_key": kms_arn, "retention_s": DLQ_RETENTION_S,
                         "visibility_timeout_s": plan.queue.visibility_timeout_s, "redrive": None},
                        depends_on=(kms,), tags=tags))

    env = _environment(plan, region, edge_keys)
    for role in contract.FUNCTIONS:
        lg = key(region, "log_group", n.log_group(role))
        res.append(Resource("log_group", region, n.log_group(role),
                            {"retention_days": plan.log_retention_days, "kms_key": kms_arn},
                            depends_on=(kms,), tags=tags))
        iam = key(region, "iam_role", n.role(role, region))
        res.append(Resource("iam_role", region, n.role(role, region),
                            {"assume_role_policy": LAMBDA_TRUST, "policy": _policy(plan, region, role)},
                            tags={**tags, TAG_REGION: region}))
        pkg = package.build(role, lambdas_dir)
        res.append(Resource("lambda_function", region, n.function(role),
                            {"runtime": RUNTIME, "handler": package.handler_string(role),
                             "role": Ref(iam, "arn"), "memory_mb": plan.lambda_.memory_mb,
                             "timeout_s": plan.lambda_.timeout_s, "architecture": plan.lambda_.architecture,
                             "environment": env, "kms_key": kms_arn, "code_sha256": pkg.sha256_b64,
                             "logging": LOGGING,
                             "_zip": pkg.data, **_reserved_concurrency(plan, role, region)},
                            depends_on=(lg,), tags=tags))

    res += mapping_resources(plan, region)
    from election.provision import resource_policies  # imports this module's names

    res += resource_policies.resources(plan, region)
    return res


def mapping_resources(plan: Plan, region: str) -> list[Resource]:
    """The region's event source mappings: votes and hand-off queues (SQS), ballots stream (tally)."""
    n = names(plan)
    res: list[Resource] = []
    fn = {role: key(region, "lambda_function", n.function(role)) for role in contract.FUNCTIONS}
    # MaximumConcurrency bounds each queue's consumers, so draining a backlog cannot take the account's
    # concurrency from the voting API (which also has its own reserve: _reserved_concurrency).
    sqs_esm = {"batch_size": plan.queue.batch_size, "response_types": ["ReportBatchItemFailures"],
               "max_concurrency": plan.queue.max_concurrency}
    # Mixing (README "Ballot secrecy"): gather up to secrecy.batch_size votes for up to window_s seconds.
    res.append(Resource("event_source_mapping", region, n.esm("process"),
                        {"function": n.function("process"),
                         "source_arn": Ref(key(region, "queue", n.queue("votes")), "arn"), **sqs_esm,
                         "batch_size": plan.secrecy.batch_size, "batching_window_s": plan.secrecy.window_s},
                        depends_on=(fn["process"],)))
    res.append(Resource("event_source_mapping", region, n.esm("forward"),
                        {"function": n.function("forward"),
                         "source_arn": Ref(key(region, "queue", n.queue("handoff")), "arn"), **sqs_esm},
                        depends_on=(fn["forward"],)))
    res.append(Resource("event_source_mapping", region, n.esm("tally"),
                        {"function": n.function("tally"),
                         "source_arn": Ref(key(region, "table", n.table("ballots")), "stream_arn"),
                         "batch_size": contract.TALLY_BATCH_SIZE, "response_types": ["ReportBatchItemFailures"],
                         "bisect_on_error": True, "tumbling_window_s": contract.TALLY_TUMBLING_WINDOW_S,
                         "batching_window_s": contract.TALLY_BATCHING_WINDOW_S, "_starting_position": "TRIM_HORIZON",
                         "max_retries": contract.TALLY_MAX_RETRY_ATTEMPTS,
                         "max_record_age_s": contract.TALLY_MAX_RECORD_AGE_S,
                         "on_failure": Ref(key(region, "queue", n.queue(FAILURE_QUEUE)), "arn")},
                        depends_on=(fn["tally"], key(region, "queue", n.queue(FAILURE_QUEUE)))))
    return res


def _reserved_concurrency(plan: Plan, role: str, region: str) -> dict[str, Any]:
    """Only the enqueue function (the voting API's writes) gets a reserve; None means no reservation.

    A reserve is also the function's ceiling, so with a `capacity` section it is raised to what the
    region's peak needs (capacity.needs), never left below it.
    """
    if role != "enqueue":
        return {}
    reserve = plan.lambda_.enqueue_reserved_concurrency
    if reserve:
        need = next((n.concurrency.get("enqueue", 0) for n in capacity.needs(plan) if n.region == region), 0)
        reserve = max(reserve, need)
    return {"reserved_concurrency": reserve or None}


def mix_defer_rounds(plan: Plan) -> int:
    """How often process may hold back a vote of a state short of k: at most 2, and always leaving two
    receives for real retries before the dead-letter queue (queue.max_receives)."""
    return max(0, min(2, plan.queue.max_receives - 3))


def votes_visibility(plan: Plan) -> int:
    """The votes queue's visibility timeout: a vote gathered into a mixing batch stays hidden for the
    whole window plus the function's run, so it is not delivered twice (plan queue.visibility_timeout_s
    if larger)."""
    return max(plan.queue.visibility_timeout_s, plan.secrecy.window_s + plan.lambda_.timeout_s)


LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


# Key administration (AWS KMS Developer Guide, "Default key policy": the key administrators statement):
# everything but using the key, so the account keeps managing it (a key nobody can manage cannot be
# recovered) without any principal being able to decrypt with it directly.
KEY_ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                     "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                     "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]
KEY_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
                   "kms:CreateGrant"]
KEY_SERVICES = ("dynamodb", "sqs", "secretsmanager", "lambda")


def _key_policy(plan: Plan, region: str) -> dict[str, Any]:
    """The account administers the key; it is used only through this plan's services, never directly.

    The root principal delegates to IAM: which role may use the key through DynamoDB, SQS, Secrets
    Manager or Lambda is decided by its identity policy (model._policy), and who may read a pepper
    by the secret's resource policy (resource_policies.py). Nobody, administrators included, may call
    kms:Decrypt on a ciphertext directly (a copied backup or secret version stays opaque). The key
    cannot name the functions' roles itself: their policies name the key, so the key comes first.
    """
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
                                   _arn("logs", region, f"log-group:/aws/lambda/{plan.name}-*")}}},
        # CloudWatch cannot publish an alarm into the KMS-encrypted alerts topic without these
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services),
        # and only for this plan's alarms in this account.
        {"Sid": "AlarmsNotifyEncryptedTopic", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": CTX_ACCOUNT},
                       "ArnLike": {"aws:SourceArn": _arn("cloudwatch", region, f"alarm:{plan.name}-*")}}},
    ]}


def function_environment(plan: Plan, region: str, role: str, edge: bool = True) -> dict[str, Any]:
    """The environment `role`'s function gets in `region` (Refs unresolved); plan_limits measures it."""
    n = names(plan)
    edge_keys = {key(plan.primary_region, "cloudfront_distribution", n.site_distribution)} if edge else set()
    return _environment(plan, region, edge_keys)


def sqs_batching_windows(plan: Plan) -> dict[str, int]:
    """Batching window (s) of each SQS mapping, by mapping name: the queue's visibility must cover it."""
    return {r.name: int(r.props.get("batching_window_s", 0)) for region in plan.region_names
            for r in mapping_resources(plan, region) if "_starting_position" not in r.props}


def _environment(plan: Plan, region: str, edge_keys: set[str]) -> dict[str, Any]:
    """The contract's environment, the same on every function of a region."""
    n = names(plan)
    origins: list[Any] = list(plan.api.allowed_origins)
    if plan.target == "local":
        origins.extend(LOCAL_ORIGINS)
    site = key(plan.primary_region, "cloudfront_distribution", n.site_distribution)
    if site in edge_keys:
        origins.insert(0, Ref(site, "origin"))
    queue_urls = {r: Ref(key(r, "queue", n.queue("votes")), "url") for r in plan.region_names}
    ballot = {"candidates": list(plan.ballot.candidates),
              "overrides": {s: list(c) for s, c in plan.ballot.overrides.items()}}
    return {
        contract.ENV_PLAN: plan.name,
        contract.ENV_REGION: region,
        contract.ENV_VOTERS_TABLE: n.table("voters"),
        contract.ENV_BALLOTS_TABLE: n.table("ballots"),
        contract.ENV_RESULTS_TABLE: n.table("results"),
        contract.ENV_VOTES_QUEUE_URLS: json_join(queue_urls),
        contract.ENV_HANDOFF_QUEUE_URL: Ref(key(region, "queue", n.queue("handoff")), "url"),
        contract.ENV_STATE_REGIONS: json.dumps(plan.state_regions(), separators=(",", ":"), sort_keys=True),
        contract.ENV_BALLOT: json.dumps(ballot, separators=(",", ":")),
        contract.ENV_VOTER_PEPPER_SECRET: n.secret("voter"),
        contract.ENV_BALLOT_PEPPER_SECRET: n.secret("ballot"),
        contract.ENV_ALLOWED_ORIGINS: Join(tuple(_interleave(origins, ",")))
        if any(isinstance(o, Ref) for o in origins) else ",".join(origins),
        contract.ENV_METRICS_NAMESPACE: f"Election/{plan.name}",
        contract.ENV_RESULTS_LIVE: "true" if plan.results.live else "false",
        contract.ENV_QUEUE_KEY_SECRET: n.queue_key,
        contract.ENV_MIX_MIN: str(plan.secrecy.min_mix),
        contract.ENV_MIX_WINDOW: str(plan.secrecy.window_s),
        contract.ENV_MIX_DEFER: str(mix_defer_rounds(plan)),
    }


def _interleave(items: list[Any], sep: str) -> list[Any]:
    out: list[Any] = []
    for i, item in enumerate(items):
        if i:
            out.append(sep)
        out.append(item)
    return out


def json_join(mapping: Mapping[str, Any]) -> Any:
    """A compact JSON object whose string values may be Refs, as a Join (or plain text without Refs)."""
    if not any(isinstance(v, Ref) for v in mapping.values()):
        return json.dumps(dict(mapping), separators=(",", ":"))
    parts: list[Any] = ["{"]
    for i, (k, v) in enumerate(mapping.items()):
        parts.append(("," if i else "") + json.dumps(k) + ':"')
        parts.append(v)
        parts.append('"')
    parts.append("}")
    return Join(tuple(parts))


# --- least-privilege policies ------------------------------------------------------
#
# Each action is here because the handler calls it (tests/test_iam_policies.py derives the calls from
# the handlers' source and checks both ways), or because AWS documents that something the function
# does on its behalf needs it:
# - logs:CreateLogStream / PutLogEvents: the Lambda runtime writes the function's logs (AWSLambdaBasicExecutionRole);
# - an SQS event source mapping reads its queue as the function's role: sqs:ReceiveMessage, DeleteMessage,
#   GetQueueAttributes (AWSLambdaSQSQueueExecutionRole);
# - a DynamoDB stream mapping: dynamodb:DescribeStream, GetRecords, GetShardIterator on the stream, and
#   ListStreams, which supports no resource-level permission, so its own statement on "*"
#   (AWSLambdaDynamoDBExecutionRole; DynamoDB Developer Guide, "IAM policy to allow an AWS Lambda function
#   to access DynamoDB stream records");
# - KMS through the services (SQS Developer Guide, "Key management"): sending to a KMS-encrypted queue
#   needs kms:GenerateDataKey and kms:Decrypt, receiving kms:Decrypt; reading a secret kms:Decrypt;
#   DynamoDB items under a customer managed key: kms:Decrypt to read, plus kms:GenerateDataKey to write.
# IAM actions are not always the API's name: BatchGetItem is its own action; a transaction is authorised
# per item (UpdateItem...); SendMessageBatch / DeleteMessageBatch as SendMessage / DeleteMessage.
ESM_SQS_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
ESM_STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]


def _policy(plan: Plan, region: str, role: str) -> dict[str, Any]:
    """Exactly the actions and resources this function needs; nothing else."""
    n = names(plan)
    tbl = {w: Ref(key(region, "table", n.table(w)), "arn") for w in TABLES}
    q = {w: Ref(key(region, "queue", n.queue(w)), "arn") for w in QUEUES}
    kms_here = Ref(key(region, "kms_key", n.alias), "arn")
    all_keys = [Ref(key(r, "kms_key", n.alias), "arn") for r in plan.region_names]
    all_votes = [Ref(key(r, "queue", n.queue("votes")), "arn") for r in plan.region_names]
    lg = Ref(key(region, "log_group", n.log_group(role)), "arn")

    def secret(which: str) -> Join:
        return _arn("secretsmanager", region, f"secret:{n.secret(which)}-??????")

    queue_key = _arn("secretsmanager", region, f"secret:{n.queue_key}-??????")

    st: list[dict[str, Any]] = [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [lg, Join((lg, ":*"))]},
    ]
    if role == "enqueue":
        st += [
            {"Sid": "ReadRollAndBallots", "Effect": "Allow", "Action": ["dynamodb:BatchGetItem"],
             "Resource": [tbl["voters"], tbl["ballots"]]},
            {"Sid": "ReadPolls", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [tbl["results"]]},
            {"Sid": "SendVotes", "Effect": "Allow", "Action": ["sqs:SendMessage"],
             "Resource": all_votes + [q["handoff"]]},
            {"Sid": "Peppers", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
             "Resource": [secret("voter"), secret("ballot"), queue_key]},
            {"Sid": "Keys", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": all_keys},
        ]
    elif role == "process":
        st += [
            {"Sid": "WriteBallots", "Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:GetItem"],
             "Resource": [tbl["ballots"]]},
            {"Sid": "ReadPolls", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [tbl["results"]]},
            {"Sid": "QueueKey", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [queue_key]},
            {"Sid": "ConsumeVotes", "Effect": "Allow", "Action": ESM_SQS_ACTIONS, "Resource": [q["votes"]]},
            # A vote of a state short of k is deferred: made visible again after one mixing window.
            {"Sid": "DeferVotes", "Effect": "Allow", "Action": ["sqs:ChangeMessageVisibility"], "Resource": [q["votes"]]},
            {"Sid": "Key", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [kms_here]},
        ]
    elif role == "forward":
        st += [
            {"Sid": "ConsumeHandoff", "Effect": "Allow", "Action": ESM_SQS_ACTIONS, "Resource": [q["handoff"]]},
            {"Sid": "ReadPolls", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [tbl["results"]]},
            {"Sid": "QueueKey", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [queue_key]},
            {"Sid": "SendVotes", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": all_votes},
            {"Sid": "Keys", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": all_keys},
        ]
    elif role == "tally":
        st += [
            {"Sid": "ReadBallotsStream", "Effect": "Allow", "Action": ESM_STREAM_ACTIONS,
             "Resource": [Ref(key(region, "table", n.table("ballots")), "stream_arn")]},
            {"Sid": "ListStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"},
            {"Sid": "WriteResults", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
             "Resource": [tbl["results"]]},
            {"Sid": "Key", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [kms_here]},
            # Lambda sends a failed batch's location to the mapping's on-failure queue with the function's role.
            {"Sid": "ReportFailedBatches", "Effect": "Allow", "Action": ["sqs:SendMessage"],
             "Resource": [q[FAILURE_QUEUE]]},
        ]
    elif role == "results":
        st += [
            {"Sid": "ReadResults", "Effect": "Allow", "Action": ["dynamodb:Scan"], "Resource": [tbl["results"]]},
            {"Sid": "Key", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_here]},
        ]
    elif role == "receipt":
        st += [
            {"Sid": "ReadReceipt", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
             "Resource": [tbl["ballots"], tbl["results"]]},
            {"Sid": "ReadCheckpoints", "Effect": "Allow", "Action": ["dynamodb:Scan"], "Resource": [tbl["results"]]},
            {"Sid": "Key", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [kms_here]},
        ]
    elif role == "health":
        # Table and queue metadata only: the health role reads no item and holds no key.
        st += [
            {"Sid": "CheckTables", "Effect": "Allow", "Action": ["dynamodb:DescribeTable"],
             "Resource": [tbl["voters"], tbl["ballots"], tbl["results"]]},
            {"Sid": "CheckQueue", "Effect": "Allow", "Action": ["sqs:GetQueueAttributes"], "Resource": [q["votes"]]},
        ]
    return {"Version": "2012-10-17", "Statement": st}
