"""A two-region election on moto in-process, wired like the deployer and the local runtime would.

Tables, queues and secrets mirror election/lambdas/contract.py; the handlers are
the real ones built with make_handler(env). The fixture plays the parts AWS
plays around them: SQS event source mappings (`drain`), the ballots stream to
the tally (`tally`, returning the batch so a test can replay it), and global
tables (`replicate`).

IAM as on AWS (election/local/iam.py): each handler runs with STS credentials of a
role carrying the model's own policy for that function (model.function_policy, resolved to
this fixture's ARNs); the test's own calls (seeding, playing the mappings, reading
state) act as the operator. Enforcement is on when the caller wraps the pipeline in
`iam.enforced()` (the `pipeline` fixture does).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from iam_support import resolve

from election.lambdas import contract, enqueue, forward, health, logic, process, receipt, results, tally
from election.local import iam
from election.plan import Plan, load_plan
from election.provision import model

REGIONS = ("us-east-1", "us-west-2")
ORIGIN = "https://vote.example.org"
PLAN_NAME = "election-local"


def new_voter_id() -> str:
    raw = "".join(secrets.choice(contract.VOTER_ID_ALPHABET) for _ in range(20))
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


def api_event(method: str, path: str, body: Any = None, *, raw: str | bytes | None = None,
              origin: str | None = ORIGIN, query: dict[str, str] | None = None,
              path_params: dict[str, str] | None = None, b64: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event."""
    text: str | None
    if raw is not None:
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    else:
        text = None if body is None else json.dumps(body)
    if b64 and text is not None:
        text = base64.b64encode(text.encode("latin-1")).decode()
    headers = {"content-type": "application/json"}
    if origin:
        headers["origin"] = origin
    route = "GET /receipts/{receipt}" if path.startswith("/receipts/") else f"{method} {path}"
    return {"version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
            "headers": headers, "queryStringParameters": query, "pathParameters": path_params,
            "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
            "body": text, "isBase64Encoded": b64}


MODULES = {m.__name__.rsplit(".", 1)[-1]: m for m in (enqueue, process, tally, results, receipt, health, forward)}


class LazyHandlers(dict):
    """role -> handler built with make_handler(env) on first use (building all 14 costs a second per test).

    Each handler gets its own role's contract keys of `env` and its role's credentials, as on Lambda.
    """

    def __init__(self, env: dict[str, str], credentials: Callable[[str], iam.Credentials] | None = None) -> None:
        super().__init__()
        self.env = env
        self.credentials = credentials

    def __missing__(self, role: str) -> Callable[[dict, Any], dict]:
        # Only the keys the deployer sets on this function (contract.FUNCTIONS[role].env), as on AWS.
        env = {k: v for k, v in self.env.items() if k in contract.FUNCTIONS[role].env}
        env.update(self.credentials(role).env() if self.credentials else {})
        handler: Any = MODULES[role].make_handler(env)
        # Tests read what they just wrote: no per-container caching of results or the polls item,
        # and one metric line per request.
        if role in ("results", "receipt"):
            handler.ttl = 0
        if role in ("enqueue", "receipt"):
            handler.polls._ttl = 0
        if role == "enqueue":
            handler.metrics.interval = 0
        if role == "health":
            handler.ok_reuse_s = 0
        self[role] = handler
        return handler


@dataclass
class Region:
    name: str
    env: dict[str, str]
    handlers: LazyHandlers
    stream_arn: str = ""
    shard_iterators: dict[str, str] = field(default_factory=dict)


