"""The results page and the receipt in headless Chromium: tile map, shares, turnout only, final, receipt grouping.

Screenshots of the results map and the done page at 390 px and 1280 px go to artifacts/ (CI keeps them).
axe-core (npm package, installed by .ci/run into node_modules/) must find no violation on any view.
"""

from __future__ import annotations

import json
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import ROOT, Election, call, new_context, open_page, shot
from test_browser_vote import choose_and_cast, enter_id

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"phone": 390, "desktop": 1280}


@pytest.fixture
def context(browser: Any, election: Election) -> Iterator[Any]:
    assert urllib.parse.urlsplit(election.url).hostname == "127.0.0.1"
    ctx = new_context(browser, 15000, permissions=["clipboard-read", "clipboard-write"])
    yield ctx
    ctx.close()


def fake_results(page: Page, body: dict[str, Any]) -> None:
    """Answer GET /results with `body` (the shape agreed with the API), whatever region is asked."""
    page.route(lambda url: urllib.parse.urlsplit(url).path == "/results",
               lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body),
                                           headers={"access-control-allow-origin": "*"}))


def body(final: bool = False, breakdown: bool = True) -> dict[str, Any]:
    states: dict[str, Any] = {"TX": {"total": 10}, "OH": {"total": 4}, "CA": {"total": 6}, "VT": {"total": 0}}
    if breakdown:
        states["TX"]["candidates"] = {"Hillary Clinton": 3, "Donald Trump": 7, "Gary Johnson": 0, "Jill Stein": 0}
        states["OH"]["candidates"] = {"Hillary Clinton": 2, "Donald Trump": 2, "Gary Johnson": 0, "Jill Stein": 0}
        states["CA"]["candidates"] = {"Hillary Clinton": 6, "Donald Trump": 0, "Gary Johnson": 0, "Jill Stein": 0}
        states["VT"]["candidates"] = {"Hillary Clinton": 0, "Donald Trump": 0, "Gary Johnson": 0, "Jill Stein": 0}
    out: dict[str, Any] = {"updated_at": "2026-11-03T20:00:00Z", "final": final, "live": breakdown and not final,
                           "total": 20, "states": states}
    if breakdown:
        out["candidates"] = {"Hillary Clinton": 11, "Donald Trump": 9, "Gary Johnson": 0, "Jill Stein": 0}
    return out


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not AXE.exists():      # everything else in the test still runs; the summary says what was not checked
        warnings.warn("axe-core is not installed (npm install --no-save axe-core; .ci/run does): "
                      "accessibility not checked by axe", stacklevel=2)
        return []
    if not page.evaluate("typeof axe !== 'undefined'"):   # evaluated by the browser itself: the page's CSP stays
        page.evaluate(AXE.read_text() + "\n;undefined")
    found = page.evaluate("async () => (await axe.run(document)).violations.map(v => ({id: v.id, nodes: "
                          "v.nodes.map(n => n.target.join(' '))}))")
    return list(found)


