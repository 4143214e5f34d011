"""Capacity arithmetic against hand-computed cases; warm throughput and throttles reach the model; preflight."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from provision_support import AWS_PLAN, LOCAL_PLAN, actions, deployer, single_region

from election.ops import capacity, data, preflight
from election.plan import CapacitySettings, PlanError, load_plan, parse_plan
from election.provision import model


def on_demand(plan: Any) -> Any:
    """The plan with its ballots table on demand (config/aws.yaml provisions it: tests/test_plan_tables.py)."""
    from election.plan_tables import TableCapacity

    return dataclasses.replace(plan, ballots_capacity=TableCapacity())


def with_capacity(plan: Any, voters: int = 1_000_000, turnout: float = 0.5, peak: int = 10_000) -> Any:
    return dataclasses.replace(plan, capacity=CapacitySettings(voters=voters, turnout=turnout, peak_votes_per_s=peak))


def east_reads(plan: Any, peak: int) -> int:
    """The busier region's lookups: 2 per vote x 0.5 unit x its share of the peak x 1.5 headroom."""
    turnout = data.turnout()
    east = sum(turnout[s] for s in plan.regions[0].states) / sum(turnout.values())
    return math.ceil(2 * peak * east * 0.5 * 1.5)


def test_one_region_needs_by_hand() -> None:
    """All states in us-east-1, 10,000 votes/s: every figure worked out on paper."""
    plan = with_capacity(single_region(load_plan(AWS_PLAN)))
    (n,) = capacity.needs(plan)
    assert n.share == pytest.approx(1.0) and n.peak_votes_per_s == pytest.approx(10_000)
    assert n.api_rps == pytest.approx(20_000)                   # ballot + vote per page vote (no health check)
    assert (n.throttle_rate, n.throttle_burst) == (30_000, 15_000)   # x1.5 headroom, burst half
    # Little's law: 20,000 enqueue calls/s x 30 ms = 600; no health checks from the page;
    # process 10,000 x 1 ms = 10; tally one per shard, 10,000 W/s / 1,000 per partition = 10.
    assert n.concurrency == {"enqueue": 600, "health": 0, "process": 10, "tally": 10}
    assert n.total_concurrency == 620
    assert n.stream_shards == 10
    # ballots: 10,000 writes/s x 1.5 = 15,000 > 4,000; reads 2 lookups x 10,000 x 0.5 unit x 1.5 = 15,000 > 12,000
    assert (n.ballots_wcu, n.ballots_rcu, n.voters_rcu) == (15_000, 15_000, 15_000)


def test_small_election_keeps_the_defaults_and_the_minimums() -> None:
    plan = with_capacity(single_region(load_plan(AWS_PLAN)), peak=100)
    (n,) = capacity.needs(plan)
    assert (n.ballots_wcu, n.ballots_rcu, n.voters_rcu) == (4_000, 12_000, 12_000)   # new-table defaults
    assert n.concurrency == {"enqueue": 6, "health": 0, "process": 2, "tally": 1}    # process: SQS minimum 2
    assert capacity.warm_throughput(plan) == {}                                       # nothing to pre-warm
    assert capacity.stage_throttle(plan, "us-east-1") == (plan.api.throttle_rate, plan.api.throttle_burst)


def test_two_regions_split_by_2016_turnout() -> None:
    plan = with_capacity(load_plan(AWS_PLAN), peak=20_000)
    turnout = data.turnout()
    east_states = plan.regions[0].states
    east = sum(turnout[s] for s in east_states) / sum(turnout.values())
    got = {n.region: n for n in capacity.needs(plan)}
    assert got["us-east-1"].share == pytest.approx(east)
    assert got["us-east-1"].share + got["us-west-2"].share == pytest.approx(1.0)
    assert got["us-east-1"].concurrency["enqueue"] == math.ceil(2 * 20_000 * east * 0.030)
    # Every replica of the ballots table takes every ballot: both regions need the national write rate.
    assert got["us-east-1"].ballots_wcu == got["us-west-2"].ballots_wcu == 30_000


def test_cost_per_million_by_hand() -> None:
    """One region (no replicated writes), 256 MB arm64, mix batches of 500, tally batches of 1,000."""
    plan = on_demand(with_capacity(single_region(load_plan(AWS_PLAN))))
    assert plan.secrecy.batch_size == 500 and plan.lambda_.memory_mb == 256
    gb_s = 0.25 * (2 * 0.030 + 0.001 + 0.150 / 1000)              # ballot + vote; no health check
    tally_items = 51 + 1                                          # every state's counter + the checkpoint
    usd = (2 * 1.00 + (2 + 0.002 + 0.001) * 0.20 + gb_s * 1e6 * 0.0000133334 + (1 + 0.2) * 0.40
           + 2 * 0.125 + (1 + 2 * tally_items / 1000) * 0.625)
    c = capacity.costs(plan, {"kms_key": 1, "secret": 2, "alarm": 10, "dashboard": 1})
    assert c.per_million_votes == pytest.approx(usd)
    assert c.election == pytest.approx(usd / 1e6 * 500_000)
    storage = (1_000_000 * 100 + 500_000 * 300) / 1024 ** 3 * (0.25 + 0.20)
    assert c.monthly_fixed == pytest.approx(1.00 + 2 * 0.40 + 10 * 0.10 + 3.00 + storage)


