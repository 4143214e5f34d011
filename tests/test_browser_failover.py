"""Failover in the page itself: regional endpoints only (no router), one goes down mid-session.

The page must move to the next healthy endpoint without losing what the voter typed, and must
never send a vote twice blindly: a vote POST that got no answer is followed by POST /ballot
("voted"?) before anything is sent again.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import Election, call, national_count, new_context, open_page, shot

pytest.importorskip("playwright")
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser
FIRST, SECOND = "us-east-1", "us-west-2"


@pytest.fixture
def context(browser: Any, election: Election) -> Iterator[Any]:
    """A browser whose config.json lists the two regional APIs, FIRST preferred: what AWS without a domain serves."""
    ctx = new_context(browser, 20000)
    status, config = call(election.url, "GET", "config.json")
    assert status == 200
    config["api"] = [election.regions[FIRST], election.regions[SECOND]]
    ctx.route("**/config.json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(config)))
    yield ctx
    ctx.close()
    for region in (FIRST, SECOND):
        election.region_up(region)


def host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


class Recorder:
    """Every API request the page makes, as (method, host, path), in order."""

    def __init__(self, page: Page) -> None:
        self.seen: list[tuple[str, str, str]] = []
        page.on("request", lambda r: self.seen.append((r.method, host(r.url), urllib.parse.urlsplit(r.url).path)))

    def calls(self, method: str, path: str) -> list[str]:
        return [h for m, h, p in self.seen if m == method and p == path]


def outage(context: Any, election: Election, region: str) -> None:
    """Take the region down (its API, queues and pollers), and cut the browser's open connections to it.

    The local gateway stops listening, but a keep-alive connection Chromium already holds would still be
    served; in a real outage those die too, so the browser is told the host refuses connections.
    """
    election.region_down(region)
    context.route(election.regions[region] + "/**", lambda route: route.abort("connectionrefused"))


def wait_for_count(election: Election, candidate: str, expected: int) -> None:
    deadline = time.monotonic() + 20
    while national_count(election.regions[SECOND], candidate) != expected:
        assert time.monotonic() < deadline, f"{candidate} never reached {expected} votes"
        time.sleep(0.3)
    time.sleep(1.5)          # and stays there: a double count would show up by now
    assert national_count(election.regions[SECOND], candidate) == expected


def test_failover_when_the_first_region_goes_down_mid_session(context: Any, election: Election) -> None:
    first, second = host(election.regions[FIRST]), host(election.regions[SECOND])
    vid = election.add_voter("CA")
    election.wait_idle(20)
    before = national_count(election.regions[SECOND], "Gary Johnson")
    page = open_page(context, election)
    rec = Recorder(page)
    page.fill("#voter-id", vid)
    page.click("#id-form button[type=submit]")
    expect(page.locator("#ballot-form")).to_be_visible()
    assert rec.calls("POST", "/ballot") == [first]
    expect(page.locator("#endpoint")).to_have_text(f"API: {first}")
    page.get_by_label("Gary Johnson").check()
    page.click("#ballot-form button[type=submit]")

    outage(context, election, FIRST)     # the voter is looking at the review step
    page.click("#confirm")
    expect(page.locator("#done h1")).to_be_visible()
    receipt = page.inner_text("#receipt-code").replace(" ", "").strip()
    expect(page.locator("#endpoint")).to_have_text(f"API: {second}")
    shot(page, "failover-receipt")

    votes = rec.calls("POST", "/votes")
    assert votes[0] == first and votes[-1] == second and len(votes) == 2
    # Before re-sending to the second region, the page asked it whether a ballot was already recorded.
    order = [(m, h, p) for m, h, p in rec.seen if p in ("/votes", "/ballot")]
    assert order.index(("POST", second, "/ballot")) < order.index(("POST", second, "/votes"))

    election.wait_idle(20)
    wait_for_count(election, "Gary Johnson", before + 1)
    assert call(election.regions[SECOND], "GET", f"/receipts/{receipt}")[1]["status"] in ("recorded", "counted")
    assert page.errors == []


def test_ballot_lookup_fails_over_without_losing_the_typed_id(context: Any, election: Election) -> None:
    vid = election.add_voter("AZ")
    page = open_page(context, election)
    rec = Recorder(page)
    typed = vid.lower().replace("-", " ")
    page.fill("#voter-id", typed)
    election.region_down(FIRST)
    page.click("#id-form button[type=submit]")
    expect(page.locator("#ballot-heading")).to_have_text("Your ballot for Arizona")
    assert rec.calls("POST", "/ballot")[-1] == host(election.regions[SECOND])

    # Both regions down: a clear message with a retry button; the ID and choice survive it.
    page.get_by_label("Jill Stein").check()
    page.click("#ballot-form button[type=submit]")
    outage(context, election, SECOND)
    page.click("#confirm")
    expect(page.locator("#problem-heading")).to_have_text("Connection trouble")
    expect(page.locator("#problem-text")).to_contain_text("We could not confirm that your vote arrived")
    expect(page.locator("#retry")).to_be_visible()
    election.region_up(SECOND)
    context.unroute(election.regions[SECOND] + "/**")
    page.click("#retry")
    expect(page.locator("#done h1")).to_be_visible()
    assert page.input_value("#voter-id") == vid
    election.wait_idle(20)   # 202 means queued: the ballot is written after the mixing window
    status, body = call(election.regions[SECOND], "POST", "/ballot", {"voter_id": vid})
    assert status == 200 and body["voted"] is True


def test_a_vote_whose_answer_was_lost_is_not_sent_again(context: Any, election: Election) -> None:
    """The first region stores the vote but the answer never reaches the page (connection reset)."""
    vid = election.add_voter("OR")
    election.wait_idle(20)
    before = national_count(election.regions[SECOND], "Hillary Clinton")
    stored: list[int] = []

    def store_then_drop(route: Route) -> None:
        response = route.fetch()                 # the vote reaches the API and is accepted...
        stored.append(response.status)
        election.wait_idle(20)                   # ...and its ballot is written and replicated...
        route.abort("connectionreset")           # ...but the page never hears back.

    page = open_page(context, election)
    page.route(election.regions[FIRST] + "/votes", store_then_drop)
    rec = Recorder(page)
    page.fill("#voter-id", vid)
    page.click("#id-form button[type=submit]")
    page.get_by_label("Hillary Clinton").check()
    page.click("#ballot-form button[type=submit]")
    page.click("#confirm")
    # The route handler waits for the ballot inside this expect: mixing writes it a window or more later.
    expect(page.locator("#done")).to_be_visible(timeout=30_000)
    expect(page.locator("#done h1")).to_have_text("Your vote is recorded")
    # POST /ballot tells a voter who has voted the receipt, so the lost answer costs nothing.
    expect(page.locator("#receipt-box")).to_be_visible()
    expect(page.locator("#no-receipt")).to_be_hidden()
    assert len(page.locator("#receipt-code").inner_text().replace(" ", "")) == 32
    assert stored == [202]
    assert len(rec.calls("POST", "/votes")) == 1, "the page re-sent a vote that had already been stored"
    assert rec.calls("POST", "/ballot")[-1] == host(election.regions[SECOND])
    wait_for_count(election, "Hillary Clinton", before + 1)


def test_network_trouble_at_the_id_step_offers_a_retry(context: Any, election: Election) -> None:
    vid = election.add_voter("NV")
    page = open_page(context, election)
    page.fill("#voter-id", vid)
    outage(context, election, FIRST)
    outage(context, election, SECOND)
    page.click("#id-form button[type=submit]")
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("#problem-heading")).to_have_text("Connection trouble")
    expect(page.locator("#live")).to_contain_text("Connection trouble")
    shot(page, "network-trouble")
    election.region_up(SECOND)
    context.unroute(election.regions[SECOND] + "/**")
    page.click("#retry")
    expect(page.locator("#ballot-heading")).to_have_text("Your ballot for Nevada")
    assert page.input_value("#voter-id") == vid
