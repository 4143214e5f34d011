"""The contract between the deployer, the handlers, the local runtime and the ops commands.

Everything here is data: names of environment variables the deployer sets on
every function, key attribute names of the three tables, the voter ID and
receipt formats. Standard library only (it is zipped with every handler).
"""

from __future__ import annotations

import re

# --- functions: handler module (election/lambdas/<module>.py) per function role ----
# role -> (module, what triggers it)
FUNCTIONS: dict[str, str] = {
    "enqueue": "http",   # POST /ballot, POST /votes
    "process": "sqs",    # votes queue -> conditional put of the ballot
    "tally": "stream",   # ballots table stream -> results counters
    "results": "http",   # GET /results
    "receipt": "http",   # GET /receipts/{receipt}
    "health": "http",    # GET /health
    "forward": "sqs",    # hand-off queue -> home region's votes queue
}

DEFAULT_ROUTE = "$default"
ROUTES: dict[str, str] = {
    "POST /ballot": "enqueue",
    "POST /votes": "enqueue",
    "GET /results": "results",
    "GET /receipts/{receipt}": "receipt",
    "GET /health": "health",
    # API Gateway's catch-all: any path or method no route above matches (docs: "Working with the
    # $default route"). It answers 404/405 {"error","message"} (common.unrouted) from the results
    # function: the least-privileged HTTP function, so junk traffic never takes the enqueue
    # function's concurrency from votes nor the health function's from Route 53.
    DEFAULT_ROUTE: "results",
}

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
# per touched state, so 1,000 records per batch cost ~0.06 write units per vote, 100 cost ~0.6
# (bench/pipeline_cost.py). The batching window bounds the added counting delay.
TALLY_BATCH_SIZE = 1000
TALLY_BATCHING_WINDOW_S = 5
# A batch the tally keeps failing is retried at most this often (bisected first, which costs no retry),
# and no record older than this is retried: then Lambda sends the batch's *location* (shard, sequence
# numbers, not the records) to the tally-failures queue and moves on, instead of blocking the shard for the
# stream's whole 24 h retention and then losing the records. One hour leaves ~23 h to read them back; the
# ballots themselves are safe in the table, so `election recount` rebuilds the counts without them.
# (https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html; ranges 0-10,000 and
# 60-604,800 s: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html)
TALLY_MAX_RETRY_ATTEMPTS = 50
TALLY_MAX_RECORD_AGE_S = 3600

# --- tables ------------------------------------------------------------------------
VOTERS_KEY = "vk"      # HMAC-SHA256(voter pepper, canonical voter ID), hex; attribute "state"
BALLOTS_KEY = "bk"     # receipt = HMAC-SHA256(ballot pepper, canonical voter ID), first 16 bytes, hex
RESULTS_KEY = "pk"     # "<STATE>#<region>" counter items; "checkpoint#<region>#<shard>"; "polls"
POLLS_ITEM = "polls"   # results item {"pk": "polls", "open": bool, "changed_at": iso}

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
