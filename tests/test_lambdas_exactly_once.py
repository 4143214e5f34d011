"""Exactly-once: redeliveries, duplicate votes (also from 8 threads at once), stream replays, poison."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import boto3
import pytest
from pipeline_fixture import Pipeline, api_event

from election.lambdas import logic

EAST, WEST = "us-east-1", "us-west-2"


def count_of(p: Pipeline, region: str, state: str, candidate: str) -> int:
    return p.results(region, state)["candidates"][candidate]


def message(p: Pipeline, voter: str, candidate: str, nonce: str, region: str = EAST) -> str:
    state = p.voters[voter]
    return logic.Vote.signed(p.message_key(), bk=p.receipt_of(voter), state=state, candidate=candidate, nonce=nonce,
                             region=region).to_json()


def sqs_event(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"h{i}", "body": b} for i, b in enumerate(bodies)]}


def process(p: Pipeline, region: str, event: dict, capsys: pytest.CaptureFixture | None = None) -> dict:
    return p.call(region, "process", event)


def votes_then_stream_batch(p: Pipeline, count: int, states: tuple[str, ...], candidate: str) -> dict:
    """Seed voters, vote them all for `candidate` in EAST and process the queue: the stream batch tally is given."""
    for v in p.seed(count, states):
        p.vote(EAST, v, candidate)
    p.drain(EAST)
    return p.tally(EAST)


def last_metrics(capsys: pytest.CaptureFixture) -> dict[str, Any]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_same_message_twice_is_one_ballot_and_one_count(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    [ny] = p.seed(1, ("NY",))
    assert p.vote(WEST, ny, "Jill Stein")["statusCode"] == 202
    records = p.receive(EAST)
    assert p.call(EAST, "process", {"Records": records}) == {"batchItemFailures": []}
    assert last_metrics(capsys)["Recorded"] == 1
    assert p.call(EAST, "process", {"Records": records}) == {"batchItemFailures": []}   # SQS redelivers
    metrics = last_metrics(capsys)
    assert metrics["Redelivered"] == 1 and "Duplicates" not in metrics and "Recorded" not in metrics
    assert len(p.ballots(EAST)) == 1
    p.tally(EAST)
    assert count_of(p, EAST, "NY", "Jill Stein") == 1


def test_two_votes_by_one_voter_sequential_one_ballot_one_duplicate(pipeline: Pipeline,
                                                                    capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    [ny] = p.seed(1, ("NY",))
    # Both accepted (the first is not yet a ballot, so no 409), from two regions.
    assert p.vote(EAST, ny, "Jill Stein")["statusCode"] == 202
    assert p.vote(WEST, ny, "Donald Trump")["statusCode"] == 202
    capsys.readouterr()
    assert p.drain(EAST) == {"handled": 2, "failed": 0}
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert sum(d.get("Recorded", 0) for d in lines) == 1 and sum(d.get("Duplicates", 0) for d in lines) == 1
    [ballot] = p.ballots(EAST)
    # First stored wins and the second changes nothing; both arrived in one mixing batch, which is
    # written in random order, so either may be first.
    won = ballot["candidate"]["S"]
    assert won in ("Jill Stein", "Donald Trump")
    p.tally(EAST)
    res = p.results(EAST, "NY")
    assert res["total"] == 1 and res["candidates"][won] == 1


def test_eight_concurrent_messages_for_one_voter_make_one_ballot(pipeline: Pipeline) -> None:
    p = pipeline
    [ca] = p.seed(1, ("CA",))
    candidates = ["Hillary Clinton", "Donald Trump", "Gary Johnson", "Jill Stein"] * 2
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    proc = p.regions[WEST].handlers["process"]

    def worker(i: int) -> None:
        try:
            body = message(p, ca, candidates[i], nonce=f"{i:032x}", region=WEST)
            barrier.wait()
            vote = logic.parse_vote(body)
            outcomes.append(proc.apply(vote, p.ballot_tag_key(), "2026-11-03T10:00Z"))  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Counter(outcomes) == {"Recorded": 1, "Duplicates": 7}
    [ballot] = p.ballots(WEST)
    p.tally(WEST)
    res = p.results(WEST, "CA")
    assert res["total"] == 1 and res["candidates"][ballot["candidate"]["S"]] == 1


def test_replayed_stream_batch_leaves_counts_unchanged(pipeline: Pipeline) -> None:
    p = pipeline
    batch = votes_then_stream_batch(p, 3, ("NY", "FL"), "Gary Johnson")
    assert len(batch["Records"]) == 6
    before = p.results(EAST)
    assert before["total"] == 6
    for _ in range(2):
        assert p.call(EAST, "tally", batch)["batchItemFailures"] == []
    assert p.results(EAST) == before
    # A later batch that overlaps the old one (Lambda retrying from an earlier position) adds only the new.
    [late] = p.seed(1, ("NY",))
    p.vote(EAST, late, "Jill Stein")
    p.drain(EAST)
    shard, new = p.stream_batch(EAST)
    overlap = {"Records": batch["Records"][3:] + new, "shardId": shard}
    assert p.call(EAST, "tally", overlap)["batchItemFailures"] == []
    after = p.results(EAST)
    assert after["total"] == 7 and after["states"]["NY"]["candidates"] == {
        "Hillary Clinton": 0, "Donald Trump": 0, "Gary Johnson": 3, "Jill Stein": 1}


def test_tally_counts_only_its_own_regions_inserts(pipeline: Pipeline) -> None:
    p = pipeline
    [ca] = p.seed(1, ("CA",))
    [ny] = p.seed(1, ("NY",))
    p.vote(EAST, ca, "Jill Stein")
    p.vote(EAST, ny, "Jill Stein")
    p.drain(EAST)
    p.drain(WEST)
    p.replicate()     # each region's stream now also has the other region's ballot
    east, west = p.tally(EAST), p.tally(WEST)
    assert len(east["Records"]) == len(west["Records"]) == 2
    p.replicate()
    for region in (EAST, WEST):
        res = p.results(region)
        assert res["total"] == 2 and res["states"]["CA"]["total"] == 1 and res["states"]["NY"]["total"] == 1


def test_one_poisoned_message_fails_alone(pipeline: Pipeline) -> None:
    p = pipeline
    voters = p.seed(3, ("NY",))
    good = [message(p, v, "Jill Stein", nonce=f"{i:032x}") for i, v in enumerate(voters)]
    bad = ["{not json", json.dumps({"bk": "x"}), message(p, next(iter(voters)), "Jill Stein", "f" * 32, region=WEST)]
    event = sqs_event(good[0], bad[0], good[1], bad[1], good[2], bad[2])
    resp = p.call(EAST, "process", event)
    assert resp == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"},
                                          {"itemIdentifier": "m5"}]}
    assert len(p.ballots(EAST)) == 3 and p.ballots(WEST) == []


def test_transient_write_failure_fails_that_message_only_and_retry_succeeds(pipeline: Pipeline) -> None:
    p = pipeline
    voters = list(p.seed(3, ("NY",)))
    proc = p.regions[EAST].handlers["process"]
    real_put = proc.ddb.put_item  # type: ignore[attr-defined]
    victim = p.receipt_of(voters[1])

    def flaky_put(**kwargs: Any) -> Any:
        if kwargs["Item"]["bk"]["S"] == victim:
            raise proc.ddb.exceptions.ProvisionedThroughputExceededException(  # type: ignore[attr-defined]
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem")
        return real_put(**kwargs)

    bodies = [message(p, v, "Donald Trump", nonce=f"{i:032x}") for i, v in enumerate(voters)]
    proc.ddb.put_item = flaky_put  # type: ignore[attr-defined]
    assert p.call(EAST, "process", sqs_event(*bodies)) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    proc.ddb.put_item = real_put  # type: ignore[attr-defined]
    assert p.call(EAST, "process", sqs_event(*bodies)) == {"batchItemFailures": []}   # whole batch redelivered
    assert len(p.ballots(EAST)) == 3
    p.tally(EAST)
    assert count_of(p, EAST, "NY", "Donald Trump") == 3


def test_split_transactions_advance_the_checkpoint_and_resume_after_failure(pipeline: Pipeline) -> None:
    p = pipeline
    states = ("NY", "FL", "GA", "OH", "PA")
    voters = p.seed(2, states)
    for v in voters:
        p.vote(EAST, v, "Hillary Clinton")
    p.drain(EAST)
    shard, records = p.stream_batch(EAST)
    tal = p.regions[EAST].handlers["tally"]
    tal.max_items = 3      # two states per transaction + the checkpoint  # type: ignore[attr-defined]
    real = tal.ddb.transact_write_items  # type: ignore[attr-defined]
    calls = []

    def failing_second(**kwargs: Any) -> Any:
        calls.append(kwargs)
        assert len(kwargs["TransactItems"]) <= 3
        if len(calls) == 2:
            raise tal.ddb.exceptions.InternalServerError(  # type: ignore[attr-defined]
                {"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")
        return real(**kwargs)

    tal.ddb.transact_write_items = failing_second  # type: ignore[attr-defined]
    event = {"Records": records, "shardId": shard}
    resp = p.call(EAST, "tally", event)
    [failure] = resp["batchItemFailures"]
    applied = p.results(EAST)["total"]
    assert 0 < applied < 10
    # Lambda resumes at the reported record; the records before it are not given again.
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    resume = {"Records": records[seqs.index(failure["itemIdentifier"]):], "shardId": shard}
    assert p.call(EAST, "tally", resume)["batchItemFailures"] == []
    # ...and a full replay on top of that changes nothing.
    assert p.call(EAST, "tally", event)["batchItemFailures"] == []
    res = p.results(EAST)
    assert res["total"] == 10 and all(res["states"][s]["candidates"]["Hillary Clinton"] == 2 for s in states)
    assert len(calls) >= 4


def test_lost_checkpoint_race_rereads_and_does_not_double_count(pipeline: Pipeline) -> None:
    p = pipeline
    batch = votes_then_stream_batch(p, 2, ("NY",), "Jill Stein")
    tal = p.regions[EAST].handlers["tally"]
    real = tal._checkpoint  # type: ignore[attr-defined]
    stale = iter([(None, None)])   # a concurrent replay read the checkpoint before the first run wrote it
    tal._checkpoint = lambda key: next(stale, real(key))  # type: ignore[attr-defined]
    assert p.call(EAST, "tally", batch)["batchItemFailures"] == []
    assert count_of(p, EAST, "NY", "Jill Stein") == 2


def test_checkpoint_is_zero_padded_and_compared_as_integer(pipeline: Pipeline) -> None:
    p = pipeline
    [ny] = p.seed(1, ("NY",))
    p.vote(EAST, ny, "Jill Stein")
    p.drain(EAST)
    batch = p.tally(EAST)
    items = boto3.client("dynamodb", region_name=EAST).scan(TableName=p.names["results"])["Items"]
    [cp] = [i for i in items if i["pk"]["S"].startswith("checkpoint#us-east-1#")]
    seq = batch["Records"][-1]["dynamodb"]["SequenceNumber"]
    assert cp["seq"]["S"] == seq.zfill(40) and int(cp["seq"]["S"]) == int(seq)
    assert cp["pk"]["S"] == f"checkpoint#us-east-1#{batch['shardId']}"
    assert logic.pad_seq("9") < logic.pad_seq("10")


def test_forward_reports_failures_per_message(pipeline: Pipeline) -> None:
    p = pipeline
    [ny] = p.seed(1, ("NY",))
    [ca] = p.seed(1, ("CA",))
    boto3.client("sqs", region_name=WEST).delete_queue(QueueUrl=p.queue_urls[WEST])
    event = sqs_event(message(p, ny, "Jill Stein", "a" * 32, region=EAST),
                      message(p, ca, "Jill Stein", "b" * 32, region=WEST), "garbage")
    assert p.call(WEST, "forward", event) == {"batchItemFailures": [{"itemIdentifier": "m2"},
                                                                     {"itemIdentifier": "m1"}]}
    assert p.drain(EAST) == {"handled": 1, "failed": 0}
    # Forwarding a message twice is harmless: the process handler sees the same nonce.
    assert p.call(WEST, "forward", sqs_event(message(p, ny, "Jill Stein", "a" * 32, region=EAST))) == {
        "batchItemFailures": []}
    assert p.drain(EAST) == {"handled": 1, "failed": 0}
    assert len(p.ballots(EAST)) == 1
    assert p.call(EAST, "enqueue", api_event("POST", "/votes", {"voter_id": ny, "candidate": "Jill Stein"}))[
        "statusCode"] == 409


def test_tally_metrics_report_replayed_records(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    p = pipeline
    batch = votes_then_stream_batch(p, 2, ("NY",), "Jill Stein")
    capsys.readouterr()
    p.call(EAST, "tally", batch)
    line = last_metrics(capsys)
    assert (line["Records"], line["Replayed"], line.get("Counted", 0)) == (2, 2, 0)
    assert line["Function"] == "tally" and "Transactions" not in line
