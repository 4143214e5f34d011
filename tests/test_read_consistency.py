"""Which DynamoDB reads are eventually consistent (half the read units) and which must stay strong.

The request parameters are captured with a botocore event hook on the handlers' own clients (moto
answers them; it ignores ConsistentRead, so only the parameters can show what AWS would be asked).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipeline_fixture import Pipeline, api_event

from election.lambdas import contract

EAST, WEST = "us-east-1", "us-west-2"


def capture(client: Any, operation: str) -> list[dict[str, Any]]:
    """Every request `client` sends for `operation`, as its parameters."""
    seen: list[dict[str, Any]] = []
    client.meta.events.register(f"provide-client-params.dynamodb.{operation}",
                                lambda params, **_: seen.append(json.loads(json.dumps(params))))
    return seen


@pytest.fixture
def p(pipeline: Pipeline) -> Pipeline:
    pipeline.seed(1, ("NY", "CA"))
    return pipeline


@pytest.mark.parametrize("path", ["/ballot", "/votes"])
def test_enqueue_lookups_are_eventually_consistent_on_both_tables(p: Pipeline, path: str) -> None:
    enqueue = p.regions[EAST].handlers["enqueue"]
    seen = capture(enqueue.ddb, "BatchGetItem")   # type: ignore[attr-defined]
    body = {"voter_id": p.voter_in("NY")} | ({"candidate": "Jill Stein"} if path == "/votes" else {})
    assert p.call(EAST, "enqueue", api_event("POST", path, body))["statusCode"] in (200, 202)
    [params] = seen
    tables = params["RequestItems"]
    assert set(tables) == {p.env(EAST)[contract.ENV_VOTERS_TABLE], p.env(EAST)[contract.ENV_BALLOTS_TABLE]}
    # Spelt out as False (BatchGetItem's per-table default), so a strong read cannot creep back in.
    assert {name: t.get("ConsistentRead") for name, t in tables.items()} == dict.fromkeys(tables, False)


def test_process_polls_read_and_conflict_read_back_stay_strongly_consistent(p: Pipeline) -> None:
    ny = p.voter_in("NY")
    assert p.vote(EAST, ny, "Jill Stein")["statusCode"] == 202
    process = p.regions[EAST].handlers["process"]
    seen = capture(process.ddb, "GetItem")   # type: ignore[attr-defined]
    assert p.drain(EAST) == {"handled": 1, "failed": 0}
    [polls] = seen
    assert polls["TableName"] == p.env(EAST)[contract.ENV_RESULTS_TABLE] and polls["ConsistentRead"] is True
    # The read-back after a failed conditional put (when AWS did not return the old item).
    existing = process._read(p.receipt_of(ny))   # type: ignore[attr-defined]
    assert existing is not None and existing["candidate"]["S"] == "Jill Stein"
    assert seen[-1]["TableName"] == p.env(EAST)[contract.ENV_BALLOTS_TABLE] and seen[-1]["ConsistentRead"] is True


def test_a_ballot_the_lookup_did_not_see_is_refused_by_process_and_the_receipt_shows_the_first(p: Pipeline,
                                                                                             capsys: Any) -> None:
    """What an eventually consistent lookup can miss: a ballot recorded a moment before. Played by a hook
    that hides the ballots table's answer (as a replica or partition not yet caught up would)."""
    ny = p.voter_in("NY")
    assert p.vote(EAST, ny, "Jill Stein")["statusCode"] == 202
    p.drain(EAST)
    enqueue = p.regions[WEST].handlers["enqueue"]
    ballots = p.env(WEST)[contract.ENV_BALLOTS_TABLE]

    def stale(parsed: dict[str, Any], **_: Any) -> None:
        parsed.get("Responses", {}).pop(ballots, None)

    enqueue.ddb.meta.events.register("after-call.dynamodb.BatchGetItem", stale)   # type: ignore[attr-defined]
    second = p.vote(WEST, ny, "Donald Trump")
    assert second["statusCode"] == 202 and json.loads(second["body"]) == {"receipt": p.receipt_of(ny)}
    capsys.readouterr()
    assert p.drain(EAST) == {"handled": 1, "failed": 0}
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert sum(d.get("Duplicates", 0) for d in lines) == 1 and not any(d.get("Recorded") for d in lines)
    [ballot] = p.ballots(EAST)
    assert ballot["candidate"]["S"] == "Jill Stein"
    receipt = p.call(EAST, "receipt", api_event("GET", f"/receipts/{p.receipt_of(ny)}",
                                                path_params={"receipt": p.receipt_of(ny)}))
    assert json.loads(receipt["body"])["status"] in ("recorded", "counted")


