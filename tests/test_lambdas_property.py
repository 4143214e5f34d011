"""Property: whatever the interleaving of votes, duplicate votes, redeliveries, stream replays and
replication across two regions, once everything is drained: results == ballots for every state and
candidate, every voter has at most one ballot, and every vote answered 202 became a ballot."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pipeline_fixture import Pipeline

REGIONS = ("us-east-1", "us-west-2")
STATES = ("NY", "CA", "UT", "FL", "TX")        # both home regions, and UT's longer ballot
N_VOTERS = 6

vote = st.tuples(st.just("vote"), st.integers(0, N_VOTERS - 1), st.integers(0, 5), st.sampled_from(REGIONS))
drain = st.tuples(st.just("drain"), st.sampled_from(REGIONS), st.booleans(), st.booleans())
tally = st.tuples(st.just("tally"), st.sampled_from(REGIONS), st.integers(1, 4), st.booleans(), st.integers(0, 10))
replicate = st.tuples(st.just("replicate"))
steps = st.lists(st.one_of(vote, vote, drain, tally, tally, replicate), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(steps=steps)
def test_results_equal_ballots_under_any_interleaving(aws_env: None, steps: list[tuple]) -> None:
    with mock_aws():
        p = Pipeline("config/local.yaml")
        voters = list(p.seed(1, STATES)) + list(p.seed(1, ("NY",)))
        accepted: set[str] = set()
        batches: dict[str, list[dict]] = {r: [] for r in REGIONS}   # every stream batch fed so far
        for step in steps:
            if step[0] == "vote":
                _, who, cand, region = step
                vid = voters[who]
                ballot = p.plan.ballot.for_state(p.voters[vid])
                candidate = ballot[cand] if cand < len(ballot) else "Nobody"
                resp = p.vote(region, vid, candidate)
                assert resp["statusCode"] in (202, 409, 422), resp
                if resp["statusCode"] == 202:
                    accepted.add(vid)
            elif step[0] == "drain":
                _, region, redeliver, delete = step
                records = p.receive(region)
                if not records:
                    continue
                assert p.call(region, "process", {"Records": records})["batchItemFailures"] == []
                if redeliver:
                    assert p.call(region, "process", {"Records": records})["batchItemFailures"] == []
                if delete:   # otherwise SQS redelivers the batch later
                    for rec in records:
                        p.delete(region, rec["receiptHandle"])
            elif step[0] == "tally":
                _, region, limit, replay, which = step
                if replay and batches[region]:    # Lambda re-delivers an earlier batch
                    old = batches[region][which % len(batches[region])]
                    assert p.call(region, "tally", old)["batchItemFailures"] == []
                else:
                    batch = p.tally(region, limit)
                    if batch["Records"]:
                        batches[region].append(batch)
            else:
                p.replicate()
        # Let everything settle: queues drained, streams tallied, tables replicated.
        for r in REGIONS:
            p.drain(r)
        for r in REGIONS:
            while p.tally(r)["Records"]:
                pass
            for old in reversed(batches[r]):   # and every batch replayed once more, newest first
                assert p.call(r, "tally", old)["batchItemFailures"] == []
        p.replicate()

        for region in REGIONS:
            ballots = p.ballots(region)
            keys = Counter(b["bk"]["S"] for b in ballots)
            assert all(n == 1 for n in keys.values())
            receipts = {p.receipt_of(v): v for v in voters}
            assert set(keys) == {p.receipt_of(v) for v in accepted}          # nothing lost, nothing extra
            assert all(p.voters[receipts[b["bk"]["S"]]] == b["state"]["S"] for b in ballots)
            expected = Counter((b["state"]["S"], b["candidate"]["S"]) for b in ballots)
            results = p.results(region)
            for state in STATES:
                for candidate, n in results["states"][state]["candidates"].items():
                    assert n == expected[(state, candidate)], (region, state, candidate, json.dumps(results))
            assert results["total"] == len(ballots)
        # The two regions agree on every ballot.
        east, west = ({b["bk"]["S"]: b for b in p.ballots(r)} for r in REGIONS)
        assert east == west
