"""The load test's traffic: which requests, in which order, and what each should be answered.

Pure planning (no I/O): one first vote per chosen voter (candidates drawn with the state's 2016
shares), duplicates placed in the schedule but resolved to a voter only when sent, and invalid
requests the API must refuse. The senders (ops/loadsend.py, the fleet's workers) take it from here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from election.errors import ElectionError
from election.lambdas.loadgen.schedule import EXPECTED, Outcome, Req, vote_body
from election.ops import data
from election.ops.loadverify import INVALID_KINDS
from election.ops.seed import Voter, new_voter_id
from election.plan import Plan

__all__ = ["EXPECTED", "Outcome", "Req", "invalid_request", "plan_requests", "vote_body"]


def plan_requests(voters: Sequence[Voter], plan: Plan, votes: int, duplicates: float, invalid: float,
                  rng: random.Random) -> list[Req]:
    """`votes` first votes by distinct voters, plus duplicate and invalid requests mixed in at random.

    Duplicates are placed in the schedule but resolved to a voter only when sent (the voter must
    already hold a 202), so a fraction F means about F of all requests are duplicates.
    """
    if votes > len(voters):
        raise ElectionError(f"{votes} votes asked for but the credential file has {len(voters)} voters; "
                            "seed more with `election seed-voters` or lower --votes.")
    chosen = rng.sample(list(voters), votes)
    reqs = []
    for vid, st in chosen:
        names = plan.ballot.for_state(st)
        cand = rng.choices(names, weights=data.candidate_weights(st, names))[0]
        reqs.append(Req("vote", vid, st, cand, vote_body(vid, cand)))
    share = duplicates + invalid
    extra = round(votes * share / (1 - share)) if 0 < share < 1 else 0
    for _ in range(extra):
        if rng.random() < duplicates / share:
            reqs.append(Req("duplicate"))
        else:
            reqs.append(invalid_request(rng.choice(INVALID_KINDS), voters, plan, rng))
    first_votes = reqs[:votes]
    rest = reqs[votes:]
    # Keep the first 5 % of the schedule honest votes so duplicates have someone to repeat.
    head = max(1, votes // 20)
    mixed = first_votes[head:] + rest
    rng.shuffle(mixed)
    return first_votes[:head] + mixed


def invalid_request(kind: str, voters: Sequence[Voter], plan: Plan, rng: random.Random) -> Req:
    """A request the API must refuse with a 4xx and that must change nothing."""
    vid, st = voters[rng.randrange(len(voters))]
    if kind == "malformed":
        return Req(kind, body=rng.choice([b"{not json", b"[]", b'{"voter_id": 7, "candidate": "x"}',
                                          b'{"voter_id": "' + vid.encode() + b'"}', b"\xff\xfe"]))
    if kind == "bad_id":
        return Req(kind, body=vote_body("0O1I-" + vid[5:], plan.ballot.for_state(st)[0]))
    if kind == "unknown_voter":
        return Req(kind, body=vote_body(new_voter_id(), plan.ballot.for_state(st)[0]))
    return Req(kind, vid, st, "Nobody On The Ballot", vote_body(vid, "Nobody On The Ballot"))
