"""The operations end to end on the local stack (real deployer, real handlers, HTTP through the router).

seed-voters -> loadtest with 5 % duplicates and 5 % invalid traffic -> verified -> audit passes ->
close -> results unchanged and the ballot pepper gone; and a vote lost on purpose (queue purged)
fails the verification and is named by the audit. The commands run through the CLI, finding the
stack by themselves from .election/local.json.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import local_plan_with, run_cli

from election.local.stack import LocalStack
from election.ops import loadtest, state
from election.ops.audit import audit, load_receipts
from election.ops.closing import pepper_exists
from election.ops.seed import read_credentials, seed_voters
from election.ops.target import Target

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ops")


@pytest.fixture(scope="module")
def stack(home: Path) -> Iterator[LocalStack]:
    plan = local_plan_with(home / "plan.yaml", **{"lambda": {"timeout_s": 1}, "queue": {"visibility_timeout_s": 2}})
    with LocalStack(plan, state_dir=home / ".election", health_interval_s=0.5) as s:
        yield s


@pytest.fixture
def here(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the directory whose .election/local.json names the stack (as a user would)."""
    monkeypatch.chdir(home)
    for var in ("ELECTION_PLAN", "ELECTION_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    return home


def run(*args: str) -> tuple[int, Any]:
    """The CLI in its own process, from the current directory, as an operator would run it."""
    return run_cli(*args)


def post_vote(url: str, voter_id: str, candidate: str) -> int:
    req = urllib.request.Request(url + "/votes", data=json.dumps({"voter_id": voter_id, "candidate": candidate})
                                 .encode(), headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_lost_vote_fails_verification_and_the_audit_names_it(stack: LocalStack, here: Path) -> None:
    target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
    seed_voters(target, here / "lost-voters.csv", 60)
    voters = read_credentials(here / "lost-voters.csv")
    west = "us-west-2"
    pollers = stack.regions[west].pollers
    for p in pollers:
        p.stop()
    try:
        ledger = here / "lost-receipts.jsonl"
        fired = loadtest.fire(target, voters, stack.endpoints["router"], votes=60, rate=100, concurrency=8,
                              seed=1, ledger=ledger)
        purged = sum(1 for o in fired.outcomes if o.status == 202 and stack.plan.home_region(o.req.state) == west)
        assert purged > 0
        target.client("sqs", west).purge_queue(QueueUrl=target.queue_url(west, target.names.votes_queue))
    finally:
        for p in pollers:
            p.start()
    report = loadtest.settle_and_verify(target, fired, drain_timeout=60)
    assert not report.verified
    assert any(f"{purged} vote(s) answered 202 never became a ballot" in p for p in report.problems)
    code, found = run("audit", "--no-wait", "--json", "--receipts", str(ledger))
    assert code == 1, found
    assert any(f"{purged} accepted vote(s) have no ballot and are in no queue (lost)" in d
               for d in found["discrepancies"]), found["discrepancies"]


def test_seed_loadtest_audit_close(stack: LocalStack, here: Path) -> None:
    code, seeded = run("seed-voters", "--count", "400", "--out", "voters.csv", "--json")
    assert code == 0 and seeded["voters"] == 400 and seeded["loaded_now"] == 400
    assert (here / "voters.csv").stat().st_mode & 0o777 == 0o600

    target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
    before = state.results(target)["total"]
    code, rep = run("loadtest", "--voters", "voters.csv", "--votes", "300", "--rate", "60", "--concurrency", "16",
                    "--duplicates", "0.05", "--invalid", "0.05", "--seed", "7", "--drain-timeout", "120", "--json")
    assert code == 0, rep
    assert rep["verified"] and rep["problems"] == [] and rep["accepted_voters"] == 300
    assert sum(rep["by_kind"].get("duplicate", {}).values()) > 5
    assert sum(sum(rep["by_kind"].get(k, {}).values()) for k in loadtest.INVALID_KINDS) > 5
    assert rep["unexpected"] == {}
    assert state.results(target)["total"] == before + 300

    code, found = run("audit", "--json", "--receipts", rep["ledger"])
    assert code == 0 and found["ok"], found["discrepancies"]
    assert found["receipts_checked"] == 300

    code, final_before = run("results", "--json")
    code, closed = run("close", "--yes", "--grace", "2.5", "--timeout", "60", "--json")
    assert code == 0, closed
    assert sorted(closed["pepper_destroyed_in"]) == sorted(stack.plan.region_names)
    assert closed["results"]["candidates"] == final_before["candidates"]
    assert closed["results"]["states"] == final_before["states"]
    assert not any(pepper_exists(target, r) for r in stack.plan.region_names)

    vid, st = read_credentials(here / "voters.csv")[-1]
    assert post_vote(stack.endpoints["router"], vid, stack.plan.ballot.for_state(st)[0]) == 403
    code, reopened = run("open")
    assert code == 1 and "cannot reopen" in str(reopened)
    code, after = run("results", "--json")
    assert after["candidates"] == final_before["candidates"]
    assert audit(target, load_receipts(Path(rep["ledger"]))).ok
