"""The linking attack of issue 10, played on the local stack after `close` (README "Ballot secrecy").

The observer knows the exact time and order in which every voter submitted, and each voter's
state (the state is on the ballot, so the ballots of that state are the only candidates). After
`close` it reads everything left: the ballots stream from TRIM_HORIZON, the ballots table, the
dead-letter queues, the functions' log and the receipts ledger. Before mixing, matching voters to
ballots by order linked 85 of 85 voters (issue 10). With mixing it may link at most about 1/k.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from stack_support import local_plan_with

from election.local.stack import LocalStack
from election.ops import dlq
from election.ops.closing import close_polls
from election.ops.loadtest import append_ledger
from election.ops.seed import generate_voters, seed_voters
from election.ops.target import Target

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[1]
K, WINDOW_S = 10, 2
STATES = {"CA": 30, "TX": 30, "NY": 30}     # enough voters per state for mixes of k within a state


def mixing_plan(tmp: Path) -> Path:
    return local_plan_with(tmp / "mixing.yaml", secrecy={"min_mix": K, "window_s": WINDOW_S})


def post(url: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def stream_ballots(stack: LocalStack, target: Target, region: str) -> list[dict[str, Any]]:
    """Every ballot INSERT of `region`'s ballots stream, from TRIM_HORIZON, in stream order."""
    ddb = stack.provider.client("dynamodb", region)
    arn = ddb.describe_table(TableName=target.names.ballots)["Table"]["LatestStreamArn"]
    streams = stack.provider.client("dynamodbstreams", region)
    out = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it, Limit=1000)
            for rec in page["Records"]:
                image = rec["dynamodb"].get("NewImage") or {}
                if rec["eventName"] == "INSERT" and image.get("region", {}).get("S") == region:
                    created = rec["dynamodb"]["ApproximateCreationDateTime"]
                    out.append({"seq": int(rec["dynamodb"]["SequenceNumber"]), "bk": image["bk"]["S"],
                                "state": image["state"]["S"], "t": image["t"]["S"],
                                "created": created.timestamp() if hasattr(created, "timestamp") else float(created)})
            it = page.get("NextShardIterator") if page["Records"] else None
    return sorted(out, key=lambda b: b["seq"])


def test_an_observer_with_submit_times_links_at_most_about_1_in_k(tmp_path: Path) -> None:
    with LocalStack(mixing_plan(tmp_path), state_dir=tmp_path / "state", health_interval_s=0.5) as stack:
        target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints)
        voters = generate_voters(sum(STATES.values()), weights=STATES)
        seed_voters(target, tmp_path / "voters.csv", None, voters=voters)
        homes = stack.plan.state_regions()

        # Voters submit one after another (three at a time); the observer knows each send time.
        submitted: list[dict[str, Any]] = []

        def vote(voter: tuple[str, str]) -> None:
            vid, st = voter
            sent = time.time()
            status, body = post(stack.endpoints["router"] + "/votes", {"voter_id": vid, "candidate": "Jill Stein"})
            assert status == 202, body
            submitted.append({"sent": sent, "state": st, "receipt": body["receipt"]})

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(vote, voters))
        assert stack.wait_idle(60)
        done = close_polls(target, timeout=60, grace=0)
        assert done.drain.drained and done.results["total"] == len(voters)

        # --- the observer, after close --------------------------------------------------------------
        ballots = {r: stream_ballots(stack, target, r) for r in stack.plan.region_names}
        assert sum(len(b) for b in ballots.values()) == len(voters)
        assert dlq.list_dead_letters(target) == []
        log = (stack.state_dir / "lambda.log").read_text()
        assert not any(s["receipt"] in log for s in submitted), "no log line names a ballot"
        ledger = tmp_path / "receipts.jsonl"
        append_ledger(ledger, [{"receipt": s["receipt"], "state": s["state"], "candidate": "x"} for s in submitted])
        lines = [json.loads(ln)["receipt"] for ln in ledger.read_text().splitlines()]
        assert lines == sorted(lines), "the receipts file is not in submission order"

        # Attack 1: match the i-th voter of a state (by send time) to the i-th ballot of that state (stream order).
        linked = 0
        by_state_voters: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in sorted(submitted, key=lambda s: s["sent"]):
            by_state_voters[s["state"]].append(s)
        for st, vs in by_state_voters.items():
            bs = [b for b in ballots[homes[st]] if b["state"] == st]
            linked += sum(1 for v, b in zip(vs, bs) if v["receipt"] == b["bk"])
        by_order = linked / len(voters)

        # Attack 2: a voter's ballot is one of its state's ballots created from its send time until the
        # longest a vote can wait (deferrals included); guess one uniformly: success 1/|candidates|.
        longest = WINDOW_S * 4 + 10
        chances = []
        for s in submitted:
            cands = [b for b in ballots[homes[s["state"]]] if b["state"] == s["state"]
                     and int(s["sent"]) <= b["created"] <= s["sent"] + longest]
            chances.append(1 / len(cands) if any(b["bk"] == s["receipt"] for b in cands) else 0.0)
        by_time = sum(chances) / len(chances)
        print(f"linking attack: by order {by_order:.3f}, by time {by_time:.3f}, 1/k = {1 / K:.3f}")
        assert by_order <= 1 / K + 0.1, by_order     # noise: ~one fixed point per mixed batch of a state
        assert by_time <= 1 / K + 0.05, by_time
