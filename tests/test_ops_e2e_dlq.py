"""Dead letters end to end on the local stack: a failing process handler dead-letters votes through the
real SQS redrive; `dlq list` shows them without voter IDs; after the fault is fixed `dlq redrive` replays
them and every one is counted, which `audit` confirms against the receipts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import FailingRole, local_plan_with, run_cli

from election.local.stack import LocalStack
from election.ops import loadtest, state
from election.ops.seed import read_credentials, seed_voters
from election.ops.target import Target

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def _fail_batch(event: dict) -> dict:
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dlq")


@pytest.fixture(scope="module")
def fault() -> FailingRole:
    """While on, the process handler fails every message (a bug, a throttled table...)."""
    return FailingRole("process", _fail_batch)


@pytest.fixture(scope="module")
def stack(home: Path, fault: FailingRole) -> Iterator[LocalStack]:
    plan = local_plan_with(home / "plan.yaml", **{"lambda": {"timeout_s": 1},
                                                   "queue": {"visibility_timeout_s": 1, "max_receives": 2}})
    with LocalStack(plan, state_dir=home / ".election", health_interval_s=0.5, handler_factory=fault.factory) as s:
        yield s


def run(cwd: Path, *args: str) -> tuple[int, Any]:
    return run_cli(*args, cwd=cwd)


def test_dead_lettered_votes_are_listed_redriven_and_counted(stack: LocalStack, fault: FailingRole, home: Path) -> None:
    target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
    seed_voters(target, home / "voters.csv", 40)
    voters = read_credentials(home / "voters.csv")
    fault.on.set()
    ledger = home / "receipts.jsonl"
    fired = loadtest.fire(target, voters, stack.endpoints["router"], votes=12, rate=50, concurrency=4, seed=2,
                          ledger=ledger)
    assert fired.report.by_kind["vote"] == {"202": 12}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dead = sum(qs[q] for qs in state.queue_depths(target).values() for q in target.names.dead_letter_queues)
        if dead == 12:
            break
        time.sleep(0.5)
    assert dead == 12

    code, listed = run(home, "dlq", "list", "--json")
    assert code == 0 and len(listed) == 12
    receipts = {json.loads(line)["receipt"] for line in ledger.read_text().splitlines()}
    assert {d["receipt"] for d in listed} == receipts
    assert all(d["state"] and d["candidate"] and d["queue"].endswith("-votes-dlq") for d in listed)
    ids = {vid for vid, _ in voters}
    assert not any(vid in json.dumps(listed) for vid in ids)       # never a voter ID
    code, found = run(home, "audit", "--no-wait", "--json", "--receipts", str(ledger))
    assert code == 1 and any("12 accepted vote(s) are not ballots yet but sit in a dead-letter queue" in d
                             for d in found["discrepancies"]), found

    fault.on.clear()
    code, out = run(home, "dlq", "redrive")
    assert code == 0 and "Redrove 12 message(s)" in " ".join(str(out).split())
    code, found = run(home, "audit", "--json", "--receipts", str(ledger))
    assert code == 0 and found["ok"], found["discrepancies"]
    report = loadtest.settle_and_verify(target, fired, drain_timeout=30)
    assert report.verified, report.problems
