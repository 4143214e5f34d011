"""audit, recount, dlq and drain against moto in-process, with the real process and tally handlers."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from election.lambdas import contract, logic
from election.lambdas.enqueue import make_handler as make_enqueue
from election.lambdas.process import Process
from election.lambdas.tally import Tally
from election.ops import dlq, drain, state
from election.ops.audit import audit
from election.ops.recount import recount
from election.ops.sandbox import create_data_resources
from election.ops.seed import generate_voters
from election.ops.target import Target
from election.plan import load_plan
from election.provision.clients import ClientProvider

PLAN = Path(__file__).resolve().parents[1] / "config" / "local.yaml"


class Pipeline:
    """The vote path without HTTP: enqueue-like send, the real Process handler, the real Tally handler.

    Tally gets INSERT records built from the ballots Process wrote, in write order, as the
    stream would deliver them; voters and ballots are copied to every region as global tables would.
    """

    def __init__(self, target: Target, peppers: dict[str, str]) -> None:
        self.t = target
        self.ballot_pepper = bytes.fromhex(peppers[target.names.ballot_pepper])
        self.voter_pepper = bytes.fromhex(peppers[target.names.voter_pepper])
        self.message_key = logic.subkey(bytes.fromhex(peppers[target.names.queue_key]), "message")
        self.seq = 0
        self.seen: set[str] = set()
        plan = target.plan
        urls = {r: target.queue_url(r, target.names.votes_queue) for r in plan.region_names}
        self.process: dict[str, Process] = {}
        self.tally: dict[str, Tally] = {}
        self.enqueue: dict[str, Any] = {}
        for r in plan.region_names:
            env = {contract.ENV_PLAN: plan.name, contract.ENV_REGION: r,
                   contract.ENV_VOTERS_TABLE: target.names.voters, contract.ENV_BALLOTS_TABLE: target.names.ballots,
                   contract.ENV_RESULTS_TABLE: target.names.results, contract.ENV_VOTES_QUEUE_URLS: json.dumps(urls),
                   contract.ENV_STATE_REGIONS: json.dumps(plan.state_regions()),
                   contract.ENV_BALLOT: json.dumps({"candidates": list(plan.ballot.candidates),
                                                    "overrides": {k: list(v) for k, v in plan.ballot.overrides.items()}}),
                   contract.ENV_VOTER_PEPPER_SECRET: target.names.voter_pepper,
                   contract.ENV_BALLOT_PEPPER_SECRET: target.names.ballot_pepper,
                   contract.ENV_HANDOFF_QUEUE_URL: target.queue_url(r, target.names.handoff_queue),
                   contract.ENV_QUEUE_KEY_SECRET: target.names.queue_key}
            self.process[r] = Process(env)
            self.enqueue[r] = make_enqueue(env)
            self.enqueue[r].polls._ttl = 0
            self.tally[r] = Tally(env)

    def vote(self, voter_id: str, st: str, candidate: str) -> dict[str, str]:
        """Enrol the voter, queue a vote in its home region as enqueue would; returns the ledger entry."""
        self.replicate(self.t.names.voters, {contract.VOTERS_KEY: {"S": logic.voter_key(self.voter_pepper, voter_id)},
                                             "state": {"S": st}})
        region = self.t.plan.home_region(st)
        v = logic.Vote.signed(self.message_key, bk=logic.ballot_key(self.ballot_pepper, voter_id), state=st,
                              candidate=candidate, nonce=uuid.uuid4().hex, region=region)
        self.t.client("sqs", region).send_message(QueueUrl=self.t.queue_url(region, self.t.names.votes_queue),
                                                  MessageBody=v.to_json())
        return {"receipt": v.bk, "state": st, "candidate": candidate}

    def replicate(self, table: str, item: dict[str, Any], skip: str | None = None) -> None:
        for r in self.t.plan.region_names:
            if r != skip:
                self.t.client("dynamodb", r).put_item(TableName=table, Item=item)

    def run(self) -> None:
        """Process every queued vote (the real handler, batches of 10), then tally the ballots written.

        The tally gets an INSERT record per new ballot, in the order the table returns them, as the
        stream would deliver them; ballots are copied to the other regions as global tables would.
        """
        for r in self.t.plan.region_names:
            sqs = self.t.client("sqs", r)
            url = self.t.queue_url(r, self.t.names.votes_queue)
            while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in msgs]}
                failed = {f["itemIdentifier"] for f in self.process[r](event, None)["batchItemFailures"]}
                for m in msgs:
                    if m["MessageId"] not in failed:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                if len(failed) == len(msgs):
                    break
            records = []
            for item in self.t.client("dynamodb", r).scan(TableName=self.t.names.ballots)["Items"]:
                bk = item[contract.BALLOTS_KEY]["S"]
                if bk in self.seen or item["region"]["S"] != r:
                    continue
                self.seen.add(bk)
                self.replicate(self.t.names.ballots, item, skip=r)
                self.seq += 1
                records.append({"eventName": "INSERT", "dynamodb": {
                    "SequenceNumber": str(self.seq), "ApproximateCreationDateTime": 0, "NewImage": item}})
            if records:
                assert self.tally[r]({"Records": records}, None)["batchItemFailures"] == []


@pytest.fixture(name="election")
def election_fixture(monkeypatch: pytest.MonkeyPatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(k, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        target = Target(load_plan(PLAN), ClientProvider())
        peppers = create_data_resources(target)
        yield target, Pipeline(target, peppers)


def cast(pipe: Pipeline, n: int) -> list[dict[str, str]]:
    ledger = []
    for vid, st in generate_voters(n):
        ballot = pipe.t.plan.ballot.for_state(st)
        ledger.append(pipe.vote(vid, st, ballot[secrets.randbelow(len(ballot))]))
    return ledger


def test_clean_election_audits_clean_and_results_match_the_votes(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    ledger = cast(pipe, 40)
    pipe.run()
    report = audit(target, ledger)
    assert report.ok, report.discrepancies
    assert report.receipts_checked == 40 and sum(report.ballots_own.values()) == 40
    res = state.results(target)
    assert res["total"] == 40
    for entry in ledger[:5]:
        assert res["states"][entry["state"]]["candidates"][entry["candidate"]] >= 1
    assert drain.wait_drained(target, timeout=1).drained


def test_planted_counter_increment_fails_audit_and_recount_repairs_it(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    ledger = cast(pipe, 25)
    pipe.run()
    victim = ledger[0]
    region = target.plan.home_region(victim["state"])
    target.client("dynamodb", region).update_item(
        TableName=target.names.results, Key={"pk": {"S": logic.counter_pk(victim["state"], region)}},
        UpdateExpression="ADD #c :one", ExpressionAttributeNames={"#c": logic.counter_attr(victim["candidate"])},
        ExpressionAttributeValues={":one": {"N": "1"}})
    before = state.results(target)["total"]
    report = audit(target)
    assert not report.ok
    assert any(f"{victim['state']} / {victim['candidate']} in {region}" in d and "1 more counted" in d
               for d in report.discrepancies), report.discrepancies
    assert before == 26

    fixed = recount(target)
    assert [(f.state, f.candidate, f.now - f.was) for f in fixed.fixes] == [(victim["state"], victim["candidate"], -1)]
    assert audit(target).ok
    assert state.results(target)["total"] == 25
    assert recount(target).fixes == []           # idempotent


def test_dead_lettered_vote_is_listed_then_redriven_and_counted(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    entry = pipe.vote("ABCDE-FGHJK-LMNPQ-RSTUV", "TX", "Gary Johnson")
    region = target.plan.home_region("TX")
    sqs = target.client("sqs", region)
    url = target.queue_url(region, target.names.votes_queue)
    for _ in range(10):    # a handler that keeps failing: received, never deleted, until moto dead-letters it
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    assert state.queue_depth(target, region, target.names.votes_dlq) == 1

    report = audit(target, [entry])
    assert any("dead-letter queue" in d and target.names.votes_dlq in d for d in report.discrepancies)
    assert any("sit in a dead-letter queue" in d for d in report.discrepancies)
    listed = dlq.list_dead_letters(target)
    assert [(d.region, d.receipt, d.state, d.candidate) for d in listed] == \
        [(region, entry["receipt"], "TX", "Gary Johnson")]
    assert "ABCDE" not in json.dumps([d.as_dict() for d in listed])
    assert len(dlq.list_dead_letters(target)) == 1           # listing does not consume

    assert dlq.redrive(target) == {r: (1 if r == region else 0) for r in target.plan.region_names}
    assert state.queue_depth(target, region, target.names.votes_dlq) == 0
    pipe.run()
    final = audit(target, [entry])
    assert final.ok, final.discrepancies
    assert state.results(target)["states"]["TX"]["candidates"]["Gary Johnson"] == 1


def test_purged_vote_is_named_lost_by_the_audit(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    kept = cast(pipe, 5)
    pipe.run()
    lost = pipe.vote("ZZZZZ-YYYYY-XXXXX-WWWWW", "CA", "Jill Stein")
    region = target.plan.home_region("CA")
    target.client("sqs", region).purge_queue(QueueUrl=target.queue_url(region, target.names.votes_queue))
    report = audit(target, kept + [lost])
    lost_lines = [d for d in report.discrepancies if "lost" in d]
    assert len(lost_lines) == 1 and "CA / Jill Stein x1" in lost_lines[0] and lost["receipt"] in lost_lines[0]
    assert len(report.discrepancies) == 1


def test_drain_reports_what_is_still_pending(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    cast(pipe, 3)
    ticks = iter(range(100))
    result = drain.wait_drained(target, timeout=2, sleep=lambda s: None, clock=lambda: float(next(ticks)))
    assert not result.drained and result.queued == 3
    pipe.run()
    assert drain.wait_drained(target, timeout=2).drained


def test_planted_ballot_item_fails_the_audit_naming_it(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    cast(pipe, 6)
    pipe.run()
    assert audit(target).ok
    region = target.plan.home_region("WY")
    planted = secrets.token_hex(16)
    # An insider with PutItem on the ballots table but without the queue key: any tag it writes is wrong.
    item = {contract.BALLOTS_KEY: {"S": planted}, "state": {"S": "WY"}, "candidate": {"S": "Jill Stein"},
            "region": {"S": region}, "nonce": {"S": secrets.token_hex(16)}, "t": {"S": "2026-11-03T10:00Z"},
            "tag": {"S": "f" * 64}}
    pipe.replicate(target.names.ballots, item)
    report = audit(target)
    assert not report.ok and report.tags_checked == 7
    named = [d for d in report.discrepancies if planted in d]
    assert len(named) == 1 and "carry no valid tag" in named[0] and "(WY, 'Jill Stein')" in named[0]
    assert any(d.startswith("WY has 1 ballot(s) but only") for d in report.discrepancies)


def test_ballots_beyond_a_states_roll_fail_the_audit(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    pipe.vote("ABCDE-FGHJK-LMNPQ-RSTUV", "UT", "Evan McMullin")
    pipe.run()
    # Even with the key (a stolen key), a state cannot hold more ballots than voters on its roll.
    key = logic.subkey(bytes.fromhex(pipe.t.client("secretsmanager", target.plan.primary_region).get_secret_value(
        SecretId=target.names.queue_key)["SecretString"]), "ballot")
    region = target.plan.home_region("UT")
    bk = secrets.token_hex(16)
    pipe.replicate(target.names.ballots, {
        contract.BALLOTS_KEY: {"S": bk}, "state": {"S": "UT"}, "candidate": {"S": "Evan McMullin"},
        "region": {"S": region}, "nonce": {"S": "0" * 32}, "t": {"S": "2026-11-03T10:00Z"},
        "tag": {"S": logic.ballot_tag(key, bk, "UT", "Evan McMullin", region)}})
    report = audit(target)
    assert "UT has 2 ballot(s) but only 1 voter(s) on its roll." in report.discrepancies
    assert not any("no valid tag" in d for d in report.discrepancies)
