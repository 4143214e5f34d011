"""The voting page in headless Chromium against the local stack: vote, receipt, results, errors, a11y, i18n."""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import ROOT, Election, call, national_count, new_context, new_voter_id, open_page, shot

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
RECEIPT = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def context(browser: Any, election: Election) -> Iterator[Any]:
    origin = urllib.parse.urlsplit(election.url)
    ctx = new_context(browser, 15000, permissions=["clipboard-read", "clipboard-write"])
    assert origin.hostname == "127.0.0.1"
    yield ctx
    ctx.close()


def enter_id(page: Page, text: str) -> None:
    page.fill("#voter-id", text)
    page.click("#id-form button[type=submit]")


def choose_and_cast(page: Page, candidate: str) -> str:
    """From the ballot step: choose, review, confirm; returns the receipt shown."""
    expect(page.locator("#ballot-form")).to_be_visible()
    page.get_by_label(candidate, exact=True).check()
    page.click("#ballot-form button[type=submit]")
    expect(page.locator("#review-choice")).to_have_text(candidate)
    page.click("#confirm")
    expect(page.locator("#done")).to_be_visible()
    return page.inner_text("#receipt-code").replace(" ", "").strip()


def test_full_vote_flow_gives_a_receipt_that_checks_out(context: Any, election: Election) -> None:
    vid = election.add_voter("UT")
    page = open_page(context, election)
    shot(page, "vote-page")
    # Pasted the way people paste: lower case, spaces instead of hyphens.
    enter_id(page, "  " + vid.lower().replace("-", " ") + " ")
    expect(page.locator("#ballot-heading")).to_have_text("Your ballot for Utah")
    names = [n.strip() for n in page.locator("#candidates label").all_inner_texts()]
    assert names == election.ballot["overrides"]["UT"]      # Utah's own ballot, not the national one
    assert page.input_value("#voter-id") == vid             # normalised to the printed form
    shot(page, "vote-ballot")
    receipt = choose_and_cast(page, "Evan McMullin")
    assert RECEIPT.match(receipt), receipt
    shot(page, "vote-receipt")

    # The page's copy button puts exactly the receipt on the clipboard.
    page.click("#copy")
    expect(page.locator("#copy-status")).to_have_text("Receipt copied.")     # seen, and read out (role=status)
    assert page.evaluate("navigator.clipboard.readText()") == receipt

    # The API agrees: this voter has voted, and the receipt is known. 202 means queued, not yet
    # written and replicated to the region asked, so ask until it is (bounded).
    deadline = time.monotonic() + 20
    while True:
        status, body = call(election.api[0], "POST", "/ballot", {"voter_id": vid})
        if status != 200 or body.get("voted") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and body["voted"] is True and body["receipt"] == receipt
    page.click("#check-link")
    expect(page.locator("#receipt-status")).to_be_visible()
    assert page.locator("#receipt-status").get_attribute("data-status") in ("recorded", "counted")
    assert page.input_value("#receipt-input") == receipt

    # Back on the vote page, "Finish" forgets this voter: nothing is left for the next person.
    page.click("a[data-route=vote]")
    page.click("#done button.again")
    expect(page.locator("#id-form")).to_be_visible()
    assert page.input_value("#voter-id") == ""
    assert page.errors == []


def test_a_page_vote_sends_exactly_the_requests_the_cost_bench_prices(context: Any, election: Election) -> None:
    """`election plan` and bench/pipeline_cost.py price a page vote as capacity.PAGE_REQUESTS: opening the
    page, looking the ID up and voting must send the API nothing else (no health check, no results, no
    CORS preflight)."""
    from election.ops.capacity import PAGE_REQUESTS
    api_hosts = {urllib.parse.urlsplit(u).netloc for u in election.api}
    sent: list[Any] = []
    context.on("request", lambda r: sent.append(r) if urllib.parse.urlsplit(r.url).netloc in api_hosts else None)
    vid = election.add_voter("OH")
    page = open_page(context, election)
    enter_id(page, vid)
    assert RECEIPT.match(choose_and_cast(page, "Gary Johnson"))
    names = {("GET", "/health"): "health", ("POST", "/ballot"): "ballot", ("POST", "/votes"): "votes"}
    counts = dict.fromkeys(PAGE_REQUESTS, 0)
    for r in sent:
        counts[names[(r.method, urllib.parse.urlsplit(r.url).path)]] += 1
    assert counts == PAGE_REQUESTS
    # Each POST is a CORS "simple request" (a safelisted content type, no other header the page
    # sets), so the browser sends no OPTIONS preflight, which API Gateway would bill.
    for r in sent:
        assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    assert page.errors == []


