"""The tally is robust to what an emulator (or a retried poller) may hand it: the same record twice in one
batch, and a second INSERT of one ballot key (a ballot is written once, by a conditional put)."""

from __future__ import annotations

import copy

from pipeline_fixture import Pipeline

EAST = "us-east-1"


def _fresh_batch(p: Pipeline, count: int, state: str, candidate: str) -> tuple[str, list[dict]]:
    for v in p.seed(count, (state,)):
        p.vote(EAST, v, candidate)
    p.drain(EAST)
    return p.stream_batch(EAST)


def test_a_record_repeated_inside_one_batch_is_counted_once(pipeline: Pipeline) -> None:
    p = pipeline
    shard, records = _fresh_batch(p, 3, "NY", "Jill Stein")
    assert len(records) == 3
    repeated = [records[0], records[0], records[1], records[1], records[2]]    # same sequence number and eventID
    assert p.call(EAST, "tally", {"Records": repeated, "shardId": shard})["batchItemFailures"] == []
    assert p.results(EAST, "NY")["candidates"]["Jill Stein"] == 3


def test_a_second_insert_of_one_ballot_key_is_counted_once(pipeline: Pipeline) -> None:
    """Two INSERT records of one key, with their own sequence numbers and eventIDs (what a stream that handed
    two writes one sequence number, or a stale replica write, would look like): one ballot, one count."""
    p = pipeline
    shard, records = _fresh_batch(p, 2, "OH", "Gary Johnson")
    again = copy.deepcopy(records[0])
    again["eventID"] = again["eventID"] + "-again"
    again["dynamodb"]["SequenceNumber"] = str(int(records[-1]["dynamodb"]["SequenceNumber"]) + 1)
    assert p.call(EAST, "tally", {"Records": [*records, again], "shardId": shard})["batchItemFailures"] == []
    assert p.results(EAST, "OH")["candidates"]["Gary Johnson"] == 2
