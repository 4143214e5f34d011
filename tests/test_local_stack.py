"""End to end on the local stack: the real deployer and handlers, votes over HTTP through the router."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from stack_support import local_plan_with

from election.errors import ElectionError
from election.local.stack import LocalStack
from election.ops import audit as audit_mod
from election.ops import state
from election.ops.cast import cast_votes
from election.ops.seed import seed_voters
from election.ops.target import Target
from election.statedir import read_endpoints

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*ServiceUnavailable does not match")]
ROOT = Path(__file__).resolve().parents[1]


def fast_plan(tmp: Path) -> Path:
    """config/local.yaml with short timeouts, so redeliveries in the failover drill take seconds."""
    return local_plan_with(tmp / "fast.yaml", **{"lambda": {"timeout_s": 1},
                                                 "queue": {"visibility_timeout_s": 2, "max_receives": 10}})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("local")
    with LocalStack(fast_plan(tmp), state_dir=tmp / "state", health_interval_s=0.3) as s:
        yield s


@pytest.fixture(scope="module")
def target(stack: LocalStack) -> Target:
    return Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)


@pytest.fixture(scope="module")
def voters(stack: LocalStack, target: Target, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    out = tmp_path_factory.mktemp("voters") / "voters.csv"
    seed_voters(target, out, 120)
    from election.ops.seed import read_credentials
    return read_credentials(out)


def get(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, json.loads(r.read())


def results(stack: LocalStack, expect_total: int | None = None, timeout: float = 5.0) -> Any:
    """GET /results through the router; the handler caches for a second, so wait out a stale answer."""
    deadline = time.monotonic() + timeout
    while True:
        got = get(stack.endpoints["router"] + "/results")[1]
        if expect_total is None or got["total"] == expect_total or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def homed(stack: LocalStack, voters: list[tuple[str, str]], region: str) -> list[tuple[str, str]]:
    homes = stack.plan.state_regions()
    return [v for v in voters if homes[v[1]] == region]


def test_endpoints_file_names_every_service(stack: LocalStack) -> None:
    found = read_endpoints(stack.state_dir)
    assert found == stack.endpoints
    assert set(found["regions"]) == {"us-east-1", "us-west-2"}
    for url in [found["router"], *found["regions"].values()]:
        assert get(url + "/health")[0] == 200
    _, config = get(found["website"] + "config.json")
    assert config["api"][0] == found["router"] and config["states"]["UT"] == "us-west-2"


def test_second_stack_on_the_same_state_dir_is_refused(stack: LocalStack) -> None:
    with pytest.raises(ElectionError, match="already running"):
        LocalStack(stack.plan_path, state_dir=stack.state_dir).start()


def test_replication_makes_the_roll_visible_in_every_region(stack: LocalStack, target: Target,
                                                             voters: list[tuple[str, str]]) -> None:
    assert stack.wait_idle(30)
    east = {i["vk"] for i in state.scan(target, "us-east-1", target.names.voters)}
    west = {i["vk"] for i in state.scan(target, "us-west-2", target.names.voters)}
    assert len(east) == len(voters) and east == west
    # and the seeder wrote each voter only to its home region: the other copy came from the replicator
    assert stack.replicator is not None and stack.replicator.replicated >= len(voters)


def test_votes_through_the_router_are_counted(stack: LocalStack, target: Target,
                                              voters: list[tuple[str, str]]) -> None:
    batch = voters[:40]
    report = cast_votes(stack.endpoints["router"], stack.plan, batch, concurrency=4, seed=1)
    assert report.statuses == {202: 40}
    assert stack.wait_idle(30)
    results_now = results(stack, 40)
    assert results_now["total"] == 40
    for (st, cand), n in report.accepted.items():
        assert results_now["states"][st]["candidates"][cand] >= n
    expected: dict[str, int] = {}
    for (_, cand), n in report.accepted.items():
        expected[cand] = expected.get(cand, 0) + n
    assert {c: n for c, n in results_now["candidates"].items() if n} == expected
    # each home region's tally keeps its checkpoint under the stream's real shard id, as on AWS
    for region, out in stack.outputs["regions"].items():
        items = stack.provider.client("dynamodb", region).scan(TableName=out["tables"]["results"])["Items"]
        own = [i["pk"]["S"] for i in items if i["pk"]["S"].startswith(f"checkpoint#{region}#")]
        assert own and all("#shardId-" in pk for pk in own), own
    # a second vote by the same voters is refused and changes nothing
    again = cast_votes(stack.endpoints["router"], stack.plan, batch[:5], concurrency=2, seed=2)
    assert again.statuses == {409: 5}


def test_failover_keeps_votes_in_the_hand_off_queue_until_the_home_region_is_back(
        stack: LocalStack, target: Target, voters: list[tuple[str, str]]) -> None:
    east_voters = homed(stack, voters[40:], "us-east-1")[:20]
    west_voters = homed(stack, voters[40:], "us-west-2")[:10]
    assert stack.wait_idle(30)
    before = results(stack)["total"]
    stack.region_down("us-east-1")
    try:
        stack.router.wait_checked(5)
        assert stack.health()["us-east-1"]["healthy"] is False
        report = cast_votes(stack.endpoints["router"], stack.plan, east_voters + west_voters, concurrency=4, seed=3)
        assert report.statuses == {202: 30}
        assert report.regions == {"us-west-2": 30}
        assert stack.wait_idle(30)   # west's own votes are done; east's wait in west's hand-off queue
        assert state.queue_depth(target, "us-west-2", target.names.handoff_queue) == 20
        assert results(stack, before + 10)["total"] == before + 10
    finally:
        stack.region_up("us-east-1")
    assert stack.wait_idle(60)
    stack.router.wait_checked(5)
    assert stack.health()["us-east-1"]["healthy"] is True
    assert results(stack, before + 30)["total"] == before + 30          # none lost, none doubled
    verdict = audit_mod.audit(target, report.receipts)
    assert verdict.ok, verdict.discrepancies
