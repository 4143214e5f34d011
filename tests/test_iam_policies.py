"""Every function's policy is sufficient and necessary, derived from what the handlers really call.

A scenario drives every handler path on the pipeline fixture (IAM enforced) while a
botocore hook records each call a handler's clients make. From the calls, plus what
AWS documents that Lambda does with the function's role (logs, event source
mappings) and what the calls need from KMS, come the (IAM action, resource) pairs
each role needs. Then:
- sufficiency: the model's policy allows every pair, resource ARN included (moto checks
  actions only for most services; election.provision.policyeval checks the ARN);
- necessity, on paper: every action and every resource in the policy is needed by a pair;
- necessity, live: dropping any one action that moto can observe from the role's policy
  makes the same scenario step fail with that action denied.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from iam_support import ACCOUNT, actions_of, arn_of, without
from moto import mock_aws
from pipeline_fixture import REGIONS, Pipeline, api_event

from election.lambdas import contract, logic
from election.local import iam
from election.provision import model
from election.provision.policyeval import ALLOW, Request, evaluate
from election.provision.resources import Ref

EAST, WEST = REGIONS


@dataclass(frozen=True)
class Call:
    role: str
    region: str          # the function's region
    client_region: str   # where the call went
    operation: str       # "dynamodb:BatchGetItem"
    params: dict[str, Any]


def _clients(obj: Any, depth: int = 0) -> Iterator[BaseClient]:
    """The boto3 clients a handler holds (attributes, dicts of clients, helper objects one level down)."""
    for value in vars(obj).values():
        if isinstance(value, BaseClient):
            yield value
        elif isinstance(value, dict):
            yield from (v for v in value.values() if isinstance(v, BaseClient))
        elif depth == 0 and hasattr(value, "__dict__") and type(value).__module__.startswith("election.lambdas"):
            yield from _clients(value, 1)


def record(p: Pipeline, calls: list[Call]) -> None:
    """Record every call of every handler of `p` (handlers are built on first use, so build them all)."""
    for region in REGIONS:
        for role in contract.FUNCTIONS:
            handler = p.regions[region].handlers[role]
            for client in _clients(handler):
                service = client.meta.service_model.service_name
                prefix = "dynamodb" if service == "dynamodbstreams" else service

                def hook(params: dict[str, Any], model: Any, _r: str = role, _reg: str = region,
                         _cr: str = client.meta.region_name, _p: str = prefix, **_: Any) -> None:
                    calls.append(Call(_r, _reg, _cr, f"{_p}:{model.name}", copy.deepcopy(params)))

                client.meta.events.register("before-parameter-build", hook)


class Refuse:
    """A stand-in SQS client whose home queue is unreachable (forces the hand-off path)."""

    def send_message(self, **_: Any) -> None:
        raise ConnectionError("home region unreachable")


def scenario(p: Pipeline) -> dict[str, Callable[[], None]]:
    """One step per function, each exercising every call that function's handler (and mapping) makes.

    Each step brings its own work (fresh voters, a message to forward, a ballot to tally), so it
    can run again and again: the mutation test runs each once per action of the role.
    """

    def fresh(state: str) -> str:
        return next(iter(p.seed(1, (state,))))   # NY is homed in us-east-1, CA in us-west-2 (local.yaml)

    def enqueue() -> None:
        h: Any = p.regions[EAST].handlers["enqueue"]
        h.peppers._cache.clear()                                                # as a new container would
        assert p.vote(EAST, fresh("NY"), "Hillary Clinton")["statusCode"] == 202
        assert p.vote(EAST, fresh("CA"), "Hillary Clinton")["statusCode"] == 202  # the other region's queue
        real, h.sqs[WEST] = h.sqs[WEST], Refuse()
        try:
            assert p.vote(EAST, fresh("CA"), "Donald Trump")["statusCode"] == 202  # home refuses: hand-off
        finally:
            h.sqs[WEST] = real

    def forward() -> None:
        p.regions[EAST].handlers["forward"].key._cache.clear()                   # as a new container would
        for state, home in (("CA", WEST), ("NY", EAST)):   # hand-offs go to any region's votes queue
            boto3.client("sqs", region_name=EAST).send_message(QueueUrl=p.handoff_urls[EAST], MessageBody=logic.Vote.signed(
                p.message_key(), bk="0" * 32, state=state, candidate="Jill Stein", nonce="n", region=home).to_json())
        assert p.drain(EAST, "handoff")["handled"] >= 2

    def process() -> None:
        p.regions[EAST].handlers["enqueue"].peppers._cache.clear()
        p.regions[EAST].handlers["process"].key._cache.clear()                   # as a new container would
        assert p.vote(EAST, fresh("NY"), "Gary Johnson")["statusCode"] == 202
        records = p.receive(EAST)
        assert records
        p.call(EAST, "process", {"Records": records})
        p.call(EAST, "process", {"Records": records})   # redelivered: the ballot exists
        # The read-back when AWS's conditional-check failure carries no item (it does with ALL_OLD, so
        # the fallback is called directly: it is code the role must be allowed to run).
        p.regions[EAST].handlers["process"]._read("0" * 32)
        # A vote of a state short of k is made visible again after one window (deferral, needs
        # sqs:ChangeMessageVisibility); called directly, as the fixture's plan defers nothing.
        p.regions[EAST].handlers["process"]._come_back([records[0]["receiptHandle"]])
        for r in records:
            p.delete(EAST, r["receiptHandle"])

    def tally() -> None:
        assert p.vote(EAST, fresh("NY"), "Jill Stein")["statusCode"] == 202
        p.drain(EAST)
        p.regions[EAST].shard_iterators.clear()   # as a new mapping shard reader: GetShardIterator again
        p.tally(EAST)

    def results() -> None:
        assert p.call(EAST, "results", api_event("GET", "/results"))["statusCode"] == 200

    def receipt() -> None:
        voter = fresh("NY")
        assert p.vote(EAST, voter, "Hillary Clinton")["statusCode"] == 202
        p.drain(EAST)
        r = p.receipt_of(voter)
        resp = p.call(EAST, "receipt", api_event("GET", f"/receipts/{r}", path_params={"receipt": r}))
        assert resp["statusCode"] == 200, resp

    def health() -> None:
        assert p.call(EAST, "health", api_event("GET", "/health"))["statusCode"] == 200

    return {"enqueue": enqueue, "forward": forward, "process": process, "tally": tally, "results": results,
            "receipt": receipt, "health": health}


# --- what each call needs, per AWS's documentation ------------------------------------------

def _queue_arn(url: str, region: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def _key(region: str) -> str:
    return arn_of(Ref(model.key(region, "kms_key", model.Names("election-local").alias), "arn"))


def needs(call: Call) -> list[tuple[str, tuple[str, ...]]]:
    """The (IAM action, resources) pairs one recorded call needs, KMS use through the service included."""
    body = dict(call.params)
    queue = _queue_arn(body["QueueUrl"], call.client_region) if "QueueUrl" in body else "*"
    out = iam.checks(call.operation, body, call.client_region, ACCOUNT, queue)
    service, op = call.operation.split(":")
    key = (_key(call.client_region),)
    if call.operation in ("sqs:SendMessage", "sqs:SendMessageBatch"):
        out += [("kms:GenerateDataKey", key), ("kms:Decrypt", key)]          # SQS SSE: producer
    elif call.operation == "secretsmanager:GetSecretValue":
        out += [("kms:Decrypt", key)]
    elif service == "dynamodb" and op not in ("DescribeTable",):
        out += [("kms:Decrypt", key)]
        if op in ("PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem"):
            out += [("kms:GenerateDataKey", key)]
    return out


def lambda_needs(p: Pipeline, region: str, role: str) -> list[tuple[str, tuple[str, ...]]]:
    """What the Lambda service does with the role: logs, and the event source mapping's reads."""
    log_group = arn_of(Ref(model.key(region, "log_group", f"/aws/lambda/{model.names(p.plan).function(role)}"), "arn"))
    out: list[tuple[str, tuple[str, ...]]] = [("logs:CreateLogStream", (log_group,)),
                                              ("logs:PutLogEvents", (f"{log_group}:log-stream:x",))]
    source = {"process": "votes", "forward": "handoff"}.get(role)
    if source:
        q = (f"arn:aws:sqs:{region}:{ACCOUNT}:{model.names(p.plan).queue(source)}",)
        out += [(a, q) for a in model.ESM_SQS_ACTIONS] + [("kms:Decrypt", (_key(region),))]
    if role == "tally":
        out += [(a, (p.regions[region].stream_arn,)) for a in model.ESM_STREAM_ACTIONS]
        out += [("dynamodb:ListStreams", ("*",)),
                ("sqs:SendMessage", (f"arn:aws:sqs:{region}:{ACCOUNT}:{model.names(p.plan).queue(model.FAILURE_QUEUE)}",)),
                ("kms:GenerateDataKey", (_key(region),))]
    return out


