"""loadtest verifies its own run only, survives Ctrl-C at any phase with its receipts, and skips used voters."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web
from test_ops_audit import Pipeline, election_fixture  # noqa: F401 - provides the `election` fixture
from test_ops_loadtest import (
    Api,
    Drainer,
    ThreadedApp,
    enrolled,  # noqa: F401 - provides the `enrolled` fixture
)

from election.ops import loadtest, usedvoters
from election.ops.audit import load_receipts
from election.ops.loadverify import server_errors
from election.ops.target import Target
from election.ops.usedvoters import fresh_voters, record_used, used_path


def _post_votes(url: str, voters: list[tuple[str, str]], target: Target) -> Counter[int]:
    """Other voters voting through the same API while the load test runs."""
    import urllib.error
    import urllib.request

    seen: Counter[int] = Counter()
    for vid, st in voters:
        body = json.dumps({"voter_id": vid, "candidate": target.plan.ballot.for_state(st)[0]}).encode()
        req = urllib.request.Request(url + "/votes", data=body, method="POST",
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                seen[res.status] += 1
        except urllib.error.HTTPError as err:
            seen[err.code] += 1
    return seen


def test_other_traffic_during_the_run_is_reported_not_failed(
        enrolled: tuple[Target, Pipeline, list[tuple[str, str]]], tmp_path: Path) -> None:
    target, pipe, voters = enrolled
    ours, theirs = voters[:60], voters[60:75]
    with Api(pipe) as url:
        fired = loadtest.fire(target, ours, url, votes=60, rate=300, concurrency=8, seed=4,
                              ledger=tmp_path / "r.jsonl")
        assert _post_votes(url, theirs, target) == Counter({202: 15})     # someone else votes meanwhile
    with Drainer(pipe):
        report = loadtest.settle_and_verify(target, fired, drain_timeout=30)
    assert report.verified, report.problems
    assert report.accepted_voters == 60 and report.other_traffic == 15
    assert sum(report.other_traffic_by_key.values()) == 15
    from rich.console import Console

    from election.ops.render import loadtest_view
    console = Console(record=True, width=200)
    console.print(loadtest_view(report))
    assert "15 vote(s) counted during the run were not this run's" in console.export_text()


def test_votes_answered_5xx_fail_the_run_unless_allowed() -> None:
    def outcome(kind: str, status: int) -> loadtest.Outcome:
        return loadtest.Outcome(loadtest.Req(kind), status, 0.01)

    ok = [outcome("vote", 202), outcome("duplicate", 409), outcome("malformed", 400)]
    assert server_errors(ok) == []
    bad = ok + [outcome("vote", 503)] * 3 + [outcome("duplicate", 502)]
    assert server_errors(bad) == [("4 vote(s) were answered with a server error (1 x 502, 3 x 503); voters would "
                                   "have had to retry. Pass --allow-errors if that is expected (e.g. no region was "
                                   "healthy).")]


class Flaky(ThreadedApp):
    """Answers 202 to the first `good` votes, then 503 (a drill in which no region answers)."""

    path = "/"

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.n = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if request.method == "GET":
            return web.json_response({})
        self.n += 1
        if self.n <= self.good:
            return web.json_response({"receipt": f"{self.n:032x}"}, status=202)
        return web.json_response({"error": "no_healthy_region"}, status=503)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self.handle)


class Slow(ThreadedApp):
    """Answers every vote 202 after `delay` seconds, each with its own receipt."""

    path = "/"

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.n = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if request.method == "GET":
            return web.json_response({})
        self.n += 1
        n = self.n
        await asyncio.sleep(self.delay)
        return web.json_response({"receipt": f"{n:032x}"}, status=202)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self.handle)


def _reqs(n: int) -> list[loadtest.Req]:
    return [loadtest.Req("vote", f"V{i}", "CA", "Jill Stein", loadtest.vote_body(f"V{i}", "Jill Stein"))
            for i in range(n)]


def _ctrl_c_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_while_sending_keeps_every_answer_and_says_so(workers: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    live = loadtest.Live(planned=400)
    pressed: list[int] = []

    def ctrl_c_once_answers_come(lv: loadtest.Live) -> None:
        if lv.done >= 20 and not pressed:
            pressed.append(lv.done)
            os.kill(os.getpid(), signal.SIGINT)

    with Slow(delay=0.05) as url:
        outcomes, _ = loadtest.send_schedule(url + "votes", _reqs(400), 100.0, 16, 10.0, live,
                                             ctrl_c_once_answers_come, random.Random(1), {}, workers=workers)
    assert live.interrupted and pressed
    answered = [o for o in outcomes if o.status == 202]
    assert pressed[0] <= len(answered) < 400
    assert len({o.receipt for o in answered}) == len(answered)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_an_interrupted_run_keeps_its_receipts_and_its_used_voters(
        enrolled: tuple[Target, Pipeline, list[tuple[str, str]]], tmp_path: Path) -> None:
    target, pipe, voters = enrolled
    ledger, used = tmp_path / "r.jsonl", tmp_path / "v.csv.used"
    pressed: list[int] = []

    def ctrl_c(lv: loadtest.Live) -> None:
        if lv.done >= 10 and not pressed:
            pressed.append(lv.done)
            os.kill(os.getpid(), signal.SIGINT)

    with Api(pipe) as url:
        report = loadtest.run_loadtest(target, voters, url, votes=120, rate=40, concurrency=4, seed=1,
                                       ledger=ledger, used=used, on_tick=ctrl_c)
    assert report.interrupted == "sending" and not report.verified
    kept = load_receipts(ledger)
    assert 10 <= len(kept) == report.accepted_voters < 120
    sent = usedvoters.read_used(used)
    assert len(sent) >= len(kept)
    fresh, skipped = fresh_voters(voters, used)
    assert skipped == len(sent) and not {v for v, _ in fresh} & sent


def test_ctrl_c_while_waiting_for_the_drain_returns_the_report_unverified(
        enrolled: tuple[Target, Pipeline, list[tuple[str, str]]], tmp_path: Path) -> None:
    target, pipe, voters = enrolled
    with Api(pipe) as url:
        fired = loadtest.fire(target, voters, url, votes=10, rate=200, concurrency=4, seed=2,
                              ledger=tmp_path / "r.jsonl")
    timer = _ctrl_c_after(0.5)          # nothing drains the queues: the wait would last the whole timeout
    try:
        report = loadtest.settle_and_verify(target, fired, drain_timeout=30)
    finally:
        timer.cancel()
    assert report.interrupted == "verifying" and not report.verified and report.problems == []
    assert len(load_receipts(tmp_path / "r.jsonl")) == 10


def test_used_voters_are_recorded_sorted_owner_only_and_skipped(tmp_path: Path) -> None:
    creds = tmp_path / "voters.csv"
    path = used_path(creds)
    assert path.name == "voters.csv.used"
    record_used(path, ["B", "A"])
    record_used(path, ["C"])
    assert path.read_text() == "A\nB\nC\n" and (path.stat().st_mode & 0o777) == 0o600
    assert fresh_voters([("A", "TX"), ("D", "CA"), ("C", "NY")], path) == ([("D", "CA")], 2)


def test_a_drill_that_answers_5xx_is_not_verified_without_allow_errors(
        enrolled: tuple[Target, Pipeline, list[tuple[str, str]]], tmp_path: Path) -> None:
    target, _, voters = enrolled
    with Flaky(good=0) as url:
        report = loadtest.run_loadtest(target, voters, url, votes=5, rate=100, concurrency=2, drain_timeout=1,
                                       ledger=tmp_path / "r.jsonl")
    assert not report.verified
    assert any("answered with a server error (5 x 503)" in p for p in report.problems)
