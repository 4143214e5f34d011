"""Ballot secrecy, and the polls item / ballot pepper functions that `open` and `close` use."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from pipeline_fixture import Pipeline, api_event

from election.errors import ElectionError
from election.ops import polls
from election.provision.clients import ClientProvider

EAST, WEST = "us-east-1", "us-west-2"
TABLES = ("voters", "ballots", "results")


def run_election(p: Pipeline) -> dict[str, str]:
    voters = p.seed(1, ("NY", "CA", "UT", "TX", "FL"))
    for i, v in enumerate(voters):
        p.vote(EAST if i % 2 else WEST, v, "Gary Johnson" if i % 2 else "Hillary Clinton")
    for r in (EAST, WEST):
        p.drain(r)
        p.tally(r)
    p.replicate()
    return voters


def every_item(p: Pipeline) -> list[dict[str, Any]]:
    return [it for r in (EAST, WEST) for t in TABLES for it in p.scan(r, t)]


def test_no_stored_item_contains_a_voter_id_or_links_ballot_to_roll(pipeline: Pipeline) -> None:
    p = pipeline
    voters = run_election(p)
    dump = json.dumps(every_item(p)).upper()
    for vid in voters:
        for form in (vid, vid.replace("-", ""), vid[:11]):
            assert form not in dump
    for r in (EAST, WEST):
        roll = p.scan(r, "voters")
        ballots = p.scan(r, "ballots")
        assert len(ballots) == 5
        assert all(set(it) == {"vk", "state"} for it in roll)
        assert all(set(it) == {"bk", "state", "candidate", "region", "nonce", "t", "tag"} for it in ballots)
        roll_values = {v for it in roll for v in (it["vk"]["S"],)}
        ballot_values = {x["S"] for it in ballots for x in it.values()}
        assert not roll_values & ballot_values          # nothing shared but the (coarse) state
        assert all(len(it["t"]["S"]) == len("2026-11-03T10:31Z") for it in ballots)   # minute, not second
        assert len({it["t"]["S"] for it in ballots}) == 1, "one batch, one time: t orders nothing within it"


def test_polls_open_close_read(pipeline: Pipeline) -> None:
    p = pipeline
    provider = ClientProvider()
    assert polls.read_polls(provider, p.plan) == {r: {"open": True, "changed_at": None, "tallied_at": None,
                                                       "left_out": 0}
                                                  for r in (EAST, WEST)}
    [ny] = p.seed(1, ("NY",))
    polls.close_polls(provider, p.plan, now="2026-11-03T20:00:00Z")
    assert polls.read_polls(provider, p.plan)[WEST] == {"open": False, "changed_at": "2026-11-03T20:00:00Z",
                                                        "tallied_at": None, "left_out": 0}
    for r in (EAST, WEST):
        assert p.vote(r, ny, "Jill Stein")["statusCode"] == 403
    polls.open_polls(provider, p.plan)
    assert all(s["open"] for s in polls.read_polls(provider, p.plan).values())
    assert p.vote(WEST, ny, "Jill Stein")["statusCode"] == 202


def test_mark_tallied_needs_closed_polls(pipeline: Pipeline) -> None:
    p = pipeline
    provider = ClientProvider()
    polls.open_polls(provider, p.plan)
    with pytest.raises(ElectionError, match="not closed in us-east-1"):
        polls.mark_tallied(provider, p.plan)
    polls.close_polls(provider, p.plan)
    polls.mark_tallied(provider, p.plan, now="2026-11-03T21:00:00Z")
    assert {s["tallied_at"] for s in polls.read_polls(provider, p.plan).values()} == {"2026-11-03T21:00:00Z"}
    polls.open_polls(provider, p.plan)
    assert {s["tallied_at"] for s in polls.read_polls(provider, p.plan).values()} == {None}


def test_after_close_the_pepper_is_gone_and_results_unchanged(pipeline: Pipeline) -> None:
    p = pipeline
    voters = run_election(p)
    provider = ClientProvider()
    before = {r: p.results(r) for r in (EAST, WEST)}
    polls.close_polls(provider, p.plan)
    assert polls.destroy_ballot_pepper(provider, p.plan) == [EAST, WEST]
    for r in (EAST, WEST):
        sm = boto3.client("secretsmanager", region_name=r)
        with pytest.raises(sm.exceptions.ResourceNotFoundException):
            sm.get_secret_value(SecretId="election-local/ballot-pepper")
        sm.get_secret_value(SecretId="election-local/voter-pepper")   # the roll's pepper is untouched
    assert {r: p.results(r) for r in (EAST, WEST)} == before
    # Idempotent: a re-run of close finds nothing left to delete.
    assert polls.destroy_ballot_pepper(provider, p.plan) == []
    # Closed polls: no route needs the ballot pepper any more, and a container that still had it
    # in memory dropped it on its first request after the close.
    vid = next(iter(voters))
    for path, payload in (("/ballot", {"voter_id": vid}), ("/votes", {"voter_id": vid, "candidate": "Jill Stein"})):
        resp = p.call(WEST, "enqueue", api_event("POST", path, payload))
        assert resp["statusCode"] == 403 and vid not in resp["body"]
    assert "election-local/ballot-pepper" not in p.regions[WEST].handlers["enqueue"].peppers._cache  # type: ignore
    # Even if the polls were reopened by mistake, no container can recompute a receipt: votes fail closed.
    polls.open_polls(provider, p.plan)
    resp = p.call(WEST, "enqueue", api_event("POST", "/votes", {"voter_id": vid, "candidate": "Jill Stein"}))
    assert resp["statusCode"] == 503 and vid not in resp["body"]


def test_destroy_removes_replicas_of_a_replicated_secret(aws_env: None) -> None:
    from moto import mock_aws

    from election.plan import load_plan

    with mock_aws():
        plan = load_plan("config/local.yaml")
        sm = boto3.client("secretsmanager", region_name=EAST)
        sm.create_secret(Name="election-local/ballot-pepper", SecretString="ab" * 32,
                         AddReplicaRegions=[{"Region": WEST}])
        assert polls.destroy_ballot_pepper(ClientProvider(), plan) == [EAST, WEST]
        for r in (EAST, WEST):
            c = boto3.client("secretsmanager", region_name=r)
            with pytest.raises(c.exceptions.ResourceNotFoundException):
                c.describe_secret(SecretId="election-local/ballot-pepper")
