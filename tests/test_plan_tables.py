"""The plan's `tables.ballots` (on demand or provisioned with auto scaling): validation and what it costs."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from election.ops import capacity, prices
from election.plan import PlanError, load_plan, parse_plan

ROOT = Path(__file__).resolve().parent.parent
F = "config/aws.yaml"
BASE = yaml.safe_load((ROOT / F).read_text())
GOOD = {"mode": "provisioned", "write_min": 5000, "write_max": 40000, "read_min": 3500, "read_max": 40000,
        "target_percent": 70}


def plan_with(ballots: Any = None, *, local: bool = False, **top: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["tables"] = {"ballots": ballots} if ballots is not None else top.pop("tables")
    if local:
        data["target"] = "local"
    data.update(top)
    return data


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("min above max", plan_with({**GOOD, "write_min": 9000, "write_max": 5000}),
     "tables.ballots.write_min: 9000 is above write_max (5000)."),
    ("read min above max", plan_with({**GOOD, "read_min": 50000}),
     "tables.ballots.read_min: 50000 is above read_max (40000)."),
    ("target too low", plan_with({**GOOD, "target_percent": 10}),
     "tables.ballots.target_percent: 10 is out of range; it must be between 20 and 90."),
    ("target too high", plan_with({**GOOD, "target_percent": 95}),
     "tables.ballots.target_percent: 95 is out of range; it must be between 20 and 90."),
    ("unknown mode", plan_with({**GOOD, "mode": "reserved"}),
     "tables.ballots.mode: 'reserved' is not one of on_demand, provisioned."),
    ("missing max", plan_with({k: v for k, v in GOOD.items() if k != "write_max"}),
     "tables.ballots.write_max: this key is required with mode: provisioned."),
    ("units on demand", plan_with({"mode": "on_demand", "write_min": 5}),
     "tables.ballots.write_min: applies only with mode: provisioned."),
    ("not a number", plan_with({**GOOD, "read_max": "lots"}),
     "tables.ballots.read_max: must be a whole number, not 'lots'."),
    ("unknown key", plan_with({**GOOD, "write_mni": 5}),
     "tables.ballots.write_mni: unknown key (allowed: mode, write_min, write_max, read_min, read_max, target_percent)."),
    ("other table", plan_with(tables={"voters": {"mode": "provisioned"}}),
     "tables.voters: unknown table; only the ballots table's capacity can be set."),
    ("local target", plan_with(GOOD, local=True),
     "tables.ballots.mode: provisioned needs target: aws (the local stack's tables are on demand)."),
    ("min under the peak", plan_with(GOOD, capacity={"voters": 230_000_000, "peak_votes_per_s": 8000}),
     ("tables.ballots.write_min: 5000 is below capacity.peak_votes_per_s (8000): every replica takes every "
     "ballot (one write unit each), and a minimum under the peak leaves votes retrying until they are "
     "dead-lettered while auto scaling catches up.")),
    ("reads under the peak", plan_with({**GOOD, "write_min": 6000}, capacity={"voters": 1000, "peak_votes_per_s": 6000}),
     ("tables.ballots.read_min: 3500 is below the busiest region's ballot lookups at capacity.peak_votes_per_s "
     "(4100 read units a second): a throttled lookup makes the voter wait for retries and skips the "
     "already-voted check.")),
]


@pytest.mark.parametrize("data,message", [(d, m) for _, d, m in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_one_sentence_naming_file_and_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(data, F)
    assert str(info.value) == f"{F}: {message}"


def test_national_plan_is_provisioned_and_the_local_plans_stay_on_demand_and_identical() -> None:
    assert load_plan(ROOT / F).ballots_capacity.provisioned
    local, packaged = ROOT / "config" / "local.yaml", ROOT / "election" / "data" / "local.yaml"
    assert local.read_bytes() == packaged.read_bytes()
    assert not load_plan(local).ballots_capacity.provisioned
    assert parse_plan(plan_with({"mode": "on_demand"}), F).ballots_capacity.mode == "on_demand"
    ok = parse_plan(plan_with(GOOD, capacity={"voters": 1000, "peak_votes_per_s": 5000}), F)
    assert ok.ballots_capacity.write_min == 5000


def test_bad_tables_section_through_the_cli_is_one_sentence_and_changes_nothing(
        aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from election.cli import main

    bad = tmp_path / "plan.yaml"
    bad.write_text((ROOT / F).read_text().replace("target_percent: 70", "target_percent: 95"))
    monkeypatch.setattr(sys, "argv", ["election", "plan", "--plan", str(bad)])
    with pytest.raises(SystemExit) as info:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert info.value.code == 1 and "Traceback" not in err
    assert f"{bad}: tables.ballots.target_percent: 95 is out of range; it must be between 20 and 90." in err


def test_provisioned_price_at_a_rate_is_the_larger_of_min_and_rate_over_target_in_every_region() -> None:
    plan = load_plan(ROOT / F)
    shares = capacity.region_shares(plan)
    p = capacity.ballots_provisioned(plan, 5000, reads_per_vote=0.5)
    assert p.wcu == 7143                        # 5,000 / 0.7, above write_min 5,000
    assert p.rcu == {r: max(3500, -(-round(s * 5000 * 0.5 * 1e6) // round(0.7 * 1e6))) for r, s in shares.items()}
    hourly = 7143 * (prices.DYNAMODB_WCU_HOUR + prices.DYNAMODB_RWCU_HOUR) + sum(p.rcu.values()) * prices.DYNAMODB_RCU_HOUR
    assert p.usd_per_hour == pytest.approx(hourly)
    assert p.usd_per_vote == pytest.approx(hourly / (5000 * 3600))
    low = capacity.ballots_provisioned(plan, 100, reads_per_vote=0.5)   # the minimum is paid for, used or not
    assert low.wcu == 5000 and set(low.rcu.values()) == {3500} and not low.capped
    assert capacity.ballots_provisioned(plan, 40000, reads_per_vote=0.5).capped   # 57,143 > write_max


def test_plan_costs_price_the_ballots_table_provisioned_and_its_minimum_monthly() -> None:
    import dataclasses

    from election.plan import CapacitySettings
    from election.plan_tables import TableCapacity

    prov = dataclasses.replace(load_plan(ROOT / F), capacity=CapacitySettings(voters=230_000_000, peak_votes_per_s=5000))
    ondemand = dataclasses.replace(prov, ballots_capacity=TableCapacity())
    a, b = capacity.costs(prov, {}), capacity.costs(ondemand, {})
    moved = (1.0 * prices.per_request("dynamodb_rru") + prices.per_request("dynamodb_wru")
             + prices.per_request("dynamodb_replicated_wru"))
    per_vote = capacity.ballots_provisioned(prov, 5000, 1.0).usd_per_vote
    assert a.per_million_votes == pytest.approx(b.per_million_votes + (per_vote - moved) * 1e6)
    assert a.per_million_votes < b.per_million_votes
    minimum = (5000 * 2 * 0.00065 + 3500 * 2 * 0.00013) * 730
    assert a.monthly_items["ballots table's provisioned minimum"] == pytest.approx(minimum)
    assert b.monthly_items["ballots table's provisioned minimum"] == 0
    assert "ballots" not in capacity.warm_throughput(dataclasses.replace(
        prov, capacity=CapacitySettings(voters=1, peak_votes_per_s=20000)))


def test_plan_capacity_view_names_the_provisioned_sizing_at_the_peak() -> None:
    import dataclasses

    from election.ops import capacity_view
    from election.plan import CapacitySettings

    plan = dataclasses.replace(load_plan(ROOT / F), capacity=CapacitySettings(voters=230_000_000, peak_votes_per_s=5000))
    text = " ".join(x for x in capacity_view.render(plan) if isinstance(x, str))
    assert "Ballots table provisioned" in text and "7,143 WCU in every region" in text
    assert "ballots table's provisioned minimum $5,409" in text
    # The assumptions behind the figures are said: the page's two requests (it sends GET /health only after
    # a failure), the ballots table priced at the peak's rate, its minimum billed monthly.
    assert "(POST /ballot + POST /votes and what follows)" in text and "health + ballot" not in text
    assert "as if every vote came at the peak" in text and "the minimum, billed whether used or not" in text