def test_replicated_writes_counted_per_other_region() -> None:
    one = capacity.vote_units(single_region(load_plan(AWS_PLAN)))
    two = capacity.vote_units(load_plan(AWS_PLAN))
    assert one["rwru"] == 0
    assert two["rwru"] == pytest.approx(1 + 33 / 1000)   # the ballot + the busier region's 32 counters + checkpoint


def test_model_prewarms_the_primary_table_and_raises_the_stage_throttle() -> None:
    plan = on_demand(with_capacity(load_plan(AWS_PLAN), peak=20_000))
    res = {(r.region, r.kind, r.name): r.props for r in model.desired(plan)}
    ballots = res[("us-east-1", "table", f"{plan.name}-ballots")]
    assert ballots["warm_throughput"] == {"read": east_reads(plan, 20_000), "write": 30_000}
    assert "warm_throughput" not in res[("us-west-2", "table", f"{plan.name}-ballots")]   # a replica follows
    assert "warm_throughput" not in res[("us-east-1", "table", f"{plan.name}-results")]
    stage = next(p for (region, kind, _), p in res.items() if kind == "api_stage" and region == "us-east-1")
    need = {n.region: n for n in capacity.needs(plan)}["us-east-1"]
    assert (stage["throttle_rate"], stage["throttle_burst"]) == (need.throttle_rate, need.throttle_burst)


@pytest.mark.parametrize(("section", "message"), [
    ({"turnout": 0.5}, "capacity.voters: this key is required"),
    ({"voters": 10, "turnout": 0}, "capacity.turnout: 0 is out of range"),
    ({"voters": 10, "turnout": "most"}, "capacity.turnout: must be a fraction"),
    ({"voters": 10, "peak_votes_per_s": 0}, "capacity.peak_votes_per_s: 0 is out of range"),
    ({"voters": 10, "peak": 5}, "capacity.peak: unknown key (allowed: peak_votes_per_s, turnout, voters)"),
])
def test_bad_capacity_is_one_sentence_naming_the_field(section: dict, message: str) -> None:
    raw = yaml.safe_load(AWS_PLAN.read_text())
    raw["capacity"] = section
    with pytest.raises(PlanError, match=re.escape(message)):
        parse_plan(raw, "p.yaml")


def test_preflight_says_what_to_request_and_assumes_defaults_it_cannot_read() -> None:
    plan = with_capacity(load_plan(AWS_PLAN), peak=20_000)
    clients = {}
    for region in plan.region_names:
        client = boto3.client("service-quotas", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
        stub = Stubber(client)
        if region == "us-east-1":   # an account that raised Lambda, not the API throttle
            stub.add_response("get_service_quota", {"Quota": {"Value": 5000.0}},
                              {"ServiceCode": "lambda", "QuotaCode": "L-B99A9384"})
            stub.add_response("get_service_quota", {"Quota": {"Value": 10000.0}},
                              {"ServiceCode": "apigateway", "QuotaCode": "L-8A5B8E43"})
        else:                       # nothing readable: AWS's documented defaults
            for service, code in (("lambda", "L-B99A9384"), ("apigateway", "L-8A5B8E43")):
                stub.add_client_error("get_service_quota", "NoSuchResourceException")
                stub.add_client_error("get_aws_default_service_quota", "NoSuchResourceException")
        stub.activate()
        clients[region] = client
    found = {(c.region, c.code): c for c in preflight.checks(plan, clients.__getitem__)}
    need = {n.region: n for n in capacity.needs(plan)}
    east_lambda = found[("us-east-1", "L-B99A9384")]
    assert east_lambda.ok and "nothing to request" in east_lambda.sentence()
    east_api = found[("us-east-1", "L-8A5B8E43")]
    assert not east_api.ok
    assert east_api.sentence() == (f"us-east-1: request API Gateway throttle rate (L-8A5B8E43) from 10,000 to at least "
                                   f"{need['us-east-1'].throttle_rate:,} in Service Quotas before election day.")
    west = found[("us-west-2", "L-B99A9384")]
    assert west.assumed and west.have == 1000
    assert "AWS's default" in west.sentence()


@pytest.fixture
def moto() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def test_up_prewarms_the_tables_and_a_second_up_changes_nothing(moto: None) -> None:
    """moto 5.2.5 stores WarmThroughput from CreateTable/UpdateTable (AWS: raised, never lowered)."""
    plan = with_capacity(load_plan(LOCAL_PLAN), peak=20_000)
    d = deployer(plan, edge=False)
    d.apply()
    for region in plan.region_names:
        wt = boto3.client("dynamodb", region_name=region).describe_table(
            TableName=f"{plan.name}-ballots")["Table"]["WarmThroughput"]
        assert (wt["ReadUnitsPerSecond"], wt["WriteUnitsPerSecond"]) == (east_reads(plan, 20_000), 30_000)
    assert actions(d.diff()) == {"noop": len(d.resources)}