@pytest.fixture(scope="module")
def observed() -> Iterator[tuple[Pipeline, dict[str, Callable[[], None]], list[Call]]]:
    mp = pytest.MonkeyPatch()
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
        mp.setenv(k, v)
    with mock_aws(), iam.enforced():
        p = Pipeline("config/local.yaml")
        calls: list[Call] = []
        record(p, calls)
        steps = scenario(p)
        for step in steps.values():
            step()
        yield p, steps, calls
    mp.undo()


def required(p: Pipeline, calls: list[Call], region: str, role: str) -> list[tuple[str, tuple[str, ...]]]:
    out = [n for c in calls if c.role == role and c.region == region for n in needs(c)]
    return out + lambda_needs(p, region, role)


@pytest.mark.parametrize("role", list(contract.FUNCTIONS))
def test_every_function_called_something(observed: Any, role: str) -> None:
    _, _, calls = observed
    assert any(c.role == role for c in calls), f"the scenario never ran {role}"


@pytest.mark.parametrize("role", list(contract.FUNCTIONS))
def test_the_policy_allows_every_call_its_handler_makes(observed: Any, role: str) -> None:
    p, _, calls = observed
    doc = p.policy(EAST, role)
    principal = p.role_arns[(EAST, role)]
    for action, resources in required(p, calls, EAST, role):
        decision = evaluate([doc], Request(action, resources, principal))
        assert decision == ALLOW, f"{role} needs {action} on {resources or '*'}; its policy says {decision}"


