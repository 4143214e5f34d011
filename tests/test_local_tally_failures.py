"""A tally that keeps failing, end to end on the local stack with IAM enforced: the stream poller gives up
after the mapping's retries and sends the batch's location to the tally-failures queue as the tally's role
(so that role's sqs:SendMessage is what makes it work); `dlq list` shows it, `audit` fails, and once the
fault is fixed `recount` counts the ballots and `audit` is clean."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import FailingRole, local_plan_with, run_cli

from election.local import mappings
from election.local.stack import LocalStack
from election.ops import loadtest, state
from election.ops.seed import read_credentials, seed_voters
from election.ops.target import Target

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


def _raise(event: dict) -> Any:
    raise RuntimeError("tally fault injected by the test")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tallyfail")


@pytest.fixture(scope="module")
def fault() -> FailingRole:
    """While on, the tally fails every batch (a bug in a release, a table that refuses...)."""
    return FailingRole("tally", _raise)


@pytest.fixture(scope="module")
def stack(home: Path, fault: FailingRole) -> Iterator[LocalStack]:
    plan = local_plan_with(home / "plan.yaml", **{"lambda": {"timeout_s": 1}, "queue": {"visibility_timeout_s": 2}})
    with pytest.MonkeyPatch.context() as mp:
        real = mappings._failure_limits

        def limited(*args: Any) -> dict[str, Any]:   # AWS gets 50 retries; a test need not wait for them
            got = real(*args)
            return {**got, "max_retries": 3} if got else got
        mp.setattr(mappings, "_failure_limits", limited)
        with LocalStack(plan, state_dir=home / ".election", health_interval_s=0.5,
                        handler_factory=fault.factory) as s:
            yield s


def run(cwd: Path, *args: str) -> tuple[int, Any]:
    return run_cli(*args, cwd=cwd)


def test_a_tally_that_keeps_failing_is_reported_audited_and_recounted(stack: LocalStack, fault: FailingRole,
                                                                      home: Path) -> None:
    target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
    seed_voters(target, home / "voters.csv", 30)
    voters = read_credentials(home / "voters.csv")
    fault.on.set()
    fired = loadtest.fire(target, voters, stack.endpoints["router"], votes=8, rate=50, concurrency=4, seed=3,
                          ledger=home / "receipts.jsonl")
    assert fired.report.by_kind["vote"] == {"202": 8}
    failures = target.names.tally_failures
    deadline = time.monotonic() + 90
    given_up = 0
    while time.monotonic() < deadline:
        given_up = sum(qs[failures] for qs in state.queue_depths(target).values())
        ballots = sum(sum(c.own.values()) for c in state.count_all_ballots(target).values()) if given_up else 0
        if given_up and ballots >= 8:
            break
        time.sleep(0.5)
    assert given_up >= 1
    fault.on.clear()

    code, listed = run(home, "dlq", "list", "--json")
    reports = [d for d in listed if d["queue"] == failures]
    assert code == 0 and len(reports) >= given_up
    assert all(d["batch"]["batchSize"] >= 1 and d["batch"]["streamArn"] for d in reports)
    assert not any(vid in json.dumps(listed) for vid, _ in voters)     # a location, never a voter or a ballot
    code, found = run(home, "audit", "--no-wait", "--json")
    assert code == 1 and any("gave up on" in d for d in found["discrepancies"]), found

    # The given-up batch's ballots never become "counted" by waiting: recount sees the report and does not
    # wait out its drain timeout (300 s, longer than run()'s own timeout).
    code, out = run(home, "recount")
    assert code == 0 and "recounting without waiting" in " ".join(out.split()), out
    code, found = run(home, "audit", "--json", "--receipts", str(home / "receipts.jsonl"))
    assert code == 0 and found["ok"], found["discrepancies"]
