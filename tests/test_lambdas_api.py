"""The HTTP API of the vote pipeline: every status code and error code, with exact bodies and headers."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from pipeline_fixture import ORIGIN, Pipeline, api_event

from election.lambdas import contract, logic, results

EAST, WEST = "us-east-1", "us-west-2"
NATIONAL = ["Hillary Clinton", "Donald Trump", "Gary Johnson", "Jill Stein"]


def body(resp: dict) -> Any:
    return json.loads(resp["body"])


def queued(p: Pipeline, region: str, queue: str = "votes") -> int:
    url = (p.queue_urls if queue == "votes" else p.handoff_urls)[region]
    attrs = boto3.client("sqs", region_name=region).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


@pytest.fixture
def p(pipeline: Pipeline) -> Pipeline:
    pipeline.seed(1, ("CA", "NY", "UT", "WY"))
    return pipeline


def post(p: Pipeline, path: str, payload: Any = None, region: str = EAST, **kw: Any) -> dict:
    return p.call(region, "enqueue", api_event("POST", path, payload, **kw))


# --- 200 / 202 ----------------------------------------------------------------------------------

def test_ballot_tells_state_candidates_and_whether_voted(p: Pipeline) -> None:
    ca, ut = p.voter_in("CA"), p.voter_in("UT")
    resp = post(p, "/ballot", {"voter_id": ca})
    assert resp["statusCode"] == 200
    assert body(resp) == {"state": "CA", "candidates": NATIONAL, "voted": False, "polls_open": True}
    assert body(post(p, "/ballot", {"voter_id": ut.lower()}))["candidates"] == NATIONAL + ["Evan McMullin"]
    receipt = body(post(p, "/votes", {"voter_id": ca, "candidate": "Jill Stein"}))["receipt"]
    p.drain(WEST)
    p.replicate()
    assert body(post(p, "/ballot", {"voter_id": ca})) == {"state": "CA", "candidates": NATIONAL, "voted": True,
                                                          "polls_open": True, "receipt": receipt}


def test_vote_is_accepted_with_receipt_and_queued_in_home_region(p: Pipeline) -> None:
    ca = p.voter_in("CA")   # CA is homed in us-west-2; the vote arrives in us-east-1
    resp = post(p, "/votes", {"voter_id": ca, "candidate": "Gary Johnson"})
    assert resp["statusCode"] == 202
    assert body(resp) == {"receipt": p.receipt_of(ca)}
    assert (queued(p, WEST), queued(p, EAST), queued(p, EAST, "handoff")) == (1, 0, 0)
    msg = json.loads(p.receive(WEST)[0]["body"])
    assert set(msg) == {"bk", "state", "candidate", "nonce", "region", "tag"}, "no time: it would order ballots"
    assert (msg["bk"], msg["state"], msg["candidate"], msg["region"]) == (p.receipt_of(ca), "CA", "Gary Johnson", WEST)
    assert logic.parse_vote(json.dumps(msg)).authentic(p.message_key())


def test_voter_id_is_accepted_in_any_case_and_spacing(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    sloppy = " " + ny.replace("-", " ").lower() + " "
    resp = post(p, "/votes", {"voter_id": sloppy, "candidate": "Donald Trump"})
    assert resp["statusCode"] == 202 and body(resp) == {"receipt": p.receipt_of(ny)}


def test_base64_encoded_body_is_decoded(p: Pipeline) -> None:
    resp = post(p, "/ballot", {"voter_id": p.voter_in("NY")}, b64=True)
    assert resp["statusCode"] == 200 and body(resp)["state"] == "NY"


# --- 400 ----------------------------------------------------------------------------------------

BAD_REQUESTS = [
    ("malformed_json", '{"voter_id": ', "The request body is not valid JSON."),
    ("malformed_json", b"\xff\xfe{}", "The request body is not valid JSON."),
    ("invalid_body", '["AAAAA-BBBBB-CCCCC-DDDDD", "Jill Stein"]', "The request body must be a JSON object."),
    ("invalid_body", '"text"', "The request body must be a JSON object."),
    ("missing_field", '{"candidate": "Jill Stein"}', 'The field "voter_id" is required.'),
    ("unknown_field", '{"voter_id": "VID", "candidate": "Jill Stein", "state": "CA"}',
     'The field "state" is not allowed; send only "voter_id", "candidate".'),
    ("invalid_type", '{"voter_id": 12345, "candidate": "Jill Stein"}', 'The field "voter_id" must be a string.'),
    ("invalid_type", '{"voter_id": "VID", "candidate": ["Jill Stein"]}', 'The field "candidate" must be a string.'),
    ("invalid_type", '{"voter_id": "VID", "candidate": true}', 'The field "candidate" must be a string.'),
    ("invalid_voter_id", '{"voter_id": "AAAAA-BBBBB-CCCCC-DDDD", "candidate": "Jill Stein"}',
     "The voter ID is not in the published format (four groups of five letters and digits)."),
    ("invalid_voter_id", '{"voter_id": "00000-11111-22222-33333", "candidate": "Jill Stein"}',
     "The voter ID is not in the published format (four groups of five letters and digits)."),
]


@pytest.mark.parametrize("code,raw,message", BAD_REQUESTS)
def test_bad_vote_requests_get_400_with_code_and_change_nothing(p: Pipeline, code: str, raw: Any,
                                                                message: str) -> None:
    vid = p.voter_in("NY")
    raw = raw.replace("VID", vid) if isinstance(raw, str) else raw
    resp = post(p, "/votes", raw=raw)
    assert resp["statusCode"] == 400
    assert body(resp) == {"error": code, "message": message}
    assert vid not in resp["body"] and vid.lower() not in resp["body"]
    assert queued(p, EAST) == queued(p, WEST) == 0


def test_body_over_one_kilobyte_is_400(p: Pipeline) -> None:
    raw = json.dumps({"voter_id": p.voter_in("NY"), "candidate": "x" * 1000})
    assert len(raw) > 1024
    resp = post(p, "/votes", raw=raw)
    assert (resp["statusCode"], body(resp)) == (400, {"error": "body_too_large",
                                                      "message": "The request body is larger than 1024 bytes."})


def test_ballot_route_validates_strictly_too(p: Pipeline) -> None:
    resp = post(p, "/ballot", {"voter_id": p.voter_in("NY"), "candidate": "Jill Stein"})
    assert (resp["statusCode"], body(resp)["error"]) == (400, "unknown_field")


# --- 403 / 404 / 409 / 422 / 503 ----------------------------------------------------------------

def test_unknown_voter_is_404_without_echo(p: Pipeline) -> None:
    stranger = "ABCDE-FGHJK-LMNPQ-RSTUV"
    resp = post(p, "/votes", {"voter_id": stranger, "candidate": "Jill Stein"})
    assert (resp["statusCode"], body(resp)) == (404, {"error": "unknown_voter",
                                                      "message": "No voter with this ID is on the roll."})
    assert stranger not in resp["body"]
    assert body(post(p, "/ballot", {"voter_id": stranger}))["error"] == "unknown_voter"


def test_second_vote_after_ballot_recorded_is_409_in_any_region(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    assert post(p, "/votes", {"voter_id": ny, "candidate": "Jill Stein"})["statusCode"] == 202
    p.drain(EAST)
    p.replicate()
    for region in (EAST, WEST):
        resp = post(p, "/votes", {"voter_id": ny, "candidate": "Donald Trump"}, region=region)
        assert (resp["statusCode"], body(resp)) == (409, {
            "error": "already_voted", "message": "A ballot is already recorded for this voter ID."})
    assert queued(p, EAST) == queued(p, WEST) == 0


def test_candidate_not_on_the_states_ballot_is_422(p: Pipeline) -> None:
    ca, ut = p.voter_in("CA"), p.voter_in("UT")
    resp = post(p, "/votes", {"voter_id": ca, "candidate": "Evan McMullin"})
    assert (resp["statusCode"], body(resp)) == (422, {
        "error": "candidate_not_on_ballot", "message": "That candidate is not on this state's ballot."})
    assert post(p, "/votes", {"voter_id": ca, "candidate": "jill stein"})["statusCode"] == 422
    assert post(p, "/votes", {"voter_id": ut, "candidate": "Evan McMullin"})["statusCode"] == 202
    assert queued(p, WEST) == 1


def test_polls_closed_is_403_and_reopening_accepts_votes(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    assert post(p, "/ballot", {"voter_id": ny})["statusCode"] == 200     # both peppers now cached
    ddb = boto3.client("dynamodb", region_name=EAST)
    ddb.put_item(TableName=p.names["results"], Item={"pk": {"S": "polls"}, "open": {"BOOL": False},
                                                     "changed_at": {"S": "2026-11-03T20:00:00Z"}})
    resp = post(p, "/votes", {"voter_id": ny, "candidate": "Jill Stein"})
    assert (resp["statusCode"], body(resp)) == (403, {
        "error": "polls_closed", "message": "The polls are closed; no more votes are accepted."})
    closed = post(p, "/ballot", {"voter_id": ny})
    assert (closed["statusCode"], body(closed)["error"]) == (403, "polls_closed")
    assert p.regions[EAST].handlers["enqueue"].peppers._cache.keys() == {  # type: ignore[attr-defined]
        "election-local/voter-pepper"}   # the ballot pepper is no longer held in memory
    assert queued(p, EAST) == 0
    ddb.put_item(TableName=p.names["results"], Item={"pk": {"S": "polls"}, "open": {"BOOL": True},
                                                     "changed_at": {"S": "2026-11-03T06:00:00Z"}})
    assert post(p, "/votes", {"voter_id": ny, "candidate": "Jill Stein"})["statusCode"] == 202


def test_home_queue_down_hands_off_then_forward_delivers(p: Pipeline) -> None:
    ca = p.voter_in("CA")
    west = boto3.client("sqs", region_name=WEST)
    west.delete_queue(QueueUrl=p.queue_urls[WEST])
    resp = post(p, "/votes", {"voter_id": ca, "candidate": "Hillary Clinton"})
    assert resp["statusCode"] == 202 and body(resp) == {"receipt": p.receipt_of(ca)}
    assert queued(p, EAST, "handoff") == 1
    # While the home queue is still down, forwarding fails for that message only and keeps it queued.
    stats = p.drain(EAST, "handoff")
    assert stats == {"handled": 0, "failed": 1} and queued(p, EAST, "handoff") == 1
    assert west.create_queue(QueueName="election-local-votes")["QueueUrl"] == p.queue_urls[WEST]
    assert p.drain(EAST, "handoff") == {"handled": 1, "failed": 0}
    assert p.drain(WEST) == {"handled": 1, "failed": 0}
    [ballot] = p.ballots(WEST)
    assert (ballot["bk"]["S"], ballot["state"]["S"], ballot["region"]["S"]) == (p.receipt_of(ca), "CA", WEST)


def test_both_queues_down_is_503_and_nothing_stored(p: Pipeline) -> None:
    ca = p.voter_in("CA")
    boto3.client("sqs", region_name=WEST).delete_queue(QueueUrl=p.queue_urls[WEST])
    boto3.client("sqs", region_name=EAST).delete_queue(QueueUrl=p.handoff_urls[EAST])
    resp = post(p, "/votes", {"voter_id": ca, "candidate": "Hillary Clinton"})
    assert (resp["statusCode"], body(resp)) == (503, {
        "error": "vote_not_stored", "message": "Your vote could not be stored; nothing was recorded, please try again."})


def test_database_failure_is_503_unavailable(p: Pipeline) -> None:
    boto3.client("dynamodb", region_name=EAST).delete_table(TableName=p.names["voters"])
    resp = post(p, "/votes", {"voter_id": p.voter_in("NY"), "candidate": "Jill Stein"})
    assert (resp["statusCode"], body(resp)) == (503, {
        "error": "unavailable", "message": "The election service is temporarily unavailable; please try again."})


def test_unknown_route_is_404(p: Pipeline) -> None:
    resp = p.call(EAST, "enqueue", api_event("POST", "/vote", {"voter_id": "x"}))
    assert (resp["statusCode"], body(resp)["error"]) == (404, "not_found")


# --- headers ------------------------------------------------------------------------------------

def test_security_and_cors_headers(p: Pipeline) -> None:
    resp = post(p, "/ballot", {"voter_id": p.voter_in("NY")})
    h = resp["headers"]
    assert h["Access-Control-Allow-Origin"] == ORIGIN and h["Vary"] == "Origin"
    assert h["X-Content-Type-Options"] == "nosniff" and h["Cache-Control"] == "no-store"
    assert h["Content-Type"] == "application/json; charset=utf-8" and h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "no-referrer" and "Strict-Transport-Security" in h
    err = post(p, "/votes", raw="nope")
    assert err["headers"]["Access-Control-Allow-Origin"] == ORIGIN and err["headers"]["Cache-Control"] == "no-store"


@pytest.mark.parametrize("origin,allowed", [
    ("https://vote.example.org", True), ("http://127.0.0.1:8123", True), ("http://127.0.0.1:80", True),
    ("https://evil.example.org", False), ("http://127.0.0.1.evil.org:80", False), ("http://127.0.0.1:", False),
    (None, False)])
def test_cors_origin_matching_with_port_wildcard(p: Pipeline, origin: str | None, allowed: bool) -> None:
    resp = post(p, "/ballot", {"voter_id": p.voter_in("NY")}, origin=origin)
    assert resp["headers"].get("Access-Control-Allow-Origin") == (origin if allowed else None)


def test_preflight_is_answered(p: Pipeline) -> None:
    for role, path in (("enqueue", "/votes"), ("results", "/results"), ("receipt", "/receipts/x"),
                       ("health", "/health")):
        resp = p.call(EAST, role, api_event("OPTIONS", path, origin="http://127.0.0.1:8000"))
        assert resp["statusCode"] == 204 and resp["body"] == ""
        assert resp["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
        assert "OPTIONS" in resp["headers"]["Access-Control-Allow-Methods"]
        assert resp["headers"]["Access-Control-Allow-Headers"] == "content-type"
    denied = p.call(EAST, "enqueue", api_event("OPTIONS", "/votes", origin="https://evil.example.org"))
    assert "Access-Control-Allow-Methods" not in denied["headers"]


# --- results ------------------------------------------------------------------------------------

def vote_and_count(p: Pipeline, votes: list[tuple[str, str]]) -> None:
    for voter, cand in votes:
        assert post(p, "/votes", {"voter_id": voter, "candidate": cand})["statusCode"] == 202
    for r in (EAST, WEST):
        p.drain(r)
        p.tally(r)
    p.replicate()


def close_and_tally(p: Pipeline) -> None:
    """What `election close` leaves on the polls item once the final tally is done."""
    for r in (EAST, WEST):
        boto3.client("dynamodb", region_name=r).put_item(TableName=p.names["results"], Item={
            "pk": {"S": "polls"}, "open": {"BOOL": False}, "changed_at": {"S": "2026-11-03T20:00:00Z"},
            "tallied_at": {"S": "2026-11-03T20:01:00Z"}})


def test_results_show_turnout_live_and_candidates_only_once_final(p: Pipeline) -> None:
    for r in (EAST, WEST):
        p.regions[r].handlers["results"].live = False   # type: ignore[attr-defined]  # an AWS plan's default
    empty = p.results(EAST)
    assert empty["total"] == 0 and (empty["final"], empty["live"]) == (False, False)
    assert "candidates" not in empty
    assert len(empty["states"]) == 51 and empty["states"]["TX"] == {"total": 0}
    vote_and_count(p, [(p.voter_in("CA"), "Jill Stein"), (p.voter_in("NY"), "Jill Stein"),
                       (p.voter_in("UT"), "Evan McMullin")])
    during = p.results(WEST)
    assert during["total"] == 3 and during["states"]["UT"] == {"total": 1} and "candidates" not in during
    assert "candidates" not in p.results(WEST, "ut") and p.results(WEST, "ut")["total"] == 1
    for r in (EAST, WEST):   # polls closed, final tally not done yet: still turnout only
        boto3.client("dynamodb", region_name=r).put_item(TableName=p.names["results"], Item={
            "pk": {"S": "polls"}, "open": {"BOOL": False}, "changed_at": {"S": "2026-11-03T20:00:00Z"}})
    assert "candidates" not in p.results(EAST)
    close_and_tally(p)
    for region in (EAST, WEST):
        res = p.results(region)
        assert res["total"] == 3 and (res["final"], res["live"]) == (True, False)
        assert res["candidates"] == {"Hillary Clinton": 0, "Donald Trump": 0, "Gary Johnson": 0, "Jill Stein": 2,
                                     "Evan McMullin": 1}
        assert res["states"]["UT"]["candidates"]["Evan McMullin"] == 1 and res["states"]["NY"]["total"] == 1
        assert res["states"]["TX"] == {"total": 0, "candidates": {c: 0 for c in NATIONAL}}
        assert res["updated_at"].endswith("Z")
    one = p.results(WEST, "ut")
    assert set(one) == {"updated_at", "final", "live", "state", "total", "candidates"}
    assert (one["state"], one["total"], one["candidates"]["Evan McMullin"]) == ("UT", 1, 1)


def test_results_live_plan_shows_candidates_while_voting(p: Pipeline) -> None:
    assert p.plan.results.live, "the local plan shows the breakdown while voting (the demo)"
    handler = results.make_handler({**p.regions[EAST].env, contract.ENV_RESULTS_LIVE: "true"})
    handler.ttl = 0  # type: ignore[attr-defined]
    vote_and_count(p, [(p.voter_in("WY"), "Jill Stein")])
    res = json.loads(handler(api_event("GET", "/results"), None)["body"])
    assert (res["final"], res["live"], res["total"]) == (False, True, 1)
    assert res["states"]["WY"]["candidates"]["Jill Stein"] == 1 and res["candidates"]["Jill Stein"] == 1


def test_results_headers_and_unknown_state(p: Pipeline) -> None:
    ok = p.call(EAST, "results", api_event("GET", "/results"))
    assert ok["headers"]["Cache-Control"] == "public, max-age=5"
    assert ok["headers"]["X-Content-Type-Options"] == "nosniff"
    bad = p.call(EAST, "results", api_event("GET", "/results", query={"state": "XX"}))
    assert (bad["statusCode"], body(bad)) == (400, {
        "error": "unknown_state", "message": "The state must be a US state or DC postal code such as CA."})


def test_results_are_cached_per_container_for_the_ttl(p: Pipeline) -> None:
    handler = p.regions[WEST].handlers["results"]
    now = [100.0]
    handler.ttl, handler.clock = 1.0, (lambda: now[0])  # type: ignore[attr-defined]
    assert p.results(WEST)["total"] == 0
    vote_and_count(p, [(p.voter_in("CA"), "Jill Stein")])
    assert p.results(WEST)["total"] == 0      # within the second: the cached answer
    now[0] += 1.5
    assert p.results(WEST)["total"] == 1


# --- receipts -----------------------------------------------------------------------------------

def receipt(p: Pipeline, value: str, region: str = EAST) -> dict:
    return p.call(region, "receipt", api_event("GET", f"/receipts/{value}", path_params={"receipt": value}))


def test_receipt_unknown_recorded_counted(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    r = p.receipt_of(ny)
    assert body(receipt(p, r)) == {"receipt": r, "status": "unknown"}
    # The ballot's batch is written two minutes "ago", so a tally pass now is past its minute.
    p.regions[EAST].handlers["process"].clock = lambda: time.time() - 120  # type: ignore[attr-defined]
    post(p, "/votes", {"voter_id": ny, "candidate": "Jill Stein"})
    p.drain(EAST)
    assert body(receipt(p, r)) == {"receipt": r, "status": "recorded"}
    p.tally(EAST)
    resp = receipt(p, r)
    assert resp["statusCode"] == 200 and body(resp) == {"receipt": r, "status": "counted"}
    assert "Jill Stein" not in resp["body"]


def test_receipt_stays_recorded_until_the_tally_passes_its_minute(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    post(p, "/votes", {"voter_id": ny, "candidate": "Jill Stein"})   # written this minute
    p.drain(EAST)
    p.tally(EAST)
    assert body(receipt(p, p.receipt_of(ny)))["status"] == "recorded"
    boto3.client("dynamodb", region_name=EAST).put_item(
        TableName=p.names["results"], Item={"pk": {"S": "polls"}, "open": {"BOOL": False},
                                            "changed_at": {"S": "x"}, "tallied_at": {"S": "2026-11-03T21:00:00Z"}})
    assert body(receipt(p, p.receipt_of(ny)))["status"] == "counted"


def test_receipt_checks_share_one_checkpoint_scan_per_second(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    post(p, "/votes", {"voter_id": ny, "candidate": "Jill Stein"})
    p.drain(EAST)
    handler: Any = p.regions[EAST].handlers["receipt"]
    now = [100.0]
    handler.ttl, handler.clock = 1.0, lambda: now[0]
    scans: list[dict] = []
    real_scan = handler.ddb.scan
    handler.ddb.scan = lambda **kw: scans.append(kw) or real_scan(**kw)
    for _ in range(5):
        assert body(receipt(p, p.receipt_of(ny)))["status"] == "recorded"
    assert len(scans) == 1
    now[0] += 1.5
    receipt(p, p.receipt_of(ny))
    assert len(scans) == 2


@pytest.mark.parametrize("value", ["abc", "g" * 32, "0" * 33, "ABCDE-FGHJK-LMNPQ-RSTUV"])
def test_malformed_receipt_is_400(p: Pipeline, value: str) -> None:
    resp = receipt(p, value)
    assert (resp["statusCode"], body(resp)) == (400, {"error": "invalid_receipt",
                                                      "message": "A receipt is 32 hexadecimal characters."})


# --- health -------------------------------------------------------------------------------------

def test_health_reuses_a_passing_check_for_a_second_but_never_a_failing_one(p: Pipeline) -> None:
    """The page asks /health before each vote: a busy container answers from its last passing check."""
    h = p.regions[EAST].handlers["health"]
    now = [100.0]
    h.clock, h.ok_reuse_s = lambda: now[0], 1.0
    calls: list[str] = []
    real = h.checks
    h.checks = lambda: calls.append("check") or real()
    assert p.call(EAST, "health", api_event("GET", "/health"))["statusCode"] == 200
    boto3.client("dynamodb", region_name=EAST).delete_table(TableName=p.names["ballots"])
    now[0] += 0.5
    assert p.call(EAST, "health", api_event("GET", "/health"))["statusCode"] == 200   # reused
    assert calls == ["check"]
    now[0] += 0.6
    assert p.call(EAST, "health", api_event("GET", "/health"))["statusCode"] == 503
    assert p.call(EAST, "health", api_event("GET", "/health"))["statusCode"] == 503   # a failure is re-checked
    assert calls == ["check"] * 3


def test_health_ok_and_503_naming_the_failed_check(p: Pipeline) -> None:
    ok = p.call(EAST, "health", api_event("GET", "/health"))
    assert ok["statusCode"] == 200
    assert body(ok) == {"status": "ok", "region": EAST, "checks": {
        "voters_table": "ok", "ballots_table": "ok", "results_table": "ok", "votes_queue": "ok"}}
    boto3.client("dynamodb", region_name=EAST).delete_table(TableName=p.names["ballots"])
    bad = p.call(EAST, "health", api_event("GET", "/health"))
    assert bad["statusCode"] == 503
    b = body(bad)
    assert (b["error"], b["message"]) == ("unhealthy", "The ballots table check failed in us-east-1.")
    assert b["checks"]["ballots_table"] == "ResourceNotFoundException" and b["checks"]["voters_table"] == "ok"
    boto3.client("sqs", region_name=EAST).delete_queue(QueueUrl=p.queue_urls[EAST])
    b = body(p.call(EAST, "health", api_event("GET", "/health")))
    assert b["message"] == "The ballots table, votes queue checks failed in us-east-1."
    assert body(p.call(WEST, "health", api_event("GET", "/health")))["status"] == "ok"


# --- metrics ------------------------------------------------------------------------------------

def test_one_metric_line_per_request_without_voter_id_or_candidate(p: Pipeline, capsys: pytest.CaptureFixture) -> None:
    ca = p.voter_in("CA")
    capsys.readouterr()
    post(p, "/votes", {"voter_id": ca, "candidate": "Gary Johnson"})
    p.drain(WEST)
    p.tally(WEST)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3   # enqueue request, process batch, tally batch
    docs = [json.loads(ln) for ln in lines]
    assert [d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in docs] == ["Election/test"] * 3
    assert docs[0]["Queued"] == 1 and docs[0]["Status202"] == 1 and docs[0]["Route"] == "POST /votes"
    assert docs[1]["Recorded"] == 1 and docs[2]["Counted"] == 1
    out = "\n".join(lines)
    for secret in (ca, ca.replace("-", ""), "Gary Johnson", p.receipt_of(ca)):
        assert secret not in out


def test_polls_cache_reads_at_most_every_ttl() -> None:
    from election.lambdas.common import PollsCache

    class FakeDdb:
        calls = 0

        def get_item(self, **_: Any) -> dict:
            FakeDdb.calls += 1
            return {"Item": {"pk": {"S": "polls"}, "open": {"BOOL": FakeDdb.calls < 2}}}

    now = [0.0]
    cache = PollsCache(FakeDdb(), "t", ttl=2.0, clock=lambda: now[0])
    assert cache.is_open() and cache.is_open() and FakeDdb.calls == 1
    now[0] = 1.9
    assert cache.is_open() and FakeDdb.calls == 1
    now[0] = 2.0
    assert not cache.is_open() and FakeDdb.calls == 2


def test_missing_polls_item_means_open() -> None:
    from election.lambdas.common import PollsCache

    class Empty:
        def get_item(self, **_: Any) -> dict:
            return {}

    assert PollsCache(Empty(), "t").is_open()
    assert contract.POLLS_ITEM == "polls"


def test_enqueue_metrics_are_summed_per_request_class_and_flushed_by_interval(p: Pipeline) -> None:
    import io

    from election.lambdas.metrics import MetricsBuffer

    now = [0.0]
    out = io.StringIO()
    p.regions[EAST].handlers["enqueue"].metrics = MetricsBuffer(10.0, clock=lambda: now[0], out=out)  # type: ignore
    voters = list(p.seed(3, ("NY",)))
    for v in voters:
        post(p, "/votes", {"voter_id": v, "candidate": "Jill Stein"})
    post(p, "/votes", raw="nope")
    post(p, "/ballot", {"voter_id": voters[0]})
    assert out.getvalue() == ""          # nothing written yet: one line per class per interval
    now[0] = 10.0
    post(p, "/ballot", {"voter_id": voters[0]})
    lines = {d["Route"]: d for d in map(json.loads, out.getvalue().splitlines())}
    assert set(lines) == {"POST /votes", "POST /ballot"}
    assert (lines["POST /votes"]["Status202"], lines["POST /votes"]["Queued"], lines["POST /votes"]["Status400"]) == (
        3, 3, 1)
    assert lines["POST /ballot"]["Status200"] == 2


def test_module_level_handler_builds_once_from_os_environ(p: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from election.lambdas import health

    for k, v in p.regions[WEST].env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(health.handler, "instance", None)
    resp = health.handler(api_event("GET", "/health"), None)
    assert resp["statusCode"] == 200 and body(resp)["region"] == WEST
    first = health.handler.instance
    health.handler(api_event("GET", "/health"), None)
    assert health.handler.instance is first


def test_unknown_paths_and_methods_answer_404_or_405_from_the_default_route(p: Pipeline) -> None:
    for role in ("enqueue", "results"):
        event = api_event("DELETE", "/admin")
        event["routeKey"] = "$default"
        resp = p.call(EAST, role, event)
        assert (resp["statusCode"], body(resp)) == (404, {
            "error": "not_found", "message": "There is no such route; see the API's documentation."})
        event = api_event("GET", "/votes")
        event["routeKey"] = "$default"
        resp = p.call(EAST, role, event)
        assert resp["statusCode"] == 405 and body(resp)["error"] == "method_not_allowed"
        assert resp["headers"]["Allow"] == "POST, OPTIONS" and "/votes" not in body(resp)["message"]


def test_a_lone_surrogate_key_is_400_and_the_answer_is_utf8(p: Pipeline) -> None:
    resp = post(p, "/votes", raw='{"\\ud800":1}')
    assert (resp["statusCode"], body(resp)["error"]) == (400, "unknown_field")
    resp["body"].encode("utf-8")
    resp = post(p, "/ballot", raw="[" * 1024)
    assert (resp["statusCode"], body(resp)["error"]) == (400, "too_deep")
