"""The pure functions of the pipeline: keys, validation, vote messages, tally selection and chunking,
results aggregation, receipt status, and handler configuration from the environment."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from election.lambdas import common, contract, counting, logic
from election.lambdas.counting import Counted
from election.lambdas.logic import RequestError

PEPPER = bytes(range(32))


def test_keys_are_keyed_hashes_of_the_canonical_id() -> None:
    vid = "ABCDE-FGHJK-LMNPQ-RSTUV"
    assert logic.voter_key(PEPPER, vid) == hmac.new(PEPPER, vid.encode(), hashlib.sha256).hexdigest()
    receipt = logic.ballot_key(PEPPER, vid)
    assert receipt == hmac.new(PEPPER, vid.encode(), hashlib.sha256).hexdigest()[:32]
    assert contract.RECEIPT_RE.match(receipt)
    assert logic.ballot_key(b"other" * 8, vid) != receipt


def test_parse_json_object_rejects_bool_for_number_and_reports_first_problem() -> None:
    with pytest.raises(RequestError) as err:
        logic.parse_json_object(b'{"n": true}', {"n": int})
    assert (err.value.status, err.value.code) == (400, "invalid_type")
    assert logic.parse_json_object(b'{"n": 3}', {"n": int}) == {"n": 3}
    with pytest.raises(RequestError) as err:
        logic.parse_json_object(b"x" * 1025, {"n": int})
    assert err.value.code == "body_too_large"


def test_long_unknown_field_names_are_truncated_in_the_message() -> None:
    with pytest.raises(RequestError) as err:
        logic.parse_json_object(json.dumps({"z" * 500: 1}).encode(), {"voter_id": str})
    assert len(err.value.message) < 120


def test_vote_message_round_trip_and_rejections() -> None:
    key = logic.subkey(b"k" * 32, "message")
    vote = logic.Vote.signed(key, bk="a" * 32, state="NY", candidate="Jill Stein", nonce="b" * 32, region="us-east-1")
    assert logic.parse_vote(vote.to_json()) == vote and vote.authentic(key)
    assert not vote.authentic(logic.subkey(b"k" * 32, "ballot")), "the ballot subkey does not tag messages"
    item = vote.item(logic.subkey(b"k" * 32, "ballot"), "2026-11-03T10:31Z")
    assert item["bk"] == {"S": "a" * 32} and item["t"] == {"S": "2026-11-03T10:31Z"}
    assert item["tag"]["S"] == logic.ballot_tag(logic.subkey(b"k" * 32, "ballot"), "a" * 32, "NY", "Jill Stein",
                                                "us-east-1")
    for bad in ('{"bk": "x"}', "[]", json.dumps({**json.loads(vote.to_json()), "bk": "nothex"}),
                json.dumps({**json.loads(vote.to_json()), "extra": 1}),
                json.dumps({**json.loads(vote.to_json()), "state": ""}),
                json.dumps({k: v for k, v in json.loads(vote.to_json()).items() if k != "tag"})):
        with pytest.raises(ValueError):
            logic.parse_vote(bad)


def record(seq: int, region: str = "us-east-1", state: str = "NY", candidate: str = "A",
           event: str = "INSERT", created: float | datetime = 100.0) -> dict:
    image = {"bk": {"S": f"{seq:032x}"}, "state": {"S": state}, "candidate": {"S": candidate},
             "region": {"S": region}}
    return {"eventName": event, "dynamodb": {"SequenceNumber": str(seq), "NewImage": image,
                                             "ApproximateCreationDateTime": created}}


def test_select_records_filters_region_event_and_checkpoint() -> None:
    recs = [record(5), record(12, region="us-west-2"), record(20, event="MODIFY"), record(100),
            {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "150", "Keys": {"bk": {"S": "x"}}}},
            record(9, created=datetime(2026, 11, 3, tzinfo=UTC))]
    got = counting.select_records(recs, "us-east-1", checkpoint=5, now=0.0)
    assert [c.seq for c in got] == [9, 100]        # stream order, integer comparison (9 < 100)
    assert got[0].created == datetime(2026, 11, 3, tzinfo=UTC).timestamp()
    assert [c.seq for c in counting.select_records(recs, "us-east-1", None, 0.0)] == [5, 9, 100]


def test_chunks_respect_the_item_limit_and_keep_order() -> None:
    states = [f"S{i:02d}" for i in range(250)]
    counted = [Counted(seq=i + 1, state=states[i % 250], candidate="A", created=float(i)) for i in range(500)]
    chunks = counting.chunk_counts(counted)
    assert len(chunks) == 6                                 # 99 distinct states per transaction
    for ch in chunks:
        assert len({s for s, _ in ch.counts}) <= 99        # plus the checkpoint: <= 100 items
    assert sum(sum(ch.counts.values()) for ch in chunks) == 500
    assert [ch.first_seq for ch in chunks] == [1, 100, 199, 298, 397, 496]
    assert chunks[-1].last_seq == 500
    assert all(a.last_seq < b.first_seq for a, b in itertools.pairwise(chunks))


@settings(max_examples=50)
@given(st.lists(st.tuples(st.sampled_from(["NY", "CA", "UT", "TX"]), st.sampled_from(["A", "B"])), max_size=60),
       st.integers(2, 5))
def test_chunking_never_loses_or_duplicates_a_count(votes: list[tuple[str, str]], limit: int) -> None:
    counted = [Counted(seq=i, state=s, candidate=c, created=0.0) for i, (s, c) in enumerate(votes)]
    total: dict[tuple[str, str], int] = {}
    for ch in counting.chunk_counts(counted, limit):
        assert len({s for s, _ in ch.counts}) <= limit - 1
        for k, n in ch.counts.items():
            total[k] = total.get(k, 0) + n
    expected: dict[tuple[str, str], int] = {}
    for v in votes:
        expected[v] = expected.get(v, 0) + 1
    assert total == expected


def test_aggregate_sums_regions_and_fills_zeros() -> None:
    items = [
        {"pk": "NY#us-east-1", "c:A": 3, "c:B": 1, "updated_at": "2026-11-03T10:00:00Z"},
        {"pk": "NY#us-west-2", "c:A": 2, "updated_at": "2026-11-03T10:05:00Z"},   # after a plan change
        {"pk": "UT#us-west-2", "c:C": 4},
        {"pk": "checkpoint#us-east-1#shard-1", "seq": "0" * 40, "c:A": 99},
        {"pk": "polls", "open": True},
    ]
    res = counting.aggregate_results(items, {"NY": ("A", "B"), "UT": ("A", "B", "C"), "CA": ("A", "B")}, ("A", "B", "C"))
    assert res["states"]["NY"] == {"total": 6, "candidates": {"A": 5, "B": 1}}
    assert res["states"]["CA"] == {"total": 0, "candidates": {"A": 0, "B": 0}}
    assert res["candidates"] == {"A": 5, "B": 1, "C": 4} and res["total"] == 10
    assert res["updated_at"] == "2026-11-03T10:05:00Z"


def test_receipt_status_rules() -> None:
    ballot = {"region": "us-east-1", "t": "2026-11-03T10:31Z"}
    end = logic.minute_end("2026-11-03T10:31Z")
    assert end == datetime(2026, 11, 3, 10, 32, tzinfo=UTC).timestamp()
    cps = [{"region": "us-west-2", "through": end + 500}, {"region": "us-east-1", "through": end - 1}]
    assert counting.receipt_status(None, cps, {}) == "unknown"
    assert counting.receipt_status(ballot, cps, {}) == "recorded"      # the other region's tally does not count
    assert counting.receipt_status(ballot, cps + [{"region": "us-east-1", "through": end}], {}) == "counted"
    assert counting.receipt_status(ballot, [], {"tallied_at": "2026-11-03T21:00:00Z"}) == "counted"


def test_minute_is_coarse() -> None:
    assert logic.minute(datetime(2026, 11, 3, 10, 31, 59, tzinfo=UTC).timestamp()) == "2026-11-03T10:31Z"


def test_config_from_environment() -> None:
    env = {contract.ENV_REGION: "us-west-2", contract.ENV_ALLOWED_ORIGINS: " https://a.org , http://127.0.0.1:* ,",
           contract.ENV_BALLOT: json.dumps({"candidates": ["A", "B"], "overrides": {"UT": ["A", "B", "C"]}}),
           contract.ENV_STATE_REGIONS: json.dumps({"NY": "us-east-1"}),
           contract.ENV_ENDPOINT_URL: "http://127.0.0.1:5000"}
    cfg = common.load_config(env)
    assert cfg.allowed_origins == ("https://a.org", "http://127.0.0.1:*")
    assert cfg.ballot.for_state("UT") == ("A", "B", "C") and cfg.ballot.for_state("NY") == ("A", "B")
    assert cfg.ballot.all_candidates() == ("A", "B", "C") and cfg.endpoint_url == "http://127.0.0.1:5000"
    assert cfg.namespace == "Election"
    with pytest.raises(KeyError):
        common.load_config({})


def test_several_regions_live_in_one_process_with_their_own_settings(aws_env: None) -> None:
    from election.lambdas import enqueue

    a = enqueue.make_handler({contract.ENV_REGION: "us-east-1", contract.ENV_VOTES_QUEUE_URLS: "{}"})
    b = enqueue.make_handler({contract.ENV_REGION: "us-west-2", contract.ENV_VOTES_QUEUE_URLS: "{}",
                              contract.ENV_ENDPOINT_URL: "http://127.0.0.1:1"})
    assert a.ddb.meta.region_name == "us-east-1" and b.ddb.meta.region_name == "us-west-2"  # type: ignore
    assert b.ddb.meta.endpoint_url == "http://127.0.0.1:1" and "amazonaws.com" in a.ddb.meta.endpoint_url  # type: ignore


def test_plain_converts_attribute_values() -> None:
    assert common.plain({"N": "3"}) == 3 and common.plain({"N": "1.5"}) == 1.5
    assert common.plain({"M": {"a": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}]}}}) == {"a": ["x", True, None]}


# --- hostile bodies (issue 10 point 6) ------------------------------------------------------------------


def test_a_lone_surrogate_field_name_is_not_echoed_and_the_answer_encodes() -> None:
    from election.lambdas import common

    with pytest.raises(RequestError) as err:
        logic.parse_json_object(b'{"\\ud800":1}', {"voter_id": str})
    assert err.value.code == "unknown_field" and "\ud800" not in err.value.message
    assert err.value.message.startswith("A field is not allowed")
    for name in ("<script>", "a b", "\u00e9", "x" * 41, '"x'):
        with pytest.raises(RequestError) as err:
            logic.parse_json_object(json.dumps({name: 1}).encode(), {"voter_id": str})
        assert name not in err.value.message and err.value.message.startswith("A field is not allowed")
    # whatever a body holds, the JSON answer is valid UTF-8
    assert common.json_text({"message": "\ud800"}).encode("utf-8") == b'{"message":"\\ud800"}'
    assert common.json_text({"message": "Évan"}) == '{"message":"Évan"}'


@pytest.mark.parametrize("depth", [33, 1024, 100_000])
def test_deep_nesting_is_400_before_parsing(depth: int) -> None:
    for body in (b"[" * depth, b'{"a":' * depth, b'{"voter_id":' + b"[" * depth + b"]" * depth + b"}"):
        with pytest.raises(RequestError) as err:
            logic.parse_json_object(body, {"voter_id": str}, max_bytes=10 ** 6)
        assert (err.value.status, err.value.code) == (400, "too_deep")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert logic.nesting_depth(b'{"a":"[[[[\\"{{{{"}') == 1
    assert logic.nesting_depth(b'[[{}]]') == 3
    assert logic.parse_json_object(b'{"voter_id":"' + b"[" * 100 + b'"}', {"voter_id": str})["voter_id"] == "[" * 100

def test_refusal_names_why_without_the_voter() -> None:
    key = logic.subkey(b"q" * 32, "message")
    homes = {"NY": "us-east-1", "CA": "us-west-2"}
    ballot = ("A", "B")

    def vote(state: str = "NY", candidate: str = "A", region: str = "us-east-1", k: bytes = key) -> logic.Vote:
        return logic.Vote.signed(k, "c" * 32, state, candidate, "d" * 32, region)

    assert logic.refusal(vote(), key, "us-east-1", homes, ballot) is None
    assert logic.refusal(vote(k=b"x" * 32), key, "us-east-1", homes, ballot) == "the message tag does not verify"
    forged = logic.Vote(**{**vote().__dict__, "candidate": "B"})          # tag of another candidate
    assert logic.refusal(forged, key, "us-east-1", homes, ballot) == "the message tag does not verify"
    assert logic.refusal(vote("CA", region="us-east-1"), key, "us-east-1", homes, ballot) == \
        "CA is not homed in us-east-1"
    assert logic.refusal(vote("WY"), key, "us-east-1", homes, ballot) == "WY is not homed in us-east-1"
    assert logic.refusal(vote(candidate="Z"), key, "us-east-1", homes, ballot) == \
        "the candidate is not on NY's ballot"


def test_batch_time_is_the_minute_of_the_deadline() -> None:
    assert logic.batch_time(0.0, 10.0) == "1970-01-01T00:00Z"
    assert logic.batch_time(55.0, 10.0) == "1970-01-01T00:01Z"   # a ballot written at 0:59 still has t <= its minute


def test_states_short_of_k_are_deferred_until_rounds_or_close() -> None:
    receives = {"NY": [1] * 12, "WY": [1, 1], "UT": [3, 1]}
    assert logic.deferred_states(receives, 10, 2, closing=False) == {"WY"}          # UT waited twice already
    assert logic.deferred_states(receives, 10, 2, closing=True) == set(), "closed: everything left is written"
    assert logic.deferred_states(receives, 10, 0, closing=False) == set()
    assert logic.deferred_states({"WY": [2, 2]}, 10, 2, closing=False) == {"WY"}
