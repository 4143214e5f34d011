"""Resource policies: who besides an identity policy's say-so may touch the peppers and the vote queues.

Identity policies (model.function_policy) say what each function may do; these say, on the
resource itself, that nobody else may, whatever their own IAM policy grants (an
account administrator included): an explicit Deny in a resource policy wins over
any Allow (IAM User Guide, "Policy evaluation logic").

- Each pepper (Secrets Manager): GetSecretValue is denied to every principal whose
  aws:PrincipalArn is not one of the roles that read it or the plan's
  `break_glass_role`. aws:PrincipalArn of a role session is the role's ARN, so the
  condition matches sessions of those roles; NotPrincipal would have to list every
  session ARN, and AWS advises against NotPrincipal with Deny.
- The votes and hand-off queues: SendMessage is denied to all but the pipeline
  roles that send to them (enqueue; forward for the votes queues) and the break-glass
  role: a forged vote cannot be queued by an operator (issue 10, point 2).

Creating, describing, rotating and deleting stay with the operator's IAM policy
(only reads of the pepper and sends to the queues are denied). Consequences on AWS:
seed-voters (reads the voter pepper), the audit's ballot-tag check (reads the queue
key), `dlq redrive` (sends to a votes queue) and a deployer adding a region later
(copies the secrets by reading them) must run as the break-glass role. moto evaluates none of this: the documents are tested as data
(tests/test_resource_policies.py, with election.provision.policyeval).
"""

from __future__ import annotations

from typing import Any

from election.lambdas import contract
from election.plan import Plan
from election.provision.model.common import names
from election.provision.model.names import key
from election.provision.resources import Ref, Resource


def _readers(env_key: str) -> tuple[str, ...]:
    """The functions whose contract environment names the secret (so their handler reads it), sorted."""
    return tuple(sorted(role for role, fn in contract.FUNCTIONS.items() if env_key in fn.env))


# Which functions read which secret (same region's copy): the two peppers, and the key that tags
# vote messages and ballots (Names.queue_key), which the whole pipeline shares.
PEPPER_READERS: dict[str, tuple[str, ...]] = {"voter": _readers(contract.ENV_VOTER_PEPPER_SECRET),
                                              "ballot": _readers(contract.ENV_BALLOT_PEPPER_SECRET)}
QUEUE_KEY_READERS: tuple[str, ...] = _readers(contract.ENV_QUEUE_KEY_SECRET)


def _role(plan: Plan, role: str, region: str) -> Ref:
    return Ref(key(region, "iam_role", names(plan).role(role, region)), "arn")


def _deny_all_but(action: str, principals: list[Any], sid: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": sid, "Effect": "Deny", "Principal": "*", "Action": action, "Resource": "*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": principals}}}]}


def secret_policy(plan: Plan, region: str, which: str) -> dict[str, Any]:
    """Only the roles reading this secret ("voter", "ballot", "queue_key") and the break-glass role may read it."""
    roles = QUEUE_KEY_READERS if which == "queue_key" else PEPPER_READERS[which]
    readers: list[Any] = [_role(plan, r, region) for r in roles]
    if plan.break_glass_role:
        readers.append(plan.break_glass_role)
    return _deny_all_but("secretsmanager:GetSecretValue", readers, "OnlyThePipelineReadsThePepper")


def queue_policy(plan: Plan, region: str, which: str) -> dict[str, Any]:
    """Only the pipeline sends votes: enqueue (any region's, to a voter's home) and forward; enqueue to its hand-off."""
    if which == "votes":
        senders: list[Any] = [_role(plan, r, reg) for reg in plan.region_names for r in ("enqueue", "forward")]
    else:
        senders = [_role(plan, "enqueue", region)]
    if plan.break_glass_role:
        senders.append(plan.break_glass_role)
    return _deny_all_but("sqs:SendMessage", senders, "OnlyThePipelineSendsVotes")


def resources(plan: Plan, region: str) -> list[Resource]:
    """The policies of a region's peppers and queues, put once their targets and the roles exist."""
    n = names(plan)
    roles = tuple(key(r, "iam_role", n.role(role, r)) for r in plan.region_names for role in contract.FUNCTIONS)
    out = []
    for which in (*PEPPER_READERS, "queue_key"):
        name = n.queue_key if which == "queue_key" else n.secret(which)
        # After every region's copy: the deployer copies a new region's secret by reading the primary's.
        copies = tuple(key(r, "secret", name) for r in plan.region_names)
        guard = {r: n.table("ballots") for r in plan.region_names} if which == "ballot" else {}
        out.append(Resource("resource_policy", region, f"{name}#policy",
                            {"target": name, "service": "secretsmanager",
                             "policy": secret_policy(plan, region, which), "_guard_tables": guard},
                            depends_on=copies + roles))
    for which in ("votes", "handoff"):
        out.append(Resource("resource_policy", region, f"{n.queue(which)}#policy",
                            {"target": n.queue(which), "service": "sqs", "policy": queue_policy(plan, region, which)},
                            depends_on=(key(region, "queue", n.queue(which)), *roles)))
    return out