def test_second_vote_with_the_same_id_says_already_voted(context: Any, election: Election) -> None:
    vid = election.add_voter("CA")
    # Two tabs reach the review step before either votes: the second confirm must get "already voted".
    first, second = open_page(context, election), open_page(context, election)
    for page in (first, second):
        enter_id(page, vid)
        expect(page.locator("#ballot-form")).to_be_visible()
        page.get_by_label("Jill Stein").check()
        page.click("#ballot-form button[type=submit]")
    first.click("#confirm")
    expect(first.locator("#done")).to_be_visible()
    # Once the first ballot is written (docs/api.md: a second vote racing the first also gets 202,
    # with the same receipt, and is dropped as a duplicate), the other tab is refused.
    election.wait_idle(20)
    second.click("#confirm")
    expect(second.locator("#problem-heading")).to_have_text("You have already voted")
    expect(second.locator("#retry")).to_be_hidden()        # nothing to retry: one vote per voter
    shot(second, "already-voted")

    # Coming back later: the ID step already says so, before any ballot is shown.
    third = open_page(context, election)
    enter_id(third, vid)
    expect(third.locator("#problem-heading")).to_have_text("You have already voted")
    expect(third.locator("#live")).to_contain_text("already voted")
    expect(third.locator("#ballot-form")).to_be_hidden()


