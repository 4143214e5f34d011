"""The model is a pure package: no boto3, one Names, a policy table that refuses unknown roles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from election.lambdas import contract
from election.plan import load_plan
from election.provision import model
from election.provision.model import policies

ROOT = Path(__file__).resolve().parent.parent
PLAN = load_plan(ROOT / "config" / "local.yaml")
R = PLAN.primary_region


def test_importing_the_model_loads_no_boto3_no_botocore_and_no_kind() -> None:
    # election.errors (ElectionError, which the model raises) once loaded botocore for explain() at import.
    code = ("import sys, election.provision.model, election.provision.resources, election.ops.names, "
            "election.errors; print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore') "
            "or m.startswith('election.provision.kinds')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_an_unknown_role_is_refused_not_given_logs_only_rights() -> None:
    # Before the table, an unknown role fell through the if/elif and got the Logs statement alone.
    with pytest.raises(policies.UnknownRoleError, match="'audit'.*ROLE_STATEMENTS"):
        model.function_policy(PLAN, R, "audit")


def test_every_function_of_the_contract_has_statements_and_nothing_else_does() -> None:
    assert set(policies.ROLE_STATEMENTS) == set(contract.FUNCTIONS)
    for role in contract.FUNCTIONS:
        sids = [s["Sid"] for s in model.function_policy(PLAN, R, role)["Statement"]]
        assert sids[0] == "Logs" and len(sids) > 1, role


def test_ops_and_the_model_share_one_names() -> None:
    from election.ops.names import Names as OpsNames

    assert OpsNames is model.Names
    n = model.Names(PLAN.name)
    assert n.votes_queue == n.queue("votes") and n.votes_dlq == n.queue("votes_dlq")
    assert n.ballot_pepper == n.secret("ballot") and n.results == n.table("results")
    # The names the model builds are the ones ops and the kinds look for.
    keys = {r.key for r in model.desired(PLAN)}
    for queue in (*n.work_queues, *n.dead_letter_queues, n.tally_failures):
        assert model.key(R, "queue", queue) in keys
    assert model.key(R, "secret", n.voter_pepper) in keys
    assert model.key(R, "alarm", n.alarm("tally-lag")) in keys
    assert all(r.name.startswith((n.prefix, n.secret_prefix, n.alias, n.log_group_prefix)) or r.name == n.plan
               for r in model.desired(PLAN))


def test_route_and_stage_names_hold_no_spaces_slashes_or_braces() -> None:
    n = model.Names("p")
    assert n.route("GET /receipts/{receipt}") == "p-get-receipts-receipt"
    assert n.stage("$default") == "p-default"


KINDS_DIR = ROOT / "election" / "provision" / "kinds"
HELPERS = {"__init__", "base", "awsutil", "lookups", "s3util", "apigwutil", "roll_import"}


def test_no_kind_imports_another_kind_and_none_is_long() -> None:
    """Kinds share helpers (awsutil, lookups...), never each other; each stays small enough to read."""
    import ast

    from election.provision.kinds import REGISTRY

    modules = {type(k).__module__.rsplit(".", 1)[1] for k in REGISTRY.values()}
    assert modules.isdisjoint(HELPERS)
    for path in [p for p in KINDS_DIR.glob("*.py") if p.stem != "__init__"]:   # the registry imports them all
        imported: set[str] = set()       # every module and every name brought in, at any depth
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.rsplit(".", 1)[-1] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").rsplit(".", 1)[-1])
                imported.update(a.name for a in node.names)
        siblings = imported & modules - {path.stem}
        assert not siblings, f"{path.name} imports the kind module(s) {siblings}"
        assert len(path.read_text().splitlines()) <= 300, path.name
