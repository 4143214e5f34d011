"""seed-voters: minting, the credential file, and loading every voter exactly once despite faults."""

from __future__ import annotations

import hashlib
import hmac
import random
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from election.errors import ElectionError
from election.lambdas.contract import VOTER_ID_RE, VOTERS_KEY, canonical_voter_id
from election.ops import data
from election.ops.sandbox import create_data_resources
from election.ops.seed import Checkpoint, allocate, generate_voters, read_credentials, seed_voters
from election.ops.target import Target
from election.plan import STATES, load_plan
from election.provision.clients import ClientProvider

PLAN = Path(__file__).resolve().parents[1] / "config" / "local.yaml"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


class Crash(Exception):
    """Stands in for the process dying mid-load."""


class FaultyDynamo:
    """Wraps a real client: processes only part of each batch, throttles some calls, may crash."""

    def __init__(self, real: Any, writes: Counter[str], rng: random.Random, crash_after: int | None,
                 lock: threading.Lock) -> None:
        self.real, self.writes, self.rng, self.crash_after, self.lock = real, writes, rng, crash_after, lock
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, list[dict]]) -> dict:
        with self.lock:
            self.calls += 1
            if self.crash_after is not None and self.calls > self.crash_after:
                raise Crash("killed")
            roll = self.rng.random()
        if roll < 0.2:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                              "BatchWriteItem")
        (table, items), = RequestItems.items()
        keep = max(1, len(items) // 2) if roll < 0.7 else len(items)
        done, left = items[:keep], items[keep:]
        self.real.batch_write_item(RequestItems={table: done})
        with self.lock:
            for it in done:
                self.writes[it["PutRequest"]["Item"][VOTERS_KEY]["S"]] += 1
        return {"UnprocessedItems": {table: left} if left else {}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class FaultyProvider(ClientProvider):
    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__()
        self.writes: Counter[str] = Counter()
        self.rng = random.Random(7)
        self.crash_after = crash_after
        self.flock = threading.Lock()
        self.wrapped: dict[str, FaultyDynamo] = {}

    def client(self, service: str, region: str) -> Any:
        real = super().client(service, region)
        if service != "dynamodb":
            return real
        if region not in self.wrapped:
            self.wrapped[region] = FaultyDynamo(real, self.writes, self.rng, self.crash_after, self.flock)
        return self.wrapped[region]


def roll(target: Target) -> dict[str, str]:
    """Every voters item in every region: key -> state (also asserts no key sits in two regions)."""
    out: dict[str, str] = {}
    for region in target.plan.region_names:
        pages = target.client("dynamodb", region).get_paginator("scan").paginate(TableName=target.names.voters)
        for page in pages:
            for item in page["Items"]:
                key = item[VOTERS_KEY]["S"]
                assert key not in out, "a voter was loaded into two regions"
                out[key] = item["state"]["S"]
    return out


def expected_roll(target: Target, path: Path, pepper_hex: str) -> dict[str, str]:
    return {hmac.new(bytes.fromhex(pepper_hex), vid.encode(), hashlib.sha256).hexdigest(): st
            for vid, st in read_credentials(path)}


def test_allocation_follows_turnout_exactly() -> None:
    split = allocate(10_000, data.turnout())
    assert sum(split.values()) == 10_000
    total = sum(data.turnout().values())
    for state, votes in data.turnout().items():
        assert abs(split[state] - 10_000 * votes / total) < 1
    assert split["CA"] > split["TX"] > split["WY"]


def test_voter_ids_are_unique_canonical_and_states_complete() -> None:
    voters = generate_voters(2000)
    ids = [v for v, _ in voters]
    assert len(set(ids)) == 2000
    assert all(VOTER_ID_RE.match(v) and canonical_voter_id(v.lower()) == v for v in ids)
    assert Counter(s for _, s in voters) == Counter(allocate(2000, data.turnout()))
    assert {s for _, s in voters} <= set(STATES)


def test_seed_writes_private_credentials_and_home_region_only(aws: None, tmp_path: Path) -> None:
    target = Target(load_plan(PLAN), ClientProvider())
    peppers = create_data_resources(target)
    out = tmp_path / "voters.csv"
    report = seed_voters(target, out, 600, replication_timeout=0)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert report.voters == report.loaded_now == 600 and report.already_loaded == 0
    expected = expected_roll(target, out, peppers[target.names.voter_pepper])
    assert roll(target) == expected
    homes = target.plan.state_regions()
    for region in target.plan.region_names:
        items = target.client("dynamodb", region).scan(TableName=target.names.voters)["Items"]
        assert all(homes[i["state"]["S"]] == region for i in items)
        assert report.per_region[region] == len(items)


def test_unprocessed_items_and_throttling_load_every_voter_exactly_once(aws: None, tmp_path: Path) -> None:
    provider = FaultyProvider()
    target = Target(load_plan(PLAN), provider)
    peppers = create_data_resources(target)
    out = tmp_path / "voters.csv"
    report = seed_voters(target, out, 1000, sleep=lambda s: None, replication_timeout=0)
    expected = expected_roll(target, out, peppers[target.names.voter_pepper])
    assert report.retries > 20                       # the faults really happened
    assert roll(target) == expected
    assert set(provider.writes) == set(expected)
    assert max(provider.writes.values()) == 1        # nothing written twice, nothing dropped


def test_killed_mid_way_then_resumed_loads_every_voter_exactly_once(aws: None, tmp_path: Path) -> None:
    crashing = FaultyProvider(crash_after=80)
    target = Target(load_plan(PLAN), crashing)
    peppers = create_data_resources(target)
    out = tmp_path / "voters.csv"
    with pytest.raises(Crash):
        seed_voters(target, out, 1500, workers=4, sleep=lambda s: None, replication_timeout=0)
    minted = out.read_bytes()
    partial = roll(target)
    assert 0 < len(partial) < 1500
    assert Checkpoint.for_credentials(out).exists()

    with pytest.raises(ElectionError, match="already exists"):
        seed_voters(Target(load_plan(PLAN), ClientProvider()), out, 1500)
    resumed = FaultyProvider()
    report = seed_voters(Target(load_plan(PLAN), resumed), out, None, resume=True, sleep=lambda s: None,
                         replication_timeout=0)
    assert out.read_bytes() == minted                # the same voters, not a new mailing list
    assert report.already_loaded > 0 and report.already_loaded + report.loaded_now == 1500
    expected = expected_roll(target, out, peppers[target.names.voter_pepper])
    assert roll(target) == expected
    # Only batches that were in flight when the crash came are written again (same key: no duplicate).
    again = set(resumed.writes) & set(crashing.writes)
    assert len(again) <= 4 * 2 * 25
    assert set(resumed.writes) | set(crashing.writes) == set(expected)


def test_resume_without_file_or_checkpoint_is_a_clear_error(aws: None, tmp_path: Path) -> None:
    target = Target(load_plan(PLAN), ClientProvider())
    create_data_resources(target)
    with pytest.raises(ElectionError, match="--count"):
        seed_voters(target, tmp_path / "v.csv", None, replication_timeout=0)
    (tmp_path / "gone.csv.progress.json").write_text("{}")
    with pytest.raises(ElectionError, match="cannot be recovered"):
        seed_voters(target, tmp_path / "gone.csv", 10, resume=True, replication_timeout=0)


@given(count=st.integers(min_value=0, max_value=500_000),
       weights=st.dictionaries(st.sampled_from(STATES), st.integers(min_value=1, max_value=10**7), min_size=1))
def test_allocation_is_exact_and_within_one_of_proportional(count: int, weights: dict[str, int]) -> None:
    split = allocate(count, weights)
    assert sum(split.values()) == count and set(split) == set(weights)
    total = sum(weights.values())
    assert all(abs(split[s] - count * w / total) < 1 for s, w in weights.items())


def test_a_batch_that_never_makes_progress_gives_up_with_a_clear_error(aws: None, tmp_path: Path) -> None:
    class Stuck(ClientProvider):
        def client(self, service: str, region: str) -> Any:
            real = super().client(service, region)
            if service != "dynamodb":
                return real

            class Never:
                def batch_write_item(self, RequestItems: dict) -> dict:
                    return {"UnprocessedItems": RequestItems}

                def __getattr__(self, name: str) -> Any:
                    return getattr(real, name)
            return Never()

    target = Target(load_plan(PLAN), ClientProvider())
    create_data_resources(target)
    with pytest.raises(ElectionError, match=r"kept \d+ voters unprocessed after 12 attempts.*--resume"):
        seed_voters(Target(load_plan(PLAN), Stuck()), tmp_path / "v.csv", 30, sleep=lambda s: None)
    assert (tmp_path / "v.csv").exists()        # the mailing list survives for --resume


def test_seeding_waits_for_every_region_to_hold_the_roll(aws: None, tmp_path: Path) -> None:
    target = Target(load_plan(PLAN), ClientProvider())
    create_data_resources(target)
    out = tmp_path / "voters.csv"
    report = seed_voters(target, out, 200, replication_timeout=0.6)
    assert report.replicated is False          # the sandbox does not replicate: each region has only its own
    items = {r: target.client("dynamodb", r).scan(TableName=target.names.voters)["Items"]
             for r in target.plan.region_names}
    for src, its in items.items():             # play global tables
        for dst in target.plan.region_names:
            if dst != src:
                for it in its:
                    target.client("dynamodb", dst).put_item(TableName=target.names.voters, Item=it)
    again = seed_voters(target, out, None, resume=True, replication_timeout=5)
    assert again.loaded_now == 0 and again.replicated is True


def test_resume_into_a_new_deployment_loads_everything_again(aws: None, tmp_path: Path) -> None:
    target = Target(load_plan(PLAN), ClientProvider())
    peppers = create_data_resources(target)
    out = tmp_path / "voters.csv"
    assert seed_voters(target, out, 300, replication_timeout=0).loaded_now == 300
    assert seed_voters(target, out, None, resume=True, replication_timeout=0).loaded_now == 0
    for region in target.plan.region_names:      # `down` and `up` again: empty tables, a new deployment
        ddb = target.client("dynamodb", region)
        for table in (target.names.voters, target.names.ballots):
            ddb.delete_table(TableName=table)
            key = VOTERS_KEY if table == target.names.voters else "bk"
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])
    again = seed_voters(target, out, None, resume=True, replication_timeout=0)
    assert again.loaded_now == 300 and again.already_loaded == 0
    assert roll(target) == expected_roll(target, out, peppers[target.names.voter_pepper])
