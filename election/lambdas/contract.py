"""The contract between the deployer, the handlers, the local runtime and the ops commands.

Everything here is data: names of environment variables the deployer sets on
every function, key attribute names of the three tables, the voter ID and
receipt formats. Standard library only (it is zipped with every handler).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

# --- environment variables set by the deployer on every function ----------------
ENV_PLAN = "ELECTION_PLAN"                   # plan name
ENV_REGION = "ELECTION_REGION"               # this function's region
ENV_VOTERS_TABLE = "VOTERS_TABLE"
ENV_BALLOTS_TABLE = "BALLOTS_TABLE"
ENV_RESULTS_TABLE = "RESULTS_TABLE"
ENV_VOTES_QUEUE_URLS = "VOTES_QUEUE_URLS"    # JSON {region: votes queue URL}, every plan region
ENV_HANDOFF_QUEUE_URL = "HANDOFF_QUEUE_URL"  # this region's hand-off queue URL
ENV_STATE_REGIONS = "STATE_REGIONS"          # JSON {state: home region}
ENV_BALLOT = "BALLOT"                        # JSON {"candidates": [...], "overrides": {state: [...]}}
ENV_VOTER_PEPPER_SECRET = "VOTER_PEPPER_SECRET"    # Secrets Manager id of the voter-roll pepper
ENV_BALLOT_PEPPER_SECRET = "BALLOT_PEPPER_SECRET"  # Secrets Manager id of the ballot pepper
ENV_ALLOWED_ORIGINS = "ALLOWED_ORIGINS"      # comma-separated CORS origins
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"  # CloudWatch namespace for embedded metrics
ENV_RESULTS_LIVE = "RESULTS_LIVE"            # "true": GET /results shows candidates while polls are open
ENV_QUEUE_KEY_SECRET = "QUEUE_KEY_SECRET"    # Secrets Manager id of the key that tags queue messages and ballots
ENV_MIX_MIN = "MIX_MIN"                      # plan secrecy.min_mix (k): fewest same-state ballots written together
ENV_MIX_WINDOW = "MIX_WINDOW_S"              # plan secrecy.window_s: a deferred vote comes back after this long
ENV_MIX_DEFER = "MIX_DEFER_ROUNDS"           # how many times process may defer a vote of a state short of k
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"        # only on the local stack: where moto listens

# --- event source mappings --------------------------------------------------------
# The tally needs the stream shard id to keep one checkpoint per shard; Lambda puts `shardId`
# in DynamoDB stream events only when the mapping has a tumbling window, so the deployer sets
# this on the tally mapping (the local runtime passes `shardId` itself).
TALLY_TUMBLING_WINDOW_S = 60
# Bigger stream batches make the tally cheaper: one transaction per batch costs 2 write units
# per touched state (~30 per region), so 1,000 records per batch cost ~0.06 write units per vote,
# 7,500 ~0.008 (bench/pipeline_cost.py). Sized from the aws plan's rate: at 5,000 votes/s nationally
# a stream shard of the busiest region gets ~850 records/s, so a 30 s window fills the stream maximum
# of 10,000 (AWS caps one invocation at 6 MB: ~7,500 of our ~835-byte records); at quiet hours the
# window ends the batch. 30 s more counting delay is small next to the 300 s mixing window.
# (BatchSize max 10,000, window 0-300 s: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html)
TALLY_BATCH_SIZE = 10000
TALLY_BATCHING_WINDOW_S = 30
# A batch the tally keeps failing is retried at most this often (bisected first, which costs no retry),
# and no record older than this is retried: then Lambda sends the batch's *location* (shard, sequence
# numbers, not the records) to the tally-failures queue and moves on, instead of blocking the shard for the
# stream's whole 24 h retention and then losing the records. One hour leaves ~23 h to read them back; the
# ballots themselves are safe in the table, so `election recount` rebuilds the counts without them.
# (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html; ranges 0-10,000 and
# 60-604,800 s: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html)
TALLY_MAX_RETRY_ATTEMPTS = 50
TALLY_MAX_RECORD_AGE_S = 3600

# --- functions: the one table the deployer and the local runtime derive everything from ----
# Per function: its handler module (election/lambdas/<role>.py, which must exist: package.build
# refuses a missing one), what triggers it, and the environment keys it reads. The deployer builds
# from it the functions, their environment, the event source mappings and the API routes; the local
# stack its gateway routes and its pollers.

_BASE_ENV = (ENV_PLAN, ENV_REGION, ENV_METRICS_NAMESPACE)
_HTTP_ENV = (*_BASE_ENV, ENV_ALLOWED_ORIGINS)


@dataclass(frozen=True)
class Http:
    """API Gateway routes ("METHOD /path", or DEFAULT_ROUTE) answered by the function."""

    routes: tuple[str, ...]


@dataclass(frozen=True)
class Queue:
    """An SQS event source mapping from the region's queue `queue` (a logical name: votes, handoff)."""

    queue: str
    # True: batches follow the plan's secrecy section (batch_size, window_s), the mixing of ballots;
    # False: the queue section's batch_size and no batching window.
    mixing: bool = False


