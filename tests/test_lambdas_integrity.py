"""Only the pipeline casts a ballot (issue 10.2) and nothing adds one once the election is final (10.3).

Forged messages are sent straight to the queues with SendMessage, as an insider with queue
access but without the queue key would; `process` must refuse them (fail them, so SQS retries
and then dead-letters them), count `Refused`, and write nothing.
"""

from __future__ import annotations

import json
import secrets

import boto3
import pytest
from pipeline_fixture import Pipeline

from election.lambdas import logic

EAST, WEST = "us-east-1", "us-west-2"


def metrics(capsys: pytest.CaptureFixture) -> list[dict]:
    return [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]


def send(p: Pipeline, region: str, body: str, queue: str = "votes") -> None:
    url = (p.queue_urls if queue == "votes" else p.handoff_urls)[region]
    boto3.client("sqs", region_name=region).send_message(QueueUrl=url, MessageBody=body)


def forged(p: Pipeline, key: bytes, state: str = "WY", candidate: str = "Jill Stein", region: str = WEST) -> str:
    return logic.Vote.signed(key, secrets.token_hex(16), state, candidate, secrets.token_hex(16), region).to_json()


def test_forged_send_message_is_refused_and_writes_nothing(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    untagged = json.dumps({"bk": secrets.token_hex(16), "state": "WY", "candidate": "Jill Stein",
                           "nonce": secrets.token_hex(16), "region": WEST, "tag": "0" * 64})
    send(p, WEST, untagged)
    send(p, WEST, forged(p, secrets.token_bytes(32)))                   # tagged with a guessed key
    capsys.readouterr()
    assert p.drain(WEST) == {"handled": 0, "failed": 2}, "refused: left for SQS to retry, then dead-letter"
    lines = metrics(capsys)
    assert sum(d.get("Refused", 0) for d in lines) == 2 and not any(d.get("Recorded") for d in lines)
    assert any("tag does not verify" in d.get("refused", "") for d in lines)
    assert p.ballots(WEST) == []


def test_authentic_message_off_ballot_or_not_homed_here_is_refused(pipeline: Pipeline,
                                                                   capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    key = p.message_key()
    send(p, WEST, forged(p, key, "NY", "Jill Stein", WEST))           # NY is homed in us-east-1
    send(p, WEST, forged(p, key, "TX", "Evan McMullin", WEST))        # McMullin is only on UT's ballot
    send(p, EAST, forged(p, key, "TX", "Jill Stein", EAST))           # claims east is TX's home
    capsys.readouterr()
    assert p.drain(WEST)["failed"] == 2 and p.drain(EAST)["failed"] == 1
    reasons = [d["refused"] for d in metrics(capsys) if "refused" in d]
    assert any("NY is not homed in us-west-2" in r for r in reasons)
    assert any("not on TX's ballot" in r for r in reasons)
    assert any("TX is not homed in us-east-1" in r for r in reasons)
    assert p.ballots(WEST) == [] and p.ballots(EAST) == []
    send(p, WEST, forged(p, key, "TX", "Jill Stein", WEST))           # the same, done right, is written
    assert p.drain(WEST)["handled"] == 1
    assert [(b["state"]["S"], b["candidate"]["S"]) for b in p.ballots(WEST)] == [("TX", "Jill Stein")]


def test_forged_handoff_message_is_not_forwarded(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    send(p, EAST, forged(p, secrets.token_bytes(32), "TX", "Jill Stein", WEST), queue="handoff")
    capsys.readouterr()
    assert p.drain(EAST, "handoff") == {"handled": 0, "failed": 1}
    assert any(d.get("Refused") for d in metrics(capsys))
    assert p.receive(WEST) == []


def final(p: Pipeline) -> None:
    for r in (EAST, WEST):
        boto3.client("dynamodb", region_name=r).put_item(TableName=p.names["results"], Item={
            "pk": {"S": "polls"}, "open": {"BOOL": False}, "changed_at": {"S": "2026-11-03T20:00:00Z"},
            "tallied_at": {"S": "2026-11-03T20:05:00Z"}})


def test_nothing_is_written_or_forwarded_once_the_election_is_final(pipeline: Pipeline,
                                                                   capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    [tx] = p.seed(1, ("TX",))
    assert p.vote(EAST, tx, "Jill Stein")["statusCode"] == 202          # queued in us-west-2 before close
    send(p, EAST, forged(p, p.message_key(), "TX", "Gary Johnson", WEST), queue="handoff")
    final(p)
    capsys.readouterr()
    assert p.drain(WEST) == {"handled": 0, "failed": 1}
    assert p.drain(EAST, "handoff") == {"handled": 0, "failed": 1}
    lines = metrics(capsys)
    assert sum(d.get("RefusedFinal", 0) for d in lines) == 2
    assert any(d.get("refused", "").startswith("The election is final") for d in lines)
    assert p.ballots(WEST) == []
    assert len(p.receive(WEST)) == 1 and len(p.receive(EAST, "handoff")) == 1, "the messages stay where they are"


def test_a_state_short_of_k_waits_for_more_of_its_votes(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    """The state is on the ballot, so a lone WY vote in a batch of NY votes would be alone in its mix."""
    from election.lambdas import contract, process

    p = pipeline
    handler = process.make_handler({**p.regions[WEST].env, contract.ENV_MIX_MIN: "3", contract.ENV_MIX_DEFER: "2"})
    key = p.message_key()

    def records(*bodies: str, receives: int = 1) -> dict:
        return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"h{i}", "body": b,
                             "attributes": {"ApproximateReceiveCount": str(receives)}} for i, b in enumerate(bodies)]}

    event = records(*(forged(p, key, "TX", "Jill Stein") for _ in range(3)), forged(p, key, "WY", "Jill Stein"))
    capsys.readouterr()
    out = handler(event, None)
    assert [f["itemIdentifier"] for f in out["batchItemFailures"]] == ["m3"]          # WY held back
    assert sorted(b["state"]["S"] for b in p.ballots(WEST)) == ["TX"] * 3
    assert sum(d.get("Deferred", 0) for d in metrics(capsys)) == 1
    lone = forged(p, key, "WY", "Jill Stein")
    assert handler(records(lone, receives=3), None)["batchItemFailures"] == [], "deferred twice: written now"
    final(p)   # (closed and tallied: refuses) -- closed only: writes without deferring
    for r in (EAST, WEST):
        boto3.client("dynamodb", region_name=r).put_item(TableName=p.names["results"], Item={
            "pk": {"S": "polls"}, "open": {"BOOL": False}, "changed_at": {"S": "2026-11-03T20:00:00Z"}})
    assert handler(records(forged(p, key, "WY", "Gary Johnson")), None)["batchItemFailures"] == []
    assert sorted(b["state"]["S"] for b in p.ballots(WEST)).count("WY") == 2