def test_the_map_colours_states_by_leader_and_works_by_keyboard_with_a_table_alternative(
        context: Any, election: Election) -> None:
    page = context.new_page()
    fake_results(page, body())
    page.goto(f"{election.url}#results")
    page.wait_for_selector("body[data-ready]")
    tiles = page.locator("#map button.tile")
    expect(tiles).to_have_count(51)
    tx = page.locator("#map button[data-state=TX]")
    expect(tx).to_have_accessible_name("Texas: Donald Trump leads with 70%")
    expect(page.locator("#map button[data-state=OH]")).to_have_accessible_name("Ohio: tied")
    expect(page.locator("#map button[data-state=VT]")).to_have_accessible_name("Vermont: no votes yet")
    ca = page.locator("#map button[data-state=CA]")
    assert ca.evaluate("b => getComputedStyle(b).backgroundColor") != tx.evaluate(
        "b => getComputedStyle(b).backgroundColor")
    # Bars are shares of the votes: 11 of 20 fills 55 % of the track; 0 votes draws nothing.
    clinton = page.locator("#national li", has_text="Hillary Clinton")
    ratio = clinton.evaluate("li => li.querySelector('.bar-fill').getBoundingClientRect().width / "
                             "li.querySelector('.bar-track').getBoundingClientRect().width")
    assert abs(ratio - 0.55) < 0.01
    assert not page.locator("#national li", has_text="Gary Johnson").locator(".bar-fill").is_visible()
    # One tab stop; arrows move like a grid; choosing a tile shows that state.
    page.locator("#map button[tabindex='0']").focus()
    expect(page.locator("#map button[data-state=AK]")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#map button[data-state=WA]")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#map button[data-state=CA]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#states section")).to_have_count(1)
    expect(page.locator("#states h3")).to_have_text("California")
    page.select_option("#state-filter", "")
    # The same facts as a table.
    page.click("#map-table-box summary")
    expect(page.locator("#map-table tr")).to_have_count(51)
    expect(page.locator("#map-table tr", has_text="Texas")).to_contain_text("Donald Trump leads with 70%")
    assert axe_violations(page) == []
    for name, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.locator("#map").scroll_into_view_if_needed()
        shot(page, f"results-map-{name}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.errors == [] if hasattr(page, "errors") else True


def test_before_close_without_a_breakdown_the_page_shows_turnout_only(context: Any, election: Election) -> None:
    page = context.new_page()
    fake_results(page, body(breakdown=False))
    page.goto(f"{election.url}#results")
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#turnout-only")).to_be_visible()
    expect(page.locator("#national")).to_be_hidden()
    expect(page.locator("#national-total")).to_have_text("20 votes")
    expect(page.locator("#map button[data-state=TX]")).to_have_accessible_name("Texas: 10 votes")
    expect(page.locator("#map button[data-state=TX]")).to_have_attribute("data-kind", "turnout")
    texas = page.locator("#states section", has=page.locator("h3", has_text="Texas"))
    expect(texas).to_contain_text("10 votes")
    expect(texas.locator("li")).to_have_count(0)
    expect(page.locator("#map-col-what")).to_have_text("Turnout")
    assert axe_violations(page) == []


def test_after_close_the_page_says_final_results_and_offers_no_ballot(context: Any, election: Election) -> None:
    # Opening the page asks the API nothing (bench/pipeline_cost.py PAGE_REQUESTS): the ID lookup says
    # the polls are closed, before any ballot is shown.
    vid = election.add_voter("TX")
    page = context.new_page()
    fake_results(page, body(final=True))
    page.goto(f"{election.url}#vote")
    page.wait_for_selector("body[data-ready]")
    election.set_polls(False)
    try:
        enter_id(page, vid)
        expect(page.locator("#problem-heading")).to_have_text("The polls are closed")
    finally:
        election.set_polls(True)
    expect(page.locator("#ballot-form")).to_be_hidden()
    page.click("#closed-results a")
    expect(page.locator("#results-heading")).to_have_text("Final results")
    expect(page.locator("#live-note")).to_have_text("The polls are closed; these results are final.")
    expect(page.locator("#pause")).to_be_hidden()
    expect(page.get_by_text("Updates every")).to_have_count(0)
    assert axe_violations(page) == []


def test_the_receipt_never_breaks_inside_a_group_and_copy_is_confirmed(context: Any, election: Election) -> None:
    vid = election.add_voter("TX")
    page = open_page(context, election)
    enter_id(page, vid)
    receipt = choose_and_cast(page, "Jill Stein")
    expect(page.locator("#endpoint")).to_be_hidden()          # the API host only under "technical details"
    page.click("#copy")
    expect(page.locator("#copy-status")).to_be_visible()
    expect(page.locator("#copy-status")).to_have_text("Receipt copied.")
    groups = page.locator("#receipt-code .group")
    expect(groups).to_have_count(8)
    assert "".join(groups.all_inner_texts()) == receipt
    for width in (200, 320, 390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        broken = page.evaluate("() => [...document.querySelectorAll('#receipt-code .group')]"
                               ".filter(g => g.getClientRects().length !== 1).length")
        assert broken == 0, f"a receipt group breaks across lines at {width}px"
    for name, w in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": 900})
        shot(page, f"done-{name}")
    assert axe_violations(page) == []
    page.click("#check-link")
    expect(page.locator("#receipt-shown")).to_be_visible()
    assert page.locator("#receipt-shown .group").all_inner_texts() == groups.all_inner_texts()
    status, _ = call(election.api[0], "GET", f"/receipts/{receipt}")
    assert status == 200


def test_screenshots_are_saved_where_ci_collects_them() -> None:
    art = Path(ROOT / "artifacts")
    assert "artifacts/" in (ROOT / ".gitignore").read_text().split()
    assert art.name == "artifacts"
