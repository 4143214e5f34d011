"""Pure functions of the vote pipeline: no boto3, no clock, no I/O — the part worth testing hardest.

Keys and receipts, strict request validation, the vote message and its mixing
(the tally's counting, results and receipt status: counting.py). Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from election.lambdas import contract

# --- keys ----------------------------------------------------------------------------------------

COUNTER_PREFIX = "c:"          # counter attribute = "c:" + exact candidate name (see docs/api.md)
CHECKPOINT_PREFIX = "checkpoint#"
SEQ_WIDTH = 40                 # stream sequence numbers are up to 40 digits; zero-padded they sort as integers
MAX_TRANSACTION_ITEMS = 100    # DynamoDB TransactWriteItems limit


def voter_key(pepper: bytes, canonical_id: str) -> str:
    """The voters table key: hex HMAC-SHA256 of the canonical voter ID under the voter-roll pepper."""
    return hmac.new(pepper, canonical_id.encode("ascii"), hashlib.sha256).hexdigest()


def ballot_key(pepper: bytes, canonical_id: str) -> str:
    """The ballots table key and the voter's receipt: first 16 bytes of HMAC-SHA256 under the ballot pepper."""
    return hmac.new(pepper, canonical_id.encode("ascii"), hashlib.sha256).digest()[:16].hex()


def counter_attr(candidate: str) -> str:
    """The results attribute holding one candidate's count (always used via ExpressionAttributeNames)."""
    return COUNTER_PREFIX + candidate


def counter_pk(state: str, region: str) -> str:
    return f"{state}#{region}"


def checkpoint_pk(region: str, shard: str) -> str:
    return f"{CHECKPOINT_PREFIX}{region}#{shard}"


def pad_seq(seq: str | int) -> str:
    """A sequence number as a zero-padded decimal string, so string order == integer order."""
    return str(int(seq)).zfill(SEQ_WIDTH)


def minute(epoch_s: float) -> str:
    """Coarse time stored with a ballot: the minute, so the write time cannot single out a voter."""
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(epoch_s))


def minute_end(t: str) -> float:
    """Epoch seconds at the end of a coarse minute written by `minute`."""
    start = datetime.strptime(t, "%Y-%m-%dT%H:%MZ").replace(tzinfo=None)
    return (start - datetime(1970, 1, 1)).total_seconds() + 60


# --- requests ------------------------------------------------------------------------------------


class RequestError(Exception):
    """A 4xx answer: HTTP status, machine-readable code and one sentence (never echoing the voter ID)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_json_object(body: bytes, fields: Mapping[str, type], max_bytes: int = 1024) -> dict[str, Any]:
    """Decode a request body that must be a JSON object with exactly `fields` of the given types."""
    if len(body) > max_bytes:
        raise RequestError(400, "body_too_large", f"The request body is larger than {max_bytes} bytes.")
    if nesting_depth(body) > MAX_NESTING:
        # Checked before parsing: json recurses per level, and ~1,000 levels raise RecursionError.
        raise RequestError(400, "too_deep", f"The request body nests deeper than {MAX_NESTING} levels.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RequestError(400, "malformed_json", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_body", "The request body must be a JSON object.")
    expected = ", ".join(f'"{f}"' for f in fields)
    for name in data:
        if name not in fields:
            shown = f'The field "{name}"' if SAFE_FIELD_NAME.fullmatch(name) else "A field"
            raise RequestError(400, "unknown_field", f"{shown} is not allowed; send only {expected}.")
    for name, kind in fields.items():
        if name not in data:
            raise RequestError(400, "missing_field", f"The field \"{name}\" is required.")
        if not isinstance(data[name], kind) or isinstance(data[name], bool) and kind is not bool:
            raise RequestError(400, "invalid_type", f"The field \"{name}\" must be a {_type_name(kind)}.")
    return data


MAX_NESTING = 32                                       # our bodies are flat objects: depth 1
SAFE_FIELD_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")  # the only field names an error message repeats


def nesting_depth(body: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings ignored (no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:      # backslash
                escaped = True
            elif byte == 0x22:      # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _type_name(kind: type) -> str:
    return {str: "string", int: "number", bool: "boolean", list: "list", dict: "object"}.get(kind, kind.__name__)


def canonical_or_400(raw: str) -> str:
    """The canonical voter ID, or a 400 that does not repeat what was sent."""
    canonical = contract.canonical_voter_id(raw)
    if canonical is None:
        raise RequestError(400, "invalid_voter_id",
                           "The voter ID is not in the published format (four groups of five letters and digits).")
    return canonical


# --- vote messages ------------------------------------------------------------------------------

# A message carries no time: enqueue's time would single out a voter among the ballots of a mixing
# batch. `tag` = HMAC-SHA256 under the message key (derived from the plan's queue key), so only the
# pipeline, which alone can read that key, can put a vote on a queue that `process` accepts.
MESSAGE_FIELDS = ("bk", "state", "candidate", "nonce", "region", "tag")
BALLOT_TAG_ATTR = "tag"


def subkey(queue_key: bytes, purpose: str) -> bytes:
    """One key per purpose ("message", "ballot") from the plan's queue key, so neither tag forges the other."""
    return hmac.new(queue_key, b"election/" + purpose.encode("ascii"), hashlib.sha256).digest()


