"""The engine on fake kinds (no AWS): dependency order, parallel regions, failures, diff, reverse destroy."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from provision_support import AWS_PLAN, actions

from election.lambdas import contract
from election.plan import load_plan
from election.provision.clients import ClientProvider
from election.provision.engine import Action, Deployer
from election.provision.kinds import REGISTRY
from election.provision.resources import Actual, Change, Found, Resource
from election.provision.walk import topological

CORE = [k for k in REGISTRY if k in ("kms_key", "secret", "resource_policy", "table", "table_scaling", "queue",
                                     "log_group", "iam_role",
                                     "lambda_function", "event_source_mapping")]


class World:
    """An in-memory cloud shared by the fake kinds; records every mutating call in order."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.fail_on: set[str] = set()


class FakeKind:
    def __init__(self, name: str, world: World) -> None:
        self.name = name
        self.world = world

    def _outputs(self, key: str) -> dict[str, Any]:
        return {a: f"{a}:{key}" for a in ("arn", "url", "stream_arn", "key_id", "uuid", "name")}

    def read(self, ctx: Any, res: Resource) -> Actual | None:
        found = self.world.items.get(res.key)
        return None if found is None else Actual(dict(found), self._outputs(res.key))

    def create(self, ctx: Any, res: Resource) -> dict[str, Any]:
        if res.key in self.world.fail_on:
            raise RuntimeError(f"boom {res.key}")
        with self.world.lock:
            self.world.log.append(("create", res.key))
            self.world.items[res.key] = {k: v for k, v in res.props.items() if not k.startswith("_")}
        return self._outputs(res.key)

    def update(self, ctx: Any, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        with self.world.lock:
            self.world.log.append(("update", res.key))
            for c in changes:
                self.world.items[res.key][c.field] = c.new
        return actual.outputs

    def delete(self, ctx: Any, found: Found) -> None:
        with self.world.lock:
            self.world.log.append(("delete", found.key))
            self.world.items.pop(found.key, None)

    def discover(self, ctx: Any, region: str) -> list[Found]:
        kind, out = self.name, []
        for key in list(self.world.items):
            r, k, name = key.split("/", 2)
            if r == region and k == kind:
                out.append(Found(kind, region, name, self._outputs(key)))
        return out


class BarrierKms(FakeKind):
    """Creating a key waits until the other region's key is being created too: proves regions run in parallel."""

    def __init__(self, world: World) -> None:
        super().__init__("kms_key", world)
        self.barrier = threading.Barrier(2, timeout=5)

    def create(self, ctx: Any, res: Resource) -> dict[str, Any]:
        self.barrier.wait()
        return super().create(ctx, res)


def make(world: World, **overrides: FakeKind) -> Deployer:
    registry = {name: overrides.get(name) or FakeKind(name, world) for name in CORE}
    d = Deployer(load_plan(AWS_PLAN), ClientProvider(), sleep=lambda s: None, registry=registry, edge=False)
    d.ctx._identity = {"account_id": "123456789012", "partition": "aws"}
    return d


def test_every_resource_is_created_after_everything_it_depends_on() -> None:
    world = World()
    d = make(world)
    d.apply()
    position = {key: i for i, (_, key) in enumerate(world.log)}
    assert len(position) == len(d.resources)
    for key, deps in d.deps.items():
        assert all(position[dep] < position[key] for dep in deps), key
    env = world.items["us-west-2/lambda_function/election-2026-enqueue"]["environment"]
    assert json.loads(env[contract.ENV_VOTES_QUEUE_URLS]) == {
        r: f"url:{r}/queue/election-2026-votes" for r in ("us-east-1", "us-west-2")}


def test_regions_are_applied_in_parallel() -> None:
    world = World()
    d = make(world, kms_key=BarrierKms(world))
    d.apply()  # would raise BrokenBarrierError if the two keys were created one after the other
    assert sum(1 for a, k in world.log if "/kms_key/" in k) == 2


def test_a_failure_stops_what_depends_on_it_and_is_raised() -> None:
    world = World()
    world.fail_on.add("us-west-2/queue/election-2026-votes-dlq")
    d = make(world)
    with pytest.raises(RuntimeError, match="boom"):
        d.apply()
    assert "us-west-2/queue/election-2026-votes" not in world.items
    assert "us-west-2/lambda_function/election-2026-enqueue" not in world.items
    assert "us-east-1/lambda_function/election-2026-enqueue" not in world.items, "it sends to us-west-2's queue"
    world.fail_on.clear()
    make(world).apply()
    assert actions(make(world).diff()) == {"noop": len(d.resources)}


def test_diff_is_field_level_and_apply_touches_only_what_differs() -> None:
    world = World()
    make(world).apply()
    world.items["us-east-1/queue/election-2026-votes"]["visibility_timeout_s"] = 5
    world.log.clear()
    d = make(world)
    result = d.diff()
    (step,) = [s for s in result.steps if s.action != "noop"]
    assert (step.key, [(c.field, c.old, c.new) for c in step.changes]) == (
        "us-east-1/queue/election-2026-votes", [("visibility_timeout_s", 5, 360)])
    assert world.log == []
    d.apply()
    assert world.log == [("update", "us-east-1/queue/election-2026-votes")]


def _deleted_after_its_dependents(d: Deployer, log: list[tuple[str, str]]) -> None:
    position = {key: i for i, (action, key) in enumerate(log) if action == "delete"}
    for key, deps in d.deps.items():
        for dep in deps:
            if key in position and dep in position:
                assert position[key] < position[dep], f"{dep} was deleted before {key}, which depends on it"


def test_destroy_walks_the_dependency_graph_backwards() -> None:
    world = World()
    d = make(world)
    d.apply()
    world.log.clear()
    d.destroy(destroy_data=True)  # the ballots guard reads AWS; it is tested on moto
    _deleted_after_its_dependents(d, world.log)
    tables = [k for _, k in world.log if "/table/" in k]
    for which in ("voters", "ballots", "results"):
        replica, primary = (tables.index(f"{r}/table/election-2026-{which}") for r in ("us-west-2", "us-east-1"))
        assert replica < primary, f"the {which} replica goes before its primary table"
    assert world.items == {}


def test_destroy_order_comes_from_the_graph_not_the_registry() -> None:
    """Registered the wrong way round (keys and roles first), kinds are still deleted after their users."""
    world = World()
    make(world).apply()
    world.log.clear()
    backwards = {name: FakeKind(name, world) for name in reversed(CORE)}
    d = Deployer(load_plan(AWS_PLAN), ClientProvider(), sleep=lambda s: None, registry=backwards, edge=False)
    d.ctx._identity = {"account_id": "123456789012", "partition": "aws"}
    d.destroy(destroy_data=True)
    _deleted_after_its_dependents(d, world.log)
    kinds = [k.split("/")[1] for _, k in world.log]
    assert kinds.index("lambda_function") < max(i for i, k in enumerate(kinds) if k == "kms_key")
    assert kinds[-1] in ("kms_key", "secret") and world.items == {}


def test_what_left_the_plan_goes_first_by_kind_rank_then_the_graph() -> None:
    world = World()
    d = make(world)
    d.apply()
    # A region the plan no longer has, recorded on this plan's keys (how `down` finds removed regions).
    gone = ["eu-west-1/kms_key/alias/election-2026", "eu-west-1/queue/election-2026-votes",
            "eu-west-1/lambda_function/election-2026-process"]
    for key in gone:
        world.items[key] = {}
    world.items["us-east-1/kms_key/alias/election-2026"]["regions"] = ["eu-west-1"]
    d.registry["kms_key"] = RegionsKms(world)
    world.log.clear()
    d.destroy(destroy_data=True)
    deleted = [k for _, k in world.log]
    assert deleted[:3] == [gone[2], gone[1], gone[0]], "function, then queue, then key (reverse registration)"
    _deleted_after_its_dependents(d, world.log)
    assert world.items == {}


class RegionsKms(FakeKind):
    """Keys report the regions recorded on them (the real kind reads its tag)."""

    def __init__(self, world: World) -> None:
        super().__init__("kms_key", world)

    def _outputs(self, key: str) -> dict[str, Any]:
        return {**super()._outputs(key), "regions": self.world.items.get(key, {}).get("regions", [])}


def test_a_failed_read_names_the_resource() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    from election.errors import ElectionError

    class Failing(FakeKind):
        def __init__(self, world: World, exc: Exception) -> None:
            super().__init__("queue", world)
            self.exc = exc

        def read(self, ctx: Any, res: Resource) -> Actual | None:
            if res.key == "us-west-2/queue/election-2026-votes":
                raise self.exc
            return super().read(ctx, res)

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetQueueAttributes")
    for exc, says in ((denied, "AWS denied GetQueueAttributes"),
                      (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "Cannot reach")):
        world = World()
        make(world).apply()
        with pytest.raises(ElectionError) as info:
            make(world, queue=Failing(world, exc)).diff()
        assert str(info.value).startswith("Could not read us-west-2/queue/election-2026-votes: " + says)
    world = World()
    make(world).apply()
    with pytest.raises(KeyError) as bug:   # a bug keeps its traceback, with a note naming the step
        make(world, queue=Failing(world, KeyError("QueueUrl"))).diff()
    assert "while trying to read us-west-2/queue/election-2026-votes" in bug.value.__notes__


def test_actions_are_typed_and_serialise_as_words() -> None:
    world = World()
    result = make(world).diff()
    assert {s.action for s in result.steps} == {Action.CREATE}
    assert result.to_json()[0]["action"] == "create" and json.dumps(result.to_json())


def test_cycles_are_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological({"a": {"b"}, "b": {"c"}, "c": {"a"}})
