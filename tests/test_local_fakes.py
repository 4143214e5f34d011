"""A stand-in for the deployer, for the local-stack tests until the real engine lands.

It creates what the real deployer creates for a local plan and the runtime
relies on (peppers, tables with streams, queues with redrive, functions with
the contract's environment) and returns outputs in the deployer's shape.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from pathlib import Path
from typing import Any, Mapping

from election.lambdas import contract
from election.plan import Plan

KEYS = {"voters": contract.VOTERS_KEY, "ballots": contract.BALLOTS_KEY, "results": contract.RESULTS_KEY}
ROLES = ("enqueue", "process", "tally", "results", "receipt", "health", "forward")


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def standin_deploy(plan: Plan, provider: Any, site_dir: Path, progress: Any) -> Mapping[str, Any]:
    name = plan.name
    out: dict[str, Any] = {"regions": {}, "site_url": None}
    pepper_ids = {"voter": f"{name}/voter-pepper", "ballot": f"{name}/ballot-pepper"}
    peppers = {k: secrets.token_hex(32) for k in pepper_ids}
    votes_urls: dict[str, str] = {}
    for region in plan.region_names:
        sm = provider.client("secretsmanager", region)
        for k, sid in pepper_ids.items():
            sm.create_secret(Name=sid, SecretString=peppers[k])
        ddb = provider.client("dynamodb", region)
        tables = {}
        for logical, key in KEYS.items():
            tables[logical] = f"{name}-{logical}"
            ddb.create_table(TableName=tables[logical], BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        sqs = provider.client("sqs", region)
        queues = {}
        for q in ("votes", "handoff"):
            dlq = sqs.create_queue(QueueName=f"{name}-{q}-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            queues[f"{q}_dlq"] = dlq
            queues[q] = sqs.create_queue(QueueName=f"{name}-{q}", Attributes={
                "VisibilityTimeout": str(plan.queue.visibility_timeout_s),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                             "maxReceiveCount": plan.queue.max_receives})})["QueueUrl"]
        votes_urls[region] = queues["votes"]
        out["regions"][region] = {"api_url": None, "queues": queues, "tables": tables, "functions": {}}
    iam = provider.client("iam", plan.primary_region)
    role_arn = iam.create_role(RoleName=f"{name}-fn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    code = _zip()
    for region in plan.region_names:
        r = out["regions"][region]
        env = {
            contract.ENV_PLAN: name, contract.ENV_REGION: region,
            contract.ENV_VOTERS_TABLE: r["tables"]["voters"], contract.ENV_BALLOTS_TABLE: r["tables"]["ballots"],
            contract.ENV_RESULTS_TABLE: r["tables"]["results"],
            contract.ENV_VOTES_QUEUE_URLS: json.dumps(votes_urls),
            contract.ENV_HANDOFF_QUEUE_URL: r["queues"]["handoff"],
            contract.ENV_STATE_REGIONS: json.dumps(plan.state_regions()),
            contract.ENV_BALLOT: json.dumps({"candidates": list(plan.ballot.candidates),
                                             "overrides": {s: list(c) for s, c in plan.ballot.overrides.items()}}),
            contract.ENV_VOTER_PEPPER_SECRET: pepper_ids["voter"],
            contract.ENV_BALLOT_PEPPER_SECRET: pepper_ids["ballot"],
            contract.ENV_ALLOWED_ORIGINS: "http://127.0.0.1:*,http://localhost:*",
            contract.ENV_METRICS_NAMESPACE: "Election",
        }
        lam = provider.client("lambda", region)
        for role in ROLES:
            fn = f"{name}-{role}"
            lam.create_function(FunctionName=fn, Runtime="python3.12", Role=role_arn, Handler="index.handler",
                                Code={"ZipFile": code}, Environment={"Variables": env})
            r["functions"][role] = fn
    return out
