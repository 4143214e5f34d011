"""The local router plays Route 53: failure threshold, Route 53's time budget, fail open, busy is not down."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from election.local import router as router_mod
from election.local.gateway import Gateway
from election.local.router import Router


class Health:
    """A /health handler whose answers a test scripts: 'ok', 'fail' (503) or 'slow' (sleeps past the budget)."""

    def __init__(self, slow_s: float = 0.6) -> None:
        self.mode = "ok"
        self.slow_s = slow_s
        self.calls = 0

    def __call__(self, event: dict, ctx: Any) -> dict:
        self.calls += 1
        if self.mode == "slow":
            time.sleep(self.slow_s)
        status = 503 if self.mode == "fail" else 200
        return {"statusCode": status, "body": json.dumps({"ok": status == 200})}


def answer(name: str) -> Callable[[dict, Any], dict]:
    return lambda event, ctx: {"statusCode": 200, "body": json.dumps({"region": name})}


@pytest.fixture
def regions() -> Iterator[tuple[dict[str, Gateway], dict[str, Health]]]:
    health = {r: Health() for r in ("a-1", "b-2")}
    gateways = {r: Gateway(r, {"health": health[r], "results": answer(r)}) for r in health}
    for g in gateways.values():
        g.start()
    yield gateways, health
    for g in gateways.values():
        g.stop()


def make_router(gateways: dict[str, Gateway], local: bool = False, **kwargs: Any) -> Router:
    return Router({r: g.url for r, g in gateways.items()}, interval_s=3600, response_timeout_s=0.3,
                  local=gateways if local else None, **kwargs)


def test_defaults_are_route_53s() -> None:
    """HealthCheckConfig.FailureThreshold defaults to 3; HTTP checks: connect within 4 s, a status within 2 s."""
    r = Router({"a-1": "http://127.0.0.1:9"})
    assert (r.failure_threshold, r.connect_timeout_s, r.response_timeout_s) == (3, 4.0, 2.0)
    assert router_mod.FAILURE_THRESHOLD == 3


def test_a_region_is_marked_down_only_after_three_consecutive_failed_checks_and_back_after_three_good(
        regions: tuple[dict[str, Gateway], dict[str, Health]]) -> None:
    gateways, health = regions
    router = make_router(gateways)
    health["a-1"].mode = "slow"                 # times out: 0.6 s > the 0.3 s budget
    router.check_all()
    router.check_all()
    assert router.health["a-1"] is True and "2 of 3 checks" in router.detail["a-1"]
    health["a-1"].mode = "ok"                   # one good answer resets the count
    router.check_all()
    assert router.health["a-1"] is True and router.streak["a-1"] == 0
    health["a-1"].mode = "fail"
    for _ in range(3):
        assert router.health["a-1"] is True
        router.check_all()
    assert router.health["a-1"] is False and router.health["b-2"] is True
    health["a-1"].mode = "ok"
    router.check_all()
    router.check_all()
    assert router.health["a-1"] is False
    router.check_all()
    assert router.health["a-1"] is True


def test_when_every_region_is_unhealthy_the_router_fails_open(
        regions: tuple[dict[str, Gateway], dict[str, Health]]) -> None:
    gateways, health = regions
    router = make_router(gateways, failure_threshold=1)
    for h in health.values():
        h.mode = "fail"
    router.start()
    try:
        router.check_all()
        assert router.health == {"a-1": False, "b-2": False}
        with urllib.request.urlopen(router.url + "/results", timeout=5) as res:
            assert res.status == 200 and json.loads(res.read()) == {"region": "a-1"}   # the preferred one
        assert router.failed_open == 1
        assert router.order() == ["a-1", "b-2"] and router.order("b-2") == ["b-2", "a-1"]
        gateways["a-1"].stop()                  # still one region that answers: it takes the request
        with urllib.request.urlopen(router.url + "/results", timeout=5) as res:
            assert json.loads(res.read()) == {"region": "b-2"}
    finally:
        router.stop()


def test_a_check_that_times_out_while_the_region_serves_other_requests_is_not_a_failure(
        regions: tuple[dict[str, Gateway], dict[str, Health]]) -> None:
    """Locally the APIs share one interpreter: a busy process is not a region that is down (issue 14)."""
    gateways, health = regions
    router = make_router(gateways, local=True)
    health["a-1"].mode = "slow"
    stop = threading.Event()

    def traffic() -> None:                      # voters keep reaching a-1 while its check is slow
        while not stop.is_set():
            with urllib.request.urlopen(gateways["a-1"].url + "/results", timeout=5) as res:
                res.read()

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        for _ in range(4):
            router.check_all()
    finally:
        stop.set()
        worker.join(5)
    assert router.health["a-1"] is True and router.streak["a-1"] == 0
    assert router.slow_checks == 4 and router.detail["a-1"].startswith("slow (timed out)")
    for _ in range(3):                          # no traffic: the same timeouts count
        router.check_all()
    assert router.health["a-1"] is False