@dataclass(frozen=True)
class Stream:
    """A DynamoDB stream event source mapping from the region's table `table` (a logical name)."""

    table: str
    on_failure: str                   # logical name of the queue that gets the location of a batch given up on
    batch_size: int = TALLY_BATCH_SIZE
    batching_window_s: int = TALLY_BATCHING_WINDOW_S
    tumbling_window_s: int = TALLY_TUMBLING_WINDOW_S
    max_retries: int = TALLY_MAX_RETRY_ATTEMPTS
    max_record_age_s: int = TALLY_MAX_RECORD_AGE_S


@dataclass(frozen=True)
class Function:
    role: str
    trigger: Http | Queue | Stream
    env: tuple[str, ...]              # the environment keys the handler reads (the deployer sets these)

    @property
    def module(self) -> str:
        """The handler module, election/lambdas/<module>.py, entry point `handler`."""
        return self.role


DEFAULT_ROUTE = "$default"
T = TypeVar("T", Http, Queue, Stream)
TALLY_FAILURES_QUEUE = "tally_failures"

FUNCTIONS: dict[str, Function] = {f.role: f for f in (
    Function("enqueue", Http(("POST /ballot", "POST /votes")),
             (*_HTTP_ENV, ENV_VOTERS_TABLE, ENV_BALLOTS_TABLE, ENV_RESULTS_TABLE, ENV_VOTES_QUEUE_URLS,
              ENV_HANDOFF_QUEUE_URL, ENV_STATE_REGIONS, ENV_BALLOT, ENV_VOTER_PEPPER_SECRET,
              ENV_BALLOT_PEPPER_SECRET, ENV_QUEUE_KEY_SECRET)),
    # votes queue -> one conditional put per ballot, in mixed batches
    Function("process", Queue("votes", mixing=True),
             (*_BASE_ENV, ENV_BALLOTS_TABLE, ENV_RESULTS_TABLE, ENV_VOTES_QUEUE_URLS, ENV_STATE_REGIONS, ENV_BALLOT,
              ENV_QUEUE_KEY_SECRET, ENV_MIX_MIN, ENV_MIX_WINDOW, ENV_MIX_DEFER)),
    # ballots table stream -> results counters
    Function("tally", Stream("ballots", on_failure=TALLY_FAILURES_QUEUE), (*_BASE_ENV, ENV_RESULTS_TABLE)),
    # API Gateway's catch-all ($default: any path or method no route matches) answers 404/405
    # {"error","message"} (common.unrouted) from the results function: the least-privileged HTTP
    # function, so junk traffic never takes the enqueue function's concurrency from votes nor the
    # health function's from Route 53 (docs: "Working with the $default route").
    Function("results", Http(("GET /results", DEFAULT_ROUTE)),
             (*_HTTP_ENV, ENV_RESULTS_TABLE, ENV_BALLOT, ENV_RESULTS_LIVE)),
    Function("receipt", Http(("GET /receipts/{receipt}",)), (*_HTTP_ENV, ENV_BALLOTS_TABLE, ENV_RESULTS_TABLE)),
    Function("health", Http(("GET /health",)),
             (*_HTTP_ENV, ENV_VOTERS_TABLE, ENV_BALLOTS_TABLE, ENV_RESULTS_TABLE, ENV_VOTES_QUEUE_URLS)),
    # hand-off queue -> the home region's votes queue
    Function("forward", Queue("handoff"), (*_BASE_ENV, ENV_RESULTS_TABLE, ENV_VOTES_QUEUE_URLS, ENV_QUEUE_KEY_SECRET)),
)}

