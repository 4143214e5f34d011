"""The function contract (election/lambdas/contract.py FUNCTIONS) is the one table things are derived from.

A new queue-triggered function is a contract row, a handler module and its IAM statements; the
deployer's function, log group, role, environment and event source mapping follow from the row.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from provision_support import AWS_PLAN, lambdas_copy

from election.errors import ElectionError
from election.lambdas import contract
from election.plan import load_plan
from election.provision import model
from election.provision.model import policies
from election.provision.resources import Ref

REGION = "us-east-1"


def _by_kind(resources: list, kind: str) -> dict[str, dict]:
    return {r.name: r.props for r in resources if r.kind == kind and r.region == REGION}


def test_a_new_queue_triggered_function_is_a_row_a_handler_and_its_statements(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = lambdas_copy(tmp_path)
    (src / "audit_votes.py").write_text("def handler(event, context):\n    return {}\n")
    row = contract.Function("audit_votes", contract.Queue("handoff"), (contract.ENV_REGION, contract.ENV_RESULTS_TABLE))
    monkeypatch.setitem(contract.FUNCTIONS, "audit_votes", row)
    monkeypatch.setitem(policies.ROLE_STATEMENTS, "audit_votes",
                        lambda t: [policies._allow("Consume", policies.ESM_SQS_ACTIONS, [t.queue["handoff"]])])
    plan = load_plan(AWS_PLAN)
    n = model.names(plan)
    out = model.desired(plan, lambdas_dir=src, edge=False)

    fn = _by_kind(out, "lambda_function")[n.function("audit_votes")]
    assert fn["handler"] == "election.lambdas.audit_votes.handler"
    assert set(fn["environment"]) == {contract.ENV_REGION, contract.ENV_RESULTS_TABLE}
    assert n.log_group("audit_votes") in _by_kind(out, "log_group")
    assert n.role("audit_votes", REGION) in _by_kind(out, "iam_role")
    esm = _by_kind(out, "event_source_mapping")[n.esm("audit_votes")]
    assert esm["function"] == n.function("audit_votes")
    assert esm["source_arn"] == Ref(model.key(REGION, "queue", n.queue("handoff")), "arn")
    assert esm["batch_size"] == plan.queue.batch_size and "batching_window_s" not in esm


def test_a_row_without_its_handler_module_is_refused_when_the_plan_is_computed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(contract.FUNCTIONS, "ghost", contract.Function("ghost", contract.Queue("handoff"), ()))
    monkeypatch.setitem(policies.ROLE_STATEMENTS, "ghost", lambda t: [])
    with pytest.raises(ElectionError, match=r"ghost\.py is missing: the function 'ghost'"):
        model.desired(load_plan(AWS_PLAN), lambdas_dir=lambdas_copy(tmp_path), edge=False)


def test_mappings_follow_the_triggers_and_the_mixing_one_batches_by_the_secrecy_section() -> None:
    plan = load_plan(AWS_PLAN)
    n = model.names(plan)
    esms = _by_kind(model.mapping_resources(plan, REGION), "event_source_mapping")
    assert set(esms) == {n.esm(role) for role in contract.event_sources()}
    mixing = [role for role, q in contract.triggered_by(contract.Queue) if q.mixing]
    assert mixing == ["process"]
    process = esms[n.esm("process")]
    assert (process["batch_size"], process["batching_window_s"]) == (plan.secrecy.batch_size, plan.secrecy.window_s)
    (tally_role, stream), = contract.triggered_by(contract.Stream)
    tally = esms[n.esm(tally_role)]
    assert tally["batch_size"] == stream.batch_size and tally["max_retries"] == stream.max_retries


@pytest.mark.parametrize("role", list(contract.event_sources()))
def test_each_triggered_functions_policy_lets_its_mapping_read_its_source(role: str) -> None:
    """The mapping reads its queue or stream as the function's role (AWSLambdaSQSQueueExecutionRole,
    AWSLambdaDynamoDBExecutionRole): the contract's trigger and the role's statements must agree."""
    plan = load_plan(AWS_PLAN)
    n = model.names(plan)
    trigger = contract.FUNCTIONS[role].trigger
    if isinstance(trigger, contract.Queue):
        needed, source = policies.ESM_SQS_ACTIONS, Ref(model.key(REGION, "queue", n.queue(trigger.queue)), "arn")
    else:
        assert isinstance(trigger, contract.Stream)
        needed = policies.ESM_STREAM_ACTIONS
        source = Ref(model.key(REGION, "table", n.table(trigger.table)), "stream_arn")
    statements = model.function_policy(plan, REGION, role)["Statement"]
    granted = {a for s in statements if source in (s["Resource"] if isinstance(s["Resource"], list) else [])
               for a in s["Action"]}
    assert set(needed) <= granted


def test_every_function_reads_its_region_and_the_http_ones_their_cors_origins() -> None:
    for fn in contract.FUNCTIONS.values():
        assert contract.ENV_REGION in fn.env, fn.role
        assert (contract.ENV_ALLOWED_ORIGINS in fn.env) == isinstance(fn.trigger, contract.Http), fn.role