class Pipeline:
    """Two regions of the local plan, provisioned on moto; call inside mock_aws."""

    def __init__(self, plan_path: str = "config/local.yaml") -> None:
        self.plan: Plan = load_plan(plan_path)
        # The test's own boto3 calls act as the operator (an IAM user allowed everything).
        self.operator = iam.operator_credentials()
        os.environ.pop("AWS_SESSION_TOKEN", None)   # restored with the rest of os.environ by mock_aws
        os.environ["AWS_ACCESS_KEY_ID"] = self.operator.access_key_id
        os.environ["AWS_SECRET_ACCESS_KEY"] = self.operator.secret_access_key
        self.voter_pepper = secrets.token_hex(32)
        self.ballot_pepper = secrets.token_hex(32)
        self.queue_key = secrets.token_hex(32)
        self.names = {"voters": f"{PLAN_NAME}-voters", "ballots": f"{PLAN_NAME}-ballots",
                      "results": f"{PLAN_NAME}-results"}
        self.voters: dict[str, str] = {}   # voter ID -> state
        queue_urls = {}
        handoff_urls = {}
        for r in REGIONS:
            self._tables(r)
            sqs = boto3.client("sqs", region_name=r)
            queue_urls[r] = sqs.create_queue(QueueName=f"{PLAN_NAME}-votes")["QueueUrl"]
            handoff_urls[r] = sqs.create_queue(QueueName=f"{PLAN_NAME}-handoff")["QueueUrl"]
            sm = boto3.client("secretsmanager", region_name=r)
            sm.create_secret(Name=f"{PLAN_NAME}/voter-pepper", SecretString=self.voter_pepper)
            sm.create_secret(Name=f"{PLAN_NAME}/ballot-pepper", SecretString=self.ballot_pepper)
            sm.create_secret(Name=f"{PLAN_NAME}/queue-key", SecretString=self.queue_key)
        self.queue_urls = queue_urls
        self.handoff_urls = handoff_urls
        self.regions: dict[str, Region] = {}
        self.role_arns: dict[tuple[str, str], str] = {}
        self._credentials: dict[tuple[str, str], iam.Credentials] = {}
        self._role_clients: dict[tuple[str, str, str], Any] = {}
        for r in REGIONS:
            env = self.env(r)
            handlers = LazyHandlers(env, lambda role, r=r: self.credentials(r, role))  # type: ignore[misc]
            arn = boto3.client("dynamodb", region_name=r).describe_table(
                TableName=self.names["ballots"])["Table"]["LatestStreamArn"]
            self.regions[r] = Region(r, env, handlers, arn)
        self._roles()

    # --- IAM ---------------------------------------------------------------------------------------

    def policy(self, region: str, role: str) -> dict[str, Any]:
        """The model's policy of `role` in `region`, with this fixture's ARNs."""
        streams = {r: reg.stream_arn for r, reg in self.regions.items()}
        return resolve(model.function_policy(self.plan, region, role), lambda reg, _table: streams[reg])

    def _roles(self) -> None:
        client = boto3.client("iam", region_name="us-east-1")
        for r in REGIONS:
            for role in contract.FUNCTIONS:
                name = model.names(self.plan).role(role, r)
                arn = client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(model.LAMBDA_TRUST))[
                    "Role"]["Arn"]
                self.role_arns[(r, role)] = arn
                self.put_policy(r, role, self.policy(r, role))

    def put_policy(self, region: str, role: str, document: dict[str, Any]) -> None:
        """Replace the role's inline policy (moto reads it on every request: takes effect at once)."""
        name = model.names(self.plan).role(role, region)
        boto3.client("iam", region_name="us-east-1").put_role_policy(RoleName=name, PolicyName="election",
                                                                     PolicyDocument=json.dumps(document))

    def credentials(self, region: str, role: str) -> iam.Credentials:
        """STS credentials of the function's role, assumed once as the Lambda service does."""
        if (region, role) not in self._credentials:
            self._credentials[(region, role)] = iam.assume_function_role(self.role_arns[(region, role)],
                                                                         f"{PLAN_NAME}-{role}")
        return self._credentials[(region, role)]

    def env(self, region: str) -> dict[str, str]:
        ballot = {"candidates": list(self.plan.ballot.candidates),
                  "overrides": {s: list(c) for s, c in self.plan.ballot.overrides.items()}}
        return {
            contract.ENV_PLAN: PLAN_NAME,
            contract.ENV_REGION: region,
            contract.ENV_VOTERS_TABLE: self.names["voters"],
            contract.ENV_BALLOTS_TABLE: self.names["ballots"],
            contract.ENV_RESULTS_TABLE: self.names["results"],
            contract.ENV_VOTES_QUEUE_URLS: json.dumps(self.queue_urls),
            contract.ENV_HANDOFF_QUEUE_URL: self.handoff_urls[region],
            contract.ENV_STATE_REGIONS: json.dumps(self.plan.state_regions()),
            contract.ENV_BALLOT: json.dumps(ballot),
            contract.ENV_VOTER_PEPPER_SECRET: f"{PLAN_NAME}/voter-pepper",
            contract.ENV_BALLOT_PEPPER_SECRET: f"{PLAN_NAME}/ballot-pepper",
            contract.ENV_ALLOWED_ORIGINS: f"{ORIGIN},http://127.0.0.1:*",
            contract.ENV_METRICS_NAMESPACE: "Election/test",
            contract.ENV_QUEUE_KEY_SECRET: f"{PLAN_NAME}/queue-key",
            contract.ENV_MIX_MIN: str(self.plan.secrecy.min_mix),
            contract.ENV_MIX_WINDOW: str(self.plan.secrecy.window_s),
            contract.ENV_RESULTS_LIVE: "true" if self.plan.results.live else "false",
        }

    def _tables(self, region: str) -> None:
        ddb = boto3.client("dynamodb", region_name=region)
        for name, key, stream in ((self.names["voters"], contract.VOTERS_KEY, False),
                                  (self.names["ballots"], contract.BALLOTS_KEY, True),
                                  (self.names["results"], contract.RESULTS_KEY, True)):
            kwargs: dict[str, Any] = {}
            if stream:
                kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
            ddb.create_table(TableName=name, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST", **kwargs)

    # --- voters ----------------------------------------------------------------------------------

    def seed(self, per_state: int = 1, states: tuple[str, ...] | None = None) -> dict[str, str]:
        """Add voters (voter ID -> state) to the roll of every region (the roll is a global table)."""
        new = {new_voter_id(): s for s in (states or tuple(self.plan.state_regions())) for _ in range(per_state)}
        pepper = bytes.fromhex(self.voter_pepper)
        for r in REGIONS:
            ddb = boto3.client("dynamodb", region_name=r)
            for vid, state in new.items():
                ddb.put_item(TableName=self.names["voters"],
                             Item={contract.VOTERS_KEY: {"S": logic.voter_key(pepper, vid)}, "state": {"S": state}})
        self.voters.update(new)
        return new

    def voter_in(self, state: str) -> str:
        return next(v for v, s in self.voters.items() if s == state)

    def message_key(self) -> bytes:
        return logic.subkey(bytes.fromhex(self.queue_key), "message")

    def ballot_tag_key(self) -> bytes:
        return logic.subkey(bytes.fromhex(self.queue_key), "ballot")

    def receipt_of(self, voter_id: str) -> str:
        return logic.ballot_key(bytes.fromhex(self.ballot_pepper), voter_id)

    # --- requests --------------------------------------------------------------------------------

    def call(self, region: str, role: str, event: dict) -> dict:
        return self.regions[region].handlers[role](event, None)

    def vote(self, region: str, voter_id: str, candidate: str) -> dict:
        return self.call(region, "enqueue", api_event("POST", "/votes", {"voter_id": voter_id, "candidate": candidate}))

    # --- what AWS does around the handlers -------------------------------------------------------

    def as_role(self, region: str, role: str, service: str) -> Any:
        """A client acting as a function's role (an event source mapping reads its source with it, as on AWS)."""
        key = (region, role, service)
        if key not in self._role_clients:
            self._role_clients[key] = boto3.client(
                service, region_name=region, **self.credentials(region, role).session_kwargs(),
                endpoint_url=f"https://streams.dynamodb.{region}.amazonaws.com" if service == "dynamodbstreams" else None)
        return self._role_clients[key]

    def receive(self, region: str, queue: str = "votes", max_messages: int = 10) -> list[dict]:
        """Receive a batch as an SQS event's records (visibility 0: a test can redeliver at will)."""
        url = (self.queue_urls if queue == "votes" else self.handoff_urls)[region]
        sqs = self.as_role(region, "process" if queue == "votes" else "forward", "sqs")
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=max_messages, VisibilityTimeout=0).get(
            "Messages", [])
        return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                 "eventSource": "aws:sqs"} for m in msgs]

    def delete(self, region: str, receipt_handle: str, queue: str = "votes") -> None:
        """Acknowledge one received message, as the event source mapping does after success."""
        url = (self.queue_urls if queue == "votes" else self.handoff_urls)[region]
        self.as_role(region, "process" if queue == "votes" else "forward", "sqs").delete_message(
            QueueUrl=url, ReceiptHandle=receipt_handle)

    def drain(self, region: str, queue: str = "votes") -> dict[str, int]:
        """Play the SQS event source mapping until the queue is empty; failed messages are left queued."""
        role = "process" if queue == "votes" else "forward"
        url = (self.queue_urls if queue == "votes" else self.handoff_urls)[region]
        sqs = self.as_role(region, role, "sqs")
        stats = {"handled": 0, "failed": 0}
        while True:
            records = self.receive(region, queue)
            if not records:
                return stats
            resp = self.call(region, role, {"Records": records})
            failed = {f["itemIdentifier"] for f in resp["batchItemFailures"]}
            for rec in records:
                if rec["messageId"] in failed:
                    stats["failed"] += 1
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=rec["receiptHandle"])
                    stats["handled"] += 1
            if failed and len(failed) == len(records):
                return stats

    def stream_batch(self, region: str, limit: int = 1000) -> tuple[str, list[dict]]:
        """The next records of the region's ballots stream (shard id, records), as Lambda would pass them."""
        reg = self.regions[region]
        streams = self.as_role(region, "tally", "dynamodbstreams")
        shards = streams.describe_stream(StreamArn=reg.stream_arn)["StreamDescription"]["Shards"]
        shard = shards[0]["ShardId"]
        it = reg.shard_iterators.get(shard) or streams.get_shard_iterator(
            StreamArn=reg.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        resp = streams.get_records(ShardIterator=it, Limit=limit)
        reg.shard_iterators[shard] = resp["NextShardIterator"]
        records = [dict(r, eventSourceARN=reg.stream_arn) for r in resp["Records"]]
        return shard, records

    def tally(self, region: str, limit: int = 1000) -> dict:
        """Feed the next stream batch to the tally; returns the event so a test can replay it."""
        shard, records = self.stream_batch(region, limit)
        event = {"Records": records, "shardId": shard}
        if records:
            resp = self.call(region, "tally", event)
            assert resp["batchItemFailures"] == [], resp
        return event

    def replicate(self) -> None:
        """Play global tables: copy each region's own ballots and results items to the other regions."""
        for src in REGIONS:
            sddb = boto3.client("dynamodb", region_name=src)
            for table in ("ballots", "results"):
                items = sddb.scan(TableName=self.names[table], ConsistentRead=True)["Items"]
                own = [it for it in items if it.get("region", {}).get("S") == src]
                for dst in REGIONS:
                    if dst == src:
                        continue
                    dddb = boto3.client("dynamodb", region_name=dst)
                    for it in own:
                        key_name = contract.BALLOTS_KEY if table == "ballots" else contract.RESULTS_KEY
                        existing = dddb.get_item(TableName=self.names[table],
                                                 Key={key_name: it[key_name]}).get("Item")
                        if existing != it:
                            dddb.put_item(TableName=self.names[table], Item=it)

    # --- reading state ---------------------------------------------------------------------------

    def scan(self, region: str, table: str) -> list[dict]:
        ddb = boto3.client("dynamodb", region_name=region)
        items, kwargs = [], {"TableName": self.names[table], "ConsistentRead": True}
        while True:
            page = ddb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ballots(self, region: str) -> list[dict]:
        return self.scan(region, "ballots")

    def results(self, region: str, state: str | None = None) -> dict:
        query = {"state": state} if state else None
        resp = self.call(region, "results", api_event("GET", "/results", query=query))
        assert resp["statusCode"] == 200, resp
        return json.loads(resp["body"])