# route key -> role, in table order, the catch-all last
ROUTES: dict[str, str] = dict(sorted(((route, f.role) for f in FUNCTIONS.values() if isinstance(f.trigger, Http)
                                     for route in f.trigger.routes), key=lambda kv: kv[0] == DEFAULT_ROUTE))


def event_sources() -> dict[str, str]:
    """role -> logical name of the queue or table feeding it, for every queue- or stream-triggered function."""
    return {f.role: f.trigger.queue if isinstance(f.trigger, Queue) else f.trigger.table
            for f in FUNCTIONS.values() if isinstance(f.trigger, Queue | Stream)}


def triggered_by(kind: type[T]) -> list[tuple[str, T]]:
    """(role, trigger) of the functions with a trigger of that kind, in table order."""
    return [(f.role, f.trigger) for f in FUNCTIONS.values() if isinstance(f.trigger, kind)]


# --- tables ------------------------------------------------------------------------
VOTERS_KEY = "vk"      # HMAC-SHA256(voter pepper, canonical voter ID), hex; attribute "state"
BALLOTS_KEY = "bk"     # receipt = HMAC-SHA256(ballot pepper, canonical voter ID), first 16 bytes, hex
RESULTS_KEY = "pk"     # "<STATE>#<region>" counter items; "checkpoint#<region>#<shard>"; "polls"
POLLS_ITEM = "polls"   # results item {"pk": "polls", "open": bool, "changed_at": iso}

# --- states and ballots ---------------------------------------------------------------
STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID",
    "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO",
    "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA",
    "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
)


@dataclass(frozen=True)
class Ballot:
    """The candidates: a national list and per-state overrides (the plan's `ballot`, env BALLOT)."""

    candidates: tuple[str, ...]
    overrides: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def for_state(self, state: str) -> tuple[str, ...]:
        """The candidates on that state's ballot (the override, else the national list)."""
        return self.overrides.get(state, self.candidates)

    def all_candidates(self) -> tuple[str, ...]:
        """Every candidate on any ballot, national list first, in a stable order."""
        seen = list(self.candidates)
        for names in self.overrides.values():
            seen.extend(n for n in names if n not in seen)
        return tuple(seen)

    def to_env(self) -> str:
        """The BALLOT environment value the deployer sets."""
        return json.dumps({"candidates": list(self.candidates),
                           "overrides": {s: list(c) for s, c in self.overrides.items()}}, separators=(",", ":"))

    @classmethod
    def from_env(cls, text: str | None) -> Ballot:
        doc = json.loads(text or '{"candidates": []}')
        return cls(tuple(doc.get("candidates", ())),
                   MappingProxyType({s: tuple(c) for s, c in (doc.get("overrides") or {}).items()}))


# How long a handler may keep believing the polls are open after `close` (common.PollsCache's TTL;
# `election close` waits at least this long before draining).
POLLS_CACHE_S = 2.0

# --- formats -------------------------------------------------------------------------
VOTER_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"   # no 0/O, 1/I look-alikes
VOTER_ID_RE = re.compile(r"^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{5}(-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{5}){3}$")
RECEIPT_RE = re.compile(r"^[0-9a-f]{32}$")


def canonical_voter_id(raw: str) -> str | None:
    """Upper-case, drop spaces and hyphens, regroup in fives; None if not a voter ID."""
    compact = "".join(raw.split()).replace("-", "").upper()
    if len(compact) != 20:
        return None
    candidate = "-".join(compact[i:i + 5] for i in range(0, 20, 5))
    return candidate if VOTER_ID_RE.match(candidate) else None
