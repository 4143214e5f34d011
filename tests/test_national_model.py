"""bench/national.py follows the plan's ballots-table mode: provisioned capacity is billed per hour, and a write
rate above the provisioned capacity waits in the votes queue while auto scaling catches up (it is not written
at once, nor lost)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import national
import national_tables

from election.ops import prices
from election.plan import Plan, load_plan
from election.plan_tables import TableCapacity

WINDOW_S = 300   # config/aws.yaml's mixing window


def _plan(**units: int) -> Plan:
    plan = load_plan(ROOT / "config" / "aws.yaml")
    assert plan.secrecy.window_s == WINDOW_S
    cap = TableCapacity(mode="provisioned", target_percent=70, **units) if units else TableCapacity()
    return dataclasses.replace(plan, ballots_capacity=cap)


def _day(plan: Plan, rate: float, seconds: int, quiet: int = 1800) -> national.Hour:
    """One bucket: `rate` votes/s nationally (split evenly over the regions) for `seconds`, then `quiet` idle."""
    arr = {r: [rate / len(plan.regions)] * seconds + [0.0] * quiet for r in plan.region_names}
    p = dataclasses.replace(national.AWS, bucket_s=10**9)
    lim = national.Limits(stage_rps=10_000, warm_wcu=40_000)
    hours = national.run_model(plan, lim, arr, p, until=seconds + quiet)
    assert list(hours) == [0]
    return hours[0]


def test_provisioned_capacity_is_billed_per_hour_not_per_request() -> None:
    plan = _plan(write_min=1000, write_max=10_000, read_min=1000, read_max=10_000)
    light, heavy = _day(plan, 50, 1800), _day(plan, 200, 1800)     # both well under the minimums
    assert light.turned_away == heavy.turned_away == 0 and heavy.accepted == pytest.approx(4 * light.accepted)
    hourly = 1000 * 2 * prices.DYNAMODB_WCU_HOUR + 1000 * 2 * prices.DYNAMODB_RCU_HOUR   # two regions at the minimums
    for h in (light, heavy):
        assert h.wcu == 1000
        assert h.capacity_usd == pytest.approx(hourly * h.seconds / 3600)   # the same whatever the votes
    # The ballots table's write, its replica's and its lookups leave the per-vote price...
    per_request = prices.per_request("dynamodb_wru") + prices.per_request("dynamodb_replicated_wru") \
        + national_tables.READ_UNITS * prices.per_request("dynamodb_rru")
    assert national.per_vote_usd(plan) == pytest.approx(national.per_vote_usd(_plan()) - per_request)
    # ...so three times more votes add only the other services' requests, no table capacity.
    extra = heavy.bill - light.bill
    assert extra == pytest.approx((heavy.accepted - light.accepted) * national.per_vote_usd(plan))


def test_writes_above_the_provisioned_capacity_wait_in_the_queue_until_auto_scaling_catches_up() -> None:
    rate = 1500                                        # votes/s nationally: 2,143 WCU wanted at 70 %
    provisioned = _day(_plan(write_min=500, write_max=10_000, read_min=5000, read_max=10_000), rate, 1800)
    assert provisioned.turned_away == 0 and provisioned.read_throttled == 0   # every voter was accepted...
    assert provisioned.ddb_throttled > 0                                      # ...but writes were throttled,
    assert provisioned.max_age > WINDOW_S + 60                                # so ballots waited in the queue
    assert provisioned.wcu >= rate / 0.7                                      # until auto scaling added enough
    on_demand = _day(_plan(), rate, 1800)                                     # the same day on demand: no wait
    assert on_demand.ddb_throttled == 0 and on_demand.max_age <= WINDOW_S
    assert provisioned.accepted == pytest.approx(on_demand.accepted)          # and no vote lost either way


def test_auto_scaling_reacts_only_after_two_minutes_over_the_target_and_then_by_at_most_one_over_target() -> None:
    dim = national_tables.AutoScaled(units=1000, minimum=1000, maximum=40_000, target=0.7)
    t = 0
    while t < 120:                                    # throttled: consumed == provisioned, utilization 100 %
        assert dim.now(t) == 1000
        dim.consume(t, dim.now(t), 5)
        t += 5
    assert dim.pending is not None
    when, units = dim.pending
    assert when >= 120 + national_tables.ACTION_LAG_S and units == pytest.approx(1000 / 0.7, abs=1)
    assert dim.now(when - 5) == 1000 and dim.now(when) == units
    table = national_tables.ProvisionedTable(_plan(write_min=1000, write_max=2000, read_min=1000, read_max=2000))
    assert table.serve(0, 4000, 5) == pytest.approx(0.25)    # 4,000 writes/s wanted, 1,000 WCU: a quarter written


def test_a_minimum_above_the_maximum_is_one_sentence_and_no_run() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "bench/national.py", "--write-min", "50000"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == "--write-min 50,000 is above the write maximum (40,000): raise --write-max too."