def _mac(key: bytes, *parts: str) -> str:
    # Fields are joined with a unit separator (\x1f), which no field can contain (keys are hex, states
    # two letters, candidates printable, regions AWS names), so distinct fields never give one text.
    return hmac.new(key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


def message_tag(message_key: bytes, bk: str, state: str, candidate: str, nonce: str, region: str) -> str:
    return _mac(message_key, "vote", bk, state, candidate, nonce, region)


def ballot_tag(ballot_key_: bytes, bk: str, state: str, candidate: str, region: str) -> str:
    """The tag on a ballot item, which `election audit` verifies (a planted item has none that verifies)."""
    return _mac(ballot_key_, "ballot", bk, state, candidate, region)


@dataclass(frozen=True)
class Vote:
    """One vote message on a votes or hand-off queue; `region` is the voter's home region."""

    bk: str
    state: str
    candidate: str
    nonce: str
    region: str
    tag: str = ""

    @classmethod
    def signed(cls, message_key: bytes, bk: str, state: str, candidate: str, nonce: str, region: str) -> Vote:
        return cls(bk, state, candidate, nonce, region, message_tag(message_key, bk, state, candidate, nonce, region))

    def authentic(self, message_key: bytes) -> bool:
        want = message_tag(message_key, self.bk, self.state, self.candidate, self.nonce, self.region)
        return hmac.compare_digest(want, self.tag)

    def to_json(self) -> str:
        return json.dumps({f: getattr(self, f) for f in MESSAGE_FIELDS}, separators=(",", ":"))

    def item(self, ballot_tag_key: bytes, t: str) -> dict[str, dict[str, str]]:
        """The ballots table item (low-level attribute values); `t` is the batch's coarse time."""
        return {contract.BALLOTS_KEY: {"S": self.bk}, "state": {"S": self.state}, "candidate": {"S": self.candidate},
                "region": {"S": self.region}, "nonce": {"S": self.nonce}, "t": {"S": t},
                BALLOT_TAG_ATTR: {"S": ballot_tag(ballot_tag_key, self.bk, self.state, self.candidate, self.region)}}


def parse_vote(body: str) -> Vote:
    """A vote message, or ValueError for a message no retry can fix (it belongs in the dead-letter queue)."""
    data = json.loads(body)
    if not isinstance(data, dict) or set(data) != set(MESSAGE_FIELDS):
        raise ValueError("a vote message has exactly the fields " + ", ".join(MESSAGE_FIELDS))
    if not all(isinstance(data[f], str) and data[f] for f in MESSAGE_FIELDS):
        raise ValueError("every field of a vote message is a non-empty string")
    if not contract.RECEIPT_RE.match(data["bk"]):
        raise ValueError("bk is not a ballot key")
    return Vote(**{f: data[f] for f in MESSAGE_FIELDS})


def refusal(vote: Vote, message_key: bytes, region: str, state_regions: Mapping[str, str],
            ballot: tuple[str, ...]) -> str | None:
    """Why `process` in `region` must not write this vote (None: write it). Never names the voter.

    Only the pipeline can tag a message; a state is written only in its home region (two regions
    writing one key would race, and a foreign state's ballot there is a stuffed ballot); the
    candidate must be on that state's ballot.
    """
    if not vote.authentic(message_key):
        return "the message tag does not verify"
    if state_regions.get(vote.state) != region or vote.region != region:
        return f"{vote.state} is not homed in {region}"
    if vote.candidate not in ballot:
        return f"the candidate is not on {vote.state}'s ballot"
    return None


def deferred_states(receives: Mapping[str, list[int]], min_mix: int, rounds: int, closing: bool) -> set[str]:
    """States whose votes in this batch wait for a later batch, so each ballot hides among >= k of its state.

    An observer who knows a voter also knows the state, and the state is on the ballot, so the mix
    that counts is the ballots *of that state* written together. `receives` maps a state to the
    SQS receive counts of its votes in the batch. A state with fewer than `min_mix` votes here is
    deferred, unless one of its votes was already deferred `rounds` times (then the state's votes of
    those windows are written together) or the polls are closed (`closing`: no more votes will come,
    so everything left is written now, in one batch per queue).
    """
    if closing or rounds <= 0:
        return set()
    return {st for st, counts in receives.items() if len(counts) < min_mix and max(counts) <= rounds}


def batch_time(now: float, remaining_s: float) -> str:
    """The coarse time written on every ballot of a batch: the minute of the invocation's deadline.

    One value for the whole batch, so it orders nothing within it; and no ballot of the batch is
    written after it, so a tallied record created after the end of that minute proves this ballot
    was tallied too (receipt_status).
    """
    return minute(now + max(0.0, remaining_s))


def transaction_reasons(exc: Any) -> list[str]:
    """Cancellation reason codes of a TransactionCanceledException, in item order."""
    response = getattr(exc, "response", {}) or {}
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons", [])]


