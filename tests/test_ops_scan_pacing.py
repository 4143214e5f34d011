"""Scans of a provisioned table are paced to a share of its read capacity (election/ops/state.py).

A scan can use up a provisioned table's read capacity and throttle the voters' lookups (Amazon DynamoDB
Developer Guide, "Best practices for querying and scanning data"). moto reports no capacity to spend and
throttles nothing, so DynamoDB is a stub here: pages with the ConsumedCapacity AWS returns when asked.
"""

from __future__ import annotations

from typing import Any

import pytest

from election.ops import state


class Ddb:
    def __init__(self, mode: str, rcu: int, pages: int, units: float) -> None:
        self.mode, self.rcu, self.pages, self.units = mode, rcu, pages, units
        self.asked: dict[str, Any] = {}

    def describe_table(self, TableName: str) -> dict[str, Any]:
        pt = {"ReadCapacityUnits": self.rcu, "WriteCapacityUnits": self.rcu} if self.mode == "PROVISIONED" else {
            "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
        return {"Table": {"TableName": TableName, "BillingModeSummary": {"BillingMode": self.mode},
                          "ProvisionedThroughput": pt}}

    def get_paginator(self, op: str) -> Any:
        assert op == "scan"
        ddb = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Any:
                ddb.asked = kwargs
                for i in range(ddb.pages):
                    page: dict[str, Any] = {"Items": [{"k": {"S": str(i)}}], "Count": 1}
                    if kwargs.get("ReturnConsumedCapacity") == "TOTAL":
                        page["ConsumedCapacity"] = {"TableName": kwargs["TableName"], "CapacityUnits": ddb.units}
                    yield page
        return Pages()


class Target:
    def __init__(self, ddb: Ddb) -> None:
        self.ddb = ddb

    def client(self, service: str, region: str) -> Ddb:
        return self.ddb


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake clock: sleeping advances it; returns the sleeps."""
    now, slept = [1000.0], []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    monkeypatch.setattr(state.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(state.time, "sleep", sleep)
    return slept


def test_a_scan_of_a_provisioned_table_uses_at_most_its_share_of_the_read_capacity(clock: list[float]) -> None:
    ddb = Ddb("PROVISIONED", rcu=100, pages=4, units=50.0)   # 200 units at 25 units/s: 8 s
    items = list(state.scan(Target(ddb), "us-east-1", "p-ballots"))  # type: ignore[arg-type]
    assert len(items) == 4 and ddb.asked["ReturnConsumedCapacity"] == "TOTAL" and ddb.asked["ConsistentRead"]
    assert sum(clock) == pytest.approx(4 * 50.0 / (state.SCAN_SHARE * 100))
    assert state.count_items(Target(ddb), "us-east-1", "p-ballots") == 4  # type: ignore[arg-type]
    assert sum(clock) == pytest.approx(2 * 4 * 50.0 / (state.SCAN_SHARE * 100))


def test_a_scan_of_an_on_demand_table_is_not_paced(clock: list[float]) -> None:
    ddb = Ddb("PAY_PER_REQUEST", rcu=0, pages=4, units=50.0)
    assert len(list(state.scan(Target(ddb), "us-east-1", "p-ballots"))) == 4  # type: ignore[arg-type]
    assert clock == [] and "ReturnConsumedCapacity" not in ddb.asked