def test_malformed_ids_are_caught_in_the_page_and_unknown_ids_by_the_api(context: Any, election: Election) -> None:
    page = open_page(context, election)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/ballot") else None)
    cases = {
        "": "Please type your voter ID.",
        "ABCDE-FGHJK": "A voter ID has 20 letters and digits; you typed 10.",
        "ABCDE-FGHJK-LMN0P-QRSTO": "A voter ID never contains 0, O. Please check your letter.",
    }
    for typed, message in cases.items():
        enter_id(page, typed)
        expect(page.locator("#voter-id-error")).to_have_text(message)
        expect(page.locator("#voter-id")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#voter-id")).to_be_focused()
    assert sent == [], "a malformed ID must not be sent to the API"

    enter_id(page, new_voter_id())     # well-formed, but on nobody's letter
    expect(page.locator("#voter-id-error")).to_have_text(
        "We could not find this voter ID. Please check it against your letter.")
    assert len(sent) == 1
    expect(page.locator("#ballot-form")).to_be_hidden()
    assert page.errors == []


def test_receipt_check_page(context: Any, election: Election) -> None:
    vid = election.add_voter("NY")
    status, body = call(election.api[0], "POST", "/votes", {"voter_id": vid, "candidate": "Gary Johnson"})
    assert status == 202, body
    receipt = body["receipt"]
    page = open_page(context, election, "receipt")
    shot(page, "receipt-page")

    page.fill("#receipt-input", "not a receipt")
    page.click("#receipt-form button[type=submit]")
    expect(page.locator("#receipt-error")).to_have_text("A receipt has 32 characters, digits and the letters a to f.")

    page.fill("#receipt-input", "0" * 32)
    page.click("#receipt-form button[type=submit]")
    expect(page.locator("#receipt-status")).to_have_attribute("data-status", "unknown")
    expect(page.locator("#receipt-status")).to_contain_text("Unknown")

    election.wait_idle(20)
    # Typed in upper case with spaces, as someone copying from paper might.
    spaced = " ".join(receipt[i:i + 4] for i in range(0, 32, 4)).upper()
    page.fill("#receipt-input", spaced)
    page.click("#receipt-form button[type=submit]")
    # "counted" needs the tally past the ballot's minute (docs/api.md); right after a vote it may be "recorded".
    status_el = page.locator("#receipt-status")
    expect(status_el).to_have_attribute("data-status", re.compile("^(recorded|counted)$"))
    sentence = {"recorded": "Recorded: this ballot is stored and will be counted. It shows as counted once ballots cast after it "
                            "have been counted too, so in a quiet hour this can take a while, and at the latest when the polls close.",
                "counted": "Counted: this ballot is included in the results."}[status_el.get_attribute("data-status")]
    expect(status_el).to_have_text(sentence)
    expect(page.locator("#live")).to_have_text(sentence)
    assert page.input_value("#receipt-input") == receipt
    shot(page, "receipt-counted")


def _national_row(page: Page, candidate: str) -> str:
    return page.locator("#national li", has_text=candidate).locator(".bar-value").inner_text()


def test_results_change_after_votes(context: Any, election: Election) -> None:
    page = open_page(context, election, "results")
    expect(page.locator("#national li")).to_have_count(len(election.ballot["candidates"]) + 1)  # + McMullin
    expect(page.locator("#updated")).to_contain_text("Last updated")
    before = national_count(election.api[0], "Donald Trump")
    expect(page.locator("#national li", has_text="Donald Trump").locator(".bar-value")).to_contain_text(
        f"{before} vote")

    for state in ("TX", "TX", "OH"):
        vid = election.add_voter(state)
        status, body = call(election.api[0], "POST", "/votes", {"voter_id": vid, "candidate": "Donald Trump"})
        assert status == 202, body
    election.wait_idle(20)
    deadline = time.monotonic() + 15     # results are served from a short cache and tables replicate
    while national_count(election.api[0], "Donald Trump") != before + 3:
        assert time.monotonic() < deadline, "the API never reported the three new votes"
        time.sleep(0.3)
    # No reload: the live refresh picks the new totals up by itself.
    expect(page.locator("#national li", has_text="Donald Trump").locator(".bar-value")).to_contain_text(
        f"{before + 3} votes", timeout=20000)
    texas = page.locator("#states section", has=page.locator("h3", has_text="Texas"))
    expect(texas.locator("li", has_text="Donald Trump")).to_contain_text("vote")

    page.select_option("#state-filter", "OH")
    expect(page.locator("#states section")).to_have_count(1)
    expect(page.locator("#states h3")).to_have_text("Ohio")
    page.select_option("#state-filter", "")
    shot(page, "results-page")
    page.set_viewport_size({"width": 390, "height": 844})     # a phone
    shot(page, "results-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the results page scrolls sideways on a phone ({width}px)"
    assert page.errors == []


def _focus_is_visible(page: Page) -> bool:
    """The focused element, or the label a hidden-looking radio delegates to, draws an outline."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const target = el.type === 'radio' ? el.nextElementSibling : el;
        const s = getComputedStyle(target);
        return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
    }""")


def test_whole_vote_with_the_keyboard_only(context: Any, election: Election) -> None:
    vid = election.add_voter("WA")
    page = open_page(context, election)
    kb = page.keyboard
    # Tab from the top of the page to the ID field: language button, three links, then the field.
    for _ in range(5):
        kb.press("Tab")
        assert _focus_is_visible(page)
    expect(page.locator("#voter-id")).to_be_focused()
    kb.type(vid.replace("-", ""))
    assert page.input_value("#voter-id") == vid                  # hyphens put in while typing
    kb.press("Enter")
    expect(page.locator("#ballot-heading")).to_be_focused()      # focus follows the step
    kb.press("Tab")
    expect(page.locator("#cand-0")).to_be_focused()
    assert _focus_is_visible(page)
    kb.press("ArrowDown")                                        # radio group: arrows choose
    expect(page.locator("#cand-1")).to_be_checked()
    shot(page, "keyboard-focus")
    kb.press("Tab")
    expect(page.locator("#ballot-form button[type=submit]")).to_be_focused()
    assert _focus_is_visible(page)
    kb.press("Enter")
    expect(page.locator("#review-choice")).to_have_text(election.ballot["candidates"][1])
    kb.press("Tab")
    expect(page.locator("#confirm")).to_be_focused()
    assert _focus_is_visible(page)
    kb.press("Enter")
    expect(page.locator("#done h1")).to_be_focused()
    assert RECEIPT.match(page.inner_text("#receipt-code").replace(" ", "").strip())
    kb.press("Tab")
    expect(page.locator("#copy")).to_be_focused()
    kb.press("Tab")
    expect(page.locator("#check-link")).to_be_focused()
    assert _focus_is_visible(page)


def test_spanish_is_switchable_and_remembered(context: Any, election: Election) -> None:
    page = open_page(context, election)
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#id-form h1")).to_have_text("Emita su voto")
    expect(page.locator("#lang")).to_have_text("English")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#id-form h1")).to_have_text("Emita su voto")         # remembered
    enter_id(page, "ABCDE")
    expect(page.locator("#voter-id-error")).to_have_text(
        "Un identificador de votante tiene 20 letras y cifras; usted escribió 5.")
    vid = election.add_voter("NM")
    enter_id(page, vid)
    expect(page.locator("#ballot-heading")).to_have_text("Su papeleta de Nuevo México")
    page.get_by_label("Hillary Clinton").check()
    page.click("#ballot-form button[type=submit]")
    expect(page.locator("#review .warning")).to_have_text("Una vez emitido, su voto no se puede cambiar.")
    page.click("#confirm")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#done h1")).to_have_text("Su voto está registrado")
    shot(page, "receipt-es")
    page.goto(f"{election.url}#results")
    expect(page.locator("#national-heading")).to_have_text("Totales nacionales")
    expect(page).to_have_title("Resultados · Elección nacional")
    page.click("#lang")
    expect(page.locator("#national-heading")).to_have_text("National totals")
    assert page.evaluate("localStorage.getItem('election.lang')") == "en"


def test_pages_talk_only_to_their_own_host_and_the_api(context: Any, election: Election) -> None:
    allowed = {urllib.parse.urlsplit(u).netloc for u in [election.url, *election.api]}
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url))
    vid = election.add_voter("FL")
    page = open_page(context, election)
    enter_id(page, vid)
    choose_and_cast(page, "Hillary Clinton")
    for route in ("receipt", "results"):
        page.goto(f"{election.url}#{route}")
        page.reload()
        page.wait_for_selector("body[data-ready]")
    page.click("a[data-route=results]")
    expect(page.locator("#national li").first).to_be_visible()
    page.wait_for_load_state("networkidle")      # also proves no request is left hanging
    hosts = {urllib.parse.urlsplit(u).netloc for u in seen if not u.startswith(("data:", "blob:"))}
    assert hosts, "no request was recorded"
    assert hosts <= allowed, f"requests to other hosts: {sorted(hosts - allowed)}"
    assert any("/ballot" in u for u in seen) and any("/results" in u for u in seen)