@pytest.mark.parametrize("role", list(contract.FUNCTIONS))
def test_every_action_and_resource_of_the_policy_is_needed(observed: Any, role: str) -> None:
    p, _, calls = observed
    need = required(p, calls, EAST, role)
    doc = p.policy(EAST, role)
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for a in actions:
            assert any(a == na for na, _ in need), f"{role}: {a} ({st['Sid']}) is allowed but nothing needs it"
        for res in resources:   # each resource is needed by at least one of the statement's actions
            alone = {**st, "Resource": [res]}
            used = any(na in actions and evaluate([{"Statement": [alone]}], Request(na, (r,))) == ALLOW
                       for na, nr in need for r in nr)
            assert used, f"{role}: {res} ({st['Sid']}) is allowed but nothing needs it"


# Actions the live scenario makes (moto sees them); the rest (KMS, logs, GetQueueAttributes and
# ListStreams by the mapping) are needed per AWS's documentation, checked on paper above.
def _observable(p: Pipeline, calls: list[Call], role: str) -> list[str]:
    seen = {a for c in calls if c.role == role and c.region == EAST for a, _ in iam.checks(
        c.operation, c.params, c.client_region, ACCOUNT)}
    if role in ("process", "forward"):
        seen |= {"sqs:ReceiveMessage", "sqs:DeleteMessage"}       # the fixture's mapping acts as the role
    if role == "tally":
        seen |= {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}
    return [a for a in actions_of(p.policy(EAST, role)) if a in seen]


def test_dropping_any_observable_action_breaks_its_function(observed: Any) -> None:
    """The mutation test: each action in turn removed from its role's policy; the role's step is denied it."""
    p, steps, calls = observed
    checked = []
    for role in contract.FUNCTIONS:
        for action in _observable(p, calls, role):
            before = len(iam.denials())
            p.put_policy(EAST, role, without(p.policy(EAST, role), action))
            try:
                steps[role]()
            except Exception:  # noqa: BLE001, S110 - the denial surfaces as some failure of the step
                pass
            finally:
                p.put_policy(EAST, role, p.policy(EAST, role))
            assert any(action in d and model.names(p.plan).role(role, EAST) in d for d in iam.denials()[before:]), \
                f"{role} without {action}: nothing was denied"
            checked.append(f"{role}:{action}")
    assert len(checked) >= 15, checked
