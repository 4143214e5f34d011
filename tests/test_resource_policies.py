"""The peppers' and queues' resource policies, and the key policy, evaluated as documents.

moto stores these documents but evaluates none of them, so these tests evaluate them
with election.provision.policyeval, following AWS's evaluation logic: the pipeline role
(or the break-glass role) is not denied; anyone else, an administrator whose own IAM
policy allows everything included, is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from iam_support import ACCOUNT, resolve

from election.plan import load_plan
from election.provision import model, resource_policies
from election.provision.policyeval import ALLOW, DENY, IMPLICIT, Request, evaluate

PLAN = load_plan("config/aws.yaml")
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/election-break-glass"
ADMIN = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
R = PLAN.region_names[0]


def role(name: str, region: str = R) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{model.names(PLAN).role(name, region)}"


def decide(resource_policy: dict[str, Any], action: str, principal: str, identity: dict[str, Any] = ADMIN) -> str:
    """Same-account request: allowed by the identity policy unless the resource policy denies it."""
    return evaluate([identity, resource_policy], Request(action, ("*",), principal))


def test_only_enqueue_and_break_glass_read_a_pepper() -> None:
    plan = replace(PLAN, break_glass_role=BREAK_GLASS)
    for which in ("voter", "ballot"):
        doc = resolve(resource_policies.secret_policy(plan, R, which))
        assert decide(doc, "secretsmanager:GetSecretValue", role("enqueue")) == ALLOW
        assert decide(doc, "secretsmanager:GetSecretValue", BREAK_GLASS) == ALLOW
        for other in (f"arn:aws:iam::{ACCOUNT}:role/Admin", f"arn:aws:iam::{ACCOUNT}:user/operator",
                      role("process"), role("enqueue", PLAN.region_names[-1]) if len(PLAN.region_names) > 1 else
                      role("tally")):
            assert decide(doc, "secretsmanager:GetSecretValue", other) == DENY, (which, other)
        # The operator keeps managing the secret: only reading it is denied.
        for action in ("secretsmanager:DeleteSecret", "secretsmanager:RotateSecret", "secretsmanager:CreateSecret",
                       "secretsmanager:DescribeSecret", "secretsmanager:PutResourcePolicy"):
            assert decide(doc, action, f"arn:aws:iam::{ACCOUNT}:role/Admin") == ALLOW, action


def test_only_the_pipeline_reads_the_queue_key() -> None:
    plan = replace(PLAN, break_glass_role=BREAK_GLASS)
    doc = resolve(resource_policies.secret_policy(plan, R, "queue_key"))
    for reader in ("enqueue", "forward", "process"):
        assert decide(doc, "secretsmanager:GetSecretValue", role(reader)) == ALLOW, reader
    assert decide(doc, "secretsmanager:GetSecretValue", BREAK_GLASS) == ALLOW
    for other in ("tally", "results", "receipt", "health"):
        assert decide(doc, "secretsmanager:GetSecretValue", role(other)) == DENY, other
    assert decide(doc, "secretsmanager:GetSecretValue", f"arn:aws:iam::{ACCOUNT}:role/Admin") == DENY
    res = {r.key for r in model.desired(PLAN, edge=False)}
    assert all(model.key(r, "resource_policy", f"{model.names(PLAN).queue_key}#policy") in res
               for r in PLAN.region_names)


def test_without_a_break_glass_role_only_the_pipeline_reads() -> None:
    doc = resolve(resource_policies.secret_policy(PLAN, R, "ballot"))
    assert decide(doc, "secretsmanager:GetSecretValue", BREAK_GLASS) == DENY
    assert decide(doc, "secretsmanager:GetSecretValue", role("enqueue")) == ALLOW


def test_only_the_pipeline_sends_votes() -> None:
    votes = resolve(resource_policies.queue_policy(PLAN, R, "votes"))
    for region in PLAN.region_names:
        assert decide(votes, "sqs:SendMessage", role("enqueue", region)) == ALLOW
        assert decide(votes, "sqs:SendMessage", role("forward", region)) == ALLOW
    for forger in (f"arn:aws:iam::{ACCOUNT}:role/Admin", role("process"), role("tally"), BREAK_GLASS):
        assert decide(votes, "sqs:SendMessage", forger) == DENY, forger
    assert decide(votes, "sqs:ReceiveMessage", role("process")) == ALLOW   # only sending is restricted
    handoff = resolve(resource_policies.queue_policy(PLAN, R, "handoff"))
    assert decide(handoff, "sqs:SendMessage", role("enqueue")) == ALLOW
    assert decide(handoff, "sqs:SendMessage", role("forward")) == DENY


def test_the_model_puts_each_policy_after_its_target_and_every_copy() -> None:
    res = {r.key: r for r in model.desired(PLAN, edge=False)}
    n = model.names(PLAN)
    for region in PLAN.region_names:
        pol = res[model.key(region, "resource_policy", f"{n.secret('ballot')}#policy")]
        assert {model.key(r, "secret", n.secret("ballot")) for r in PLAN.region_names} <= set(pol.depends_on)
        assert model.key(region, "iam_role", n.role("enqueue", region)) in pol.depends_on
        assert res[model.key(region, "resource_policy", f"{n.queue('votes')}#policy")].props["service"] == "sqs"


def test_the_key_is_administered_by_the_account_but_used_only_through_the_services() -> None:
    doc = resolve(model.key_policy(PLAN, R))
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"

    def key(action: str, via: str | None = None) -> str:
        ctx = {"kms:CallerAccount": ACCOUNT, **({"kms:ViaService": f"{via}.{R}.amazonaws.com"} if via else {})}
        return evaluate([doc], Request(action, ("*",), admin, context=ctx))

    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation", "kms:DescribeKey"):
        assert key(action) == ALLOW, action        # never an unmanageable key
    assert key("kms:Decrypt") == IMPLICIT         # no direct decryption, not even by an administrator
    assert key("kms:GenerateDataKey") == IMPLICIT
    for service in ("dynamodb", "sqs", "secretsmanager"):
        assert key("kms:Decrypt", service) == ALLOW   # then IAM (and the secret's policy) decide who
    assert key("kms:Decrypt", "s3") == IMPLICIT