def test_page_source_keeps_a_strict_csp_workable() -> None:
    """No inline script or style and no external URL in the shipped files, and a CSP meta tag."""
    site = ROOT / "website"
    html = (site / "index.html").read_text()
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="[^"]*script-src \'self\'', html)
    assert "'unsafe-inline'" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), "inline style or event handler"
    for path in site.iterdir():
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text()
            assert not re.search(r"(?:src|href|url\()\s*=?\s*[\"']?(?:https?:)?//", text), f"external URL in {path.name}"
    size = sum(p.stat().st_size for p in site.iterdir() if p.is_file())
    assert size < 80_000, f"the page weighs {size} bytes"


CONTRAST_JS = """() => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.checkVisibility() || el.closest('.visually-hidden')) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const fg = parse(s.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) worst.push(`${el.tagName}#${el.id}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return worst;
}"""


def test_text_contrast_meets_wcag_aa(context: Any, election: Election) -> None:
    page = open_page(context, election)
    enter_id(page, "ABC")                               # shows the error text too
    assert page.evaluate(CONTRAST_JS) == []
    enter_id(page, election.add_voter("GA"))
    expect(page.locator("#ballot-form")).to_be_visible()
    page.get_by_label("Donald Trump").check()
    assert page.evaluate(CONTRAST_JS) == []
    page.goto(f"{election.url}#results")
    expect(page.locator("#national li").first).to_be_visible()
    assert page.evaluate(CONTRAST_JS) == []


def test_polls_closed_is_said_plainly(context: Any, election: Election) -> None:
    early = election.add_voter("MI")
    late = election.add_voter("MI")
    page = open_page(context, election)
    enter_id(page, early)
    page.get_by_label("Gary Johnson").check()
    page.click("#ballot-form button[type=submit]")
    election.set_polls(False)              # the polls close while this voter is reviewing
    try:
        page.click("#confirm")
        expect(page.locator("#problem")).to_be_visible()
        expect(page.locator("#problem-heading")).to_have_text("The polls are closed")
        expect(page.locator("#retry")).to_be_hidden()
        second = open_page(context, election)
        enter_id(second, late)             # and a voter arriving later is told before seeing a ballot
        expect(second.locator("#problem-heading")).to_have_text("The polls are closed")
        expect(second.locator("#ballot-form")).to_be_hidden()
    finally:
        election.set_polls(True)
    status, body = call(election.api[0], "POST", "/ballot", {"voter_id": early})
    assert status == 200 and body["voted"] is False