def _throttle_voters_key(enqueue: Any, voters: str, times: int) -> list[int]:
    """Play a throttled BatchGetItem: AWS answers 200 with the voter's key in UnprocessedKeys (not an
    error, and not a missing item) for the first `times` calls. Returns the calls seen (a list to count)."""
    sent: list[dict[str, Any]] = []
    calls: list[int] = []
    enqueue.ddb.meta.events.register("provide-client-params.dynamodb.BatchGetItem",
                                     lambda params, **_: sent.append(json.loads(json.dumps(params))))

    def throttled(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(1)
        if len(calls) <= times and voters in sent[-1]["RequestItems"]:
            parsed.get("Responses", {}).pop(voters, None)
            parsed["UnprocessedKeys"] = {voters: sent[-1]["RequestItems"][voters]}

    enqueue.ddb.meta.events.register("after-call.dynamodb.BatchGetItem", throttled)
    return calls


@pytest.mark.parametrize("path", ["/ballot", "/votes"])
def test_a_voter_key_left_unprocessed_is_asked_again_never_taken_for_not_on_the_roll(p: Pipeline, path: str) -> None:
    """BatchGetItem under throttling returns UnprocessedKeys ("DynamoDB BatchGetItem", API reference: retry
    them, with backoff), which is not an absent item: the voter must be looked up again, not refused 404."""
    enqueue = p.regions[EAST].handlers["enqueue"]
    calls = _throttle_voters_key(enqueue, p.env(EAST)[contract.ENV_VOTERS_TABLE], times=2)
    body = {"voter_id": p.voter_in("NY")} | ({"candidate": "Jill Stein"} if path == "/votes" else {})
    resp = p.call(EAST, "enqueue", api_event("POST", path, body))
    assert resp["statusCode"] in (200, 202), resp
    assert len(calls) == 3
    if path == "/ballot":
        assert json.loads(resp["body"])["state"] == "NY"


def test_a_voter_key_unprocessed_every_time_answers_503_not_unknown_voter(p: Pipeline) -> None:
    enqueue = p.regions[EAST].handlers["enqueue"]
    _throttle_voters_key(enqueue, p.env(EAST)[contract.ENV_VOTERS_TABLE], times=1_000)
    resp = p.call(EAST, "enqueue", api_event("POST", "/votes", {"voter_id": p.voter_in("NY"), "candidate": "Jill Stein"}))
    assert resp["statusCode"] == 503 and "unknown_voter" not in resp["body"], resp
    assert p.receive(EAST) == [], "nothing was queued"


def _throttle_ballots_key(enqueue: Any, ballots: str) -> None:
    """Play a ballots table short of read capacity: its key comes back in UnprocessedKeys every time."""
    sent: list[dict[str, Any]] = []
    enqueue.ddb.meta.events.register("provide-client-params.dynamodb.BatchGetItem",
                                     lambda params, **_: sent.append(json.loads(json.dumps(params))))

    def throttled(parsed: dict[str, Any], **_: Any) -> None:
        if ballots in sent[-1]["RequestItems"]:
            parsed.get("Responses", {}).pop(ballots, None)
            parsed["UnprocessedKeys"] = {ballots: sent[-1]["RequestItems"][ballots]}

    enqueue.ddb.meta.events.register("after-call.dynamodb.BatchGetItem", throttled)


def test_a_ballot_key_unprocessed_every_time_still_takes_the_vote_and_process_refuses_a_second(p: Pipeline) -> None:
    """With the ballots table provisioned, its lookups can be throttled; whether a ballot exists is a courtesy,
    so the voter is not answered 503 for it: the vote is taken, and a second vote is still one ballot."""
    enqueue = p.regions[EAST].handlers["enqueue"]
    _throttle_ballots_key(enqueue, p.env(EAST)[contract.ENV_BALLOTS_TABLE])
    ny = p.voter_in("NY")
    ballot = p.call(EAST, "enqueue", api_event("POST", "/ballot", {"voter_id": ny}))
    assert ballot["statusCode"] == 200 and json.loads(ballot["body"])["state"] == "NY", ballot
    first = p.call(EAST, "enqueue", api_event("POST", "/votes", {"voter_id": ny, "candidate": "Jill Stein"}))
    second = p.call(EAST, "enqueue", api_event("POST", "/votes", {"voter_id": ny, "candidate": "Gary Johnson"}))
    assert first["statusCode"] == 202 and second["statusCode"] == 202, (first, second)
    p.drain(EAST)
    [stored] = p.ballots(EAST)
    assert stored["candidate"]["S"] in ("Jill Stein", "Gary Johnson")
