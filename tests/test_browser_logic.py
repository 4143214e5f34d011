"""The page's own modules, run in Chromium with a scripted fetch: failover and never-twice voting, formats, words.

These need no election, only website/ served on loopback; the flows themselves are tested against the
local stack in test_browser_vote.py and test_browser_failover.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import WEBSITE, _Server, _static_handler, chromium

pytest.importorskip("playwright")

pytestmark = pytest.mark.browser

# A fetch that answers from a script: {"<base><path>": [answer, answer, ...]} consumed in order;
# an answer is {"status", "body"} or "down" (a network error). Every call is logged.
HARNESS = """async ({script, run}) => {
  const { Api, ApiError, Unreachable } = await import('/api.js');
  const log = [];
  const fetchImpl = async (url, init) => {
    const path = url.replace(/^http:\\/\\/[^/]+/, '');
    const host = url.match(/^http:\\/\\/([^/]+)/)[1];
    log.push(`${init.method} ${host}${path}` + (init.body ? ' ' + init.body : ''));
    const queue = script[url] || [];
    const answer = queue.length > 1 ? queue.shift() : queue[0];
    if (!answer || answer === 'down') throw new TypeError('Failed to fetch');
    return new Response(JSON.stringify(answer.body ?? {}), { status: answer.status });
  };
  const api = new Api(['http://a', 'http://b'], { fetchImpl });
  let out, error = null;
  try { out = await (new Function('api', `return (async () => { ${run} })()`))(api); }
  catch (e) { error = { name: e.constructor.name, status: e.status, code: e.code, uncertain: e.uncertain }; }
  return { out, error, log, endpoint: api.endpoint };
}"""

OK = {"status": 200, "body": {"status": "ok"}}
SICK = {"status": 503, "body": {"error": "unhealthy", "message": "The votes queue is unreachable."}}
BALLOT = {"status": 200, "body": {"state": "CA", "candidates": ["A", "B"], "voted": False}}
VOTED = {"status": 200, "body": {"state": "CA", "candidates": ["A", "B"], "voted": True}}
ACCEPTED = {"status": 202, "body": {"receipt": "ab" * 16}}
ALREADY = {"status": 409, "body": {"error": "already_voted", "message": "A ballot is already recorded."}}
VID = "7KQ2M-XW3PA-9RT4D-HN8VB"
CAST = f"return await api.castVote('{VID}', 'A');"


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    site = _Server(_static_handler({"api": []}))
    with chromium() as browser:
        pg = browser.new_page()
        pg.goto(site.url + "/no-such-page")       # same origin as the modules, no app running
        yield pg
    site.stop()


def run(page: Any, script: dict[str, list[Any]], code: str) -> dict[str, Any]:
    return page.evaluate(HARNESS, {"script": script, "run": code})


def votes(log: list[str]) -> list[str]:
    return [line.split(" ")[1] for line in log if line.startswith("POST") and "/votes" in line]


def test_the_preferred_endpoint_is_asked_straight_away_without_a_health_check(page: Any) -> None:
    # A health check before the first request would be one more billed API request per vote.
    r = run(page, {"http://a/health": [OK], "http://a/ballot": [BALLOT], "http://a/votes": [ACCEPTED]},
            f"await api.ballot('{VID}'); return await api.castVote('{VID}', 'A');")
    assert r["error"] is None and r["out"] == {"receipt": "ab" * 16}
    assert r["log"] == [f'POST a/ballot {{"voter_id":"{VID}"}}', f'POST a/votes {{"voter_id":"{VID}","candidate":"A"}}']


def test_after_a_failure_the_first_healthy_endpoint_is_used(page: Any) -> None:
    r = run(page, {"http://a/ballot": ["down", BALLOT], "http://b/health": [SICK], "http://a/health": [OK]},
            f"return await api.ballot('{VID}');")
    assert r["error"] is None and r["out"]["state"] == "CA"
    # a failed: the others are asked first (b is sick), then a again, which is healthy by now.
    assert [x.split(" ")[1] for x in r["log"]] == ["a/ballot", "b/health", "a/health", "a/ballot"]
    assert r["endpoint"] == "http://a"


def test_a_read_fails_over_to_the_next_endpoint(page: Any) -> None:
    r = run(page, {"http://a/health": [OK], "http://a/ballot": ["down"], "http://b/health": [OK],
                   "http://b/ballot": [BALLOT]}, f"return await api.ballot('{VID}');")
    assert r["error"] is None and r["endpoint"] == "http://b"
    assert [x.split(" ")[1] for x in r["log"]] == ["a/ballot", "b/health", "b/ballot"]


def test_a_vote_is_sent_once_when_it_is_answered(page: Any) -> None:
    r = run(page, {"http://a/health": [OK], "http://a/votes": [ACCEPTED]}, CAST)
    assert r["out"] == {"receipt": "ab" * 16}
    assert votes(r["log"]) == ["a/votes"]


def test_a_lost_vote_answer_is_checked_and_not_resent_when_recorded(page: Any) -> None:
    r = run(page, {"http://a/health": [OK], "http://a/votes": ["down"], "http://b/health": [OK],
                   "http://b/ballot": [VOTED]}, CAST)
    assert r["error"] is None and r["out"]["recorded"] is True
    assert votes(r["log"]) == ["a/votes"]                     # never sent again


def test_a_lost_vote_is_resent_only_after_the_check_says_not_voted(page: Any) -> None:
    r = run(page, {"http://a/health": [OK], "http://a/votes": [{"status": 502, "body": {}}],
                   "http://b/health": [OK], "http://b/ballot": [BALLOT], "http://b/votes": [ACCEPTED]}, CAST)
    assert r["out"] == {"receipt": "ab" * 16}
    steps = [x.split(" ")[1] for x in r["log"]]
    assert steps == ["a/votes", "b/health", "b/ballot", "b/votes"]


def test_a_409_on_the_resend_means_the_first_attempt_landed(page: Any) -> None:
    r = run(page, {"http://a/health": [OK], "http://a/votes": ["down"], "http://b/health": [OK],
                   "http://b/ballot": [BALLOT], "http://b/votes": [ALREADY]}, CAST)
    assert r["error"] is None and r["out"]["recorded"] is True


def test_a_409_on_a_first_attempt_is_already_voted(page: Any) -> None:
    r = run(page, {"http://a/health": [OK], "http://a/votes": [ALREADY]}, CAST)
    assert r["error"] == {"name": "ApiError", "status": 409, "code": "already_voted", "uncertain": None}


def test_nothing_reachable_after_a_lost_vote_is_reported_as_uncertain(page: Any) -> None:
    r = run(page, {"http://a/health": [OK, "down"], "http://a/votes": ["down"], "http://b/health": ["down"]}, CAST)
    assert r["error"]["name"] == "Unreachable" and r["error"]["uncertain"] is True
    assert votes(r["log"]) == ["a/votes"]
    # Retrying from the page passes afterUncertain: it checks before it sends.
    r = run(page, {"http://a/health": [OK], "http://a/ballot": [VOTED]}, f"return await api.castVote('{VID}', 'A', true);")
    assert r["out"]["recorded"] is True and votes(r["log"]) == []


def test_voter_id_and_receipt_formats(page: Any) -> None:
    out = page.evaluate("""async () => {
      const f = await import('/format.js');
      return {
        pasted: f.checkVoterId(' 7kq2m xw3pa 9rt4d hn8vb '),
        nohyphens: f.checkVoterId('7KQ2MXW3PA9RT4DHN8VB'),
        lookalikes: f.checkVoterId('OKQ2M-XW3PA-9RT4D-HN8V1'),
        short: f.checkVoterId('7KQ2M-XW3'),
        empty: f.checkVoterId('  - '),
        grouped: f.groupVoterId('7kq2mxw3'),
        receipt: f.normaliseReceipt(' ABCD ' + 'ef01'.repeat(7)),
        badReceipt: f.normaliseReceipt('xyz'),
      };
    }""")
    assert out["pasted"] == {"id": VID} and out["nohyphens"] == {"id": VID}
    assert out["lookalikes"] == {"problem": "badchars", "chars": "O, 1"}
    assert out["short"] == {"problem": "length", "n": 8}
    assert out["empty"] == {"problem": "empty"}
    assert out["grouped"] == "7KQ2M-XW3"
    assert out["receipt"] == "abcd" + "ef01" * 7 and out["badReceipt"] is None


def test_results_body_is_drawn_in_ballot_order_with_zeros(page: Any) -> None:
    out = page.evaluate("""async () => {
      const { parseResults } = await import('/results.js');
      const r = parseResults({updated_at: '2026-11-03T20:00:00Z', total: 3,
        candidates: {B: 2, A: 1}, states: {UT: {total: 1, candidates: {C: 1}}}},
        {candidates: ['A', 'B'], overrides: {UT: ['A', 'B', 'C']}});
      return {national: r.national, ut: r.states.UT, when: r.updatedAt.toISOString()};
    }""")
    assert out["national"] == [["A", 1], ["B", 2], ["C", 0]]
    assert out["ut"] == {"total": 1, "counts": [["A", 0], ["B", 0], ["C", 1]]}
    assert out["when"] == "2026-11-03T20:00:00.000Z"


def test_every_word_exists_in_both_languages(page: Any) -> None:
    keys = page.evaluate("""async () => {
      const { STRINGS } = await import('/i18n.js');
      return { en: Object.keys(STRINGS.en), es: Object.keys(STRINGS.es) };
    }""")
    assert sorted(keys["en"]) == sorted(keys["es"])
    used = set(re.findall(r'data-i18n(?:-label)?="([^"]+)"', (WEBSITE / "index.html").read_text()))
    used |= set(re.findall(r'\bt\("([a-z.]+)"', (WEBSITE / "app.js").read_text()))
    assert used - set(keys["en"]) == set(), "keys used in the page but not translated"
