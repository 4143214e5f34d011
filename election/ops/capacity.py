"""What a plan's `capacity` needs per region and what the election costs: pure arithmetic, no boto3.

`election plan` prints it, `up` takes the tables' warm throughput and the stage throttles from it,
and `election preflight` compares it with the account's quotas. Prices come from
election/ops/prices.py, the table bench/pipeline_cost.py uses; the per-vote units below are the
ones that bench measures (its figures are quoted where a constant comes from it).

Rules used (AWS documentation):
- Little's law: concurrent executions = invocations per second x average duration
  (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
- A DynamoDB partition serves at most 1,000 write units and 3,000 read units a second; a new on-demand
  table is warm for 4,000 write and 12,000 read units a second; warm throughput can be raised, never
  lowered, and on a global table applies to every replica
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html).
- A DynamoDB stream has about one shard per table partition; Lambda reads each shard with one
  concurrent invocation (ParallelizationFactor 1).
- Global tables write every ballot into every replica, so each region's ballots table takes the
  national write rate; a provisioned global table has the same write capacity settings in every
  replica (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_reqs_bestpractices.html).
- Provisioned capacity (plan `tables.ballots`, election/plan_tables.py) is billed per hour for what is
  provisioned; auto scaling keeps it near consumed / target utilization, never below the minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from election.ops import data, prices
from election.plan import Plan
from election.plan_tables import BALLOT_READ_UNITS_PER_PAGE_VOTE

# What the voting page sends the API for each vote (website/api.js, app.js): POST /ballot, then POST
# /votes; GET /health only after a request failed, so none on the happy path. Shared with
# bench/pipeline_cost.py; tests/test_browser_vote.py checks it against the page in Chromium.
PAGE_REQUESTS = {"health": 0, "ballot": 1, "votes": 1}
# Average durations on Lambda at the plan's memory (s), from bench/pipeline_cost.py's model (CPU
# stretched by the memory's CPU share plus typical call latency), rounded up.
DURATION_S = {"enqueue": 0.030, "health": 0.015, "process_per_vote": 0.001, "tally_per_batch": 0.150}
HEADROOM = 1.5                # stage throttle and warm throughput above the expected peak
PARTITION_WCU, PARTITION_RCU = 1000, 3000
DEFAULT_WARM_WCU, DEFAULT_WARM_RCU = 4000, 12000
LAMBDA_DEFAULT_CONCURRENCY = 1000   # L-B99A9384, per account and region
VOTER_ITEM_BYTES = 100        # 64-hex key + state + DynamoDB's per-item overhead
BALLOT_ITEM_BYTES = 300
IDLE_POLL_REQUESTS_MONTH = 5 * 3 * 60 * 24 * 30   # an SQS mapping's pollers long-poll (20 s) when idle


@dataclass(frozen=True)
class RegionNeeds:
    region: str
    share: float                   # of the national votes (2016 turnout of the states homed here)
    peak_votes_per_s: float
    api_rps: float                 # all routes the page calls
    throttle_rate: int             # stage throttle to set
    throttle_burst: int
    concurrency: dict[str, int]    # function role -> concurrent executions at the peak
    ballots_wcu: int               # warm throughput wanted (every replica takes every ballot)
    ballots_rcu: int
    voters_rcu: int
    stream_shards: int

    @property
    def total_concurrency(self) -> int:
        return sum(self.concurrency.values())


@dataclass(frozen=True)
class Costs:
    per_million_votes: float
    election: float                # the votes of the whole election, request-driven
    monthly_fixed: float           # keeping the stack up for a month with no votes
    monthly_items: dict[str, float]


def region_shares(plan: Plan) -> dict[str, float]:
    """Each region's share of the national votes, by the 2016 turnout of the states it homes."""
    turnout = data.turnout()
    national = sum(turnout.values())
    return {r.name: sum(turnout[s] for s in r.states) / national for r in plan.regions}


def warm(needed: float, default: int) -> int:
    """Warm throughput to request: the need with headroom, or the default when that already covers it."""
    want = math.ceil(needed * HEADROOM)
    return max(default, want)


def needs(plan: Plan) -> list[RegionNeeds]:
    """Per region, what the plan's capacity needs at its peak."""
    cap = plan.capacity
    if cap is None:
        return []
    national = cap.peak_votes_per_s
    out = []
    for region, share in region_shares(plan).items():
        peak = national * share
        api_rps = peak * sum(PAGE_REQUESTS.values())
        ballots_wcu = warm(national, DEFAULT_WARM_WCU)
        # Each page vote looks the voter up twice (POST /ballot, POST /votes): one eventually consistent
        # read (0.5 unit) of each table per lookup.
        ballots_rcu = warm(2 * peak * 0.5, DEFAULT_WARM_RCU)
        voters_rcu = warm(2 * peak * 0.5, DEFAULT_WARM_RCU)
        shards = max(1, math.ceil(national / PARTITION_WCU), math.ceil(2 * peak * 0.5 / PARTITION_RCU))
        concurrency = {
            "enqueue": math.ceil(2 * peak * DURATION_S["enqueue"]),
            "health": math.ceil(peak * PAGE_REQUESTS["health"] * DURATION_S["health"]),
            # SQS mappings run at least 2 concurrent batches (MaximumConcurrency's minimum).
            "process": max(2, math.ceil(peak * DURATION_S["process_per_vote"])),
            "tally": shards,   # one invocation per shard at a time
        }
        rate = math.ceil(api_rps * HEADROOM)
        out.append(RegionNeeds(region=region, share=share, peak_votes_per_s=peak, api_rps=api_rps,
                               throttle_rate=rate, throttle_burst=max(rate // 2, 1), concurrency=concurrency,
                               ballots_wcu=ballots_wcu, ballots_rcu=ballots_rcu, voters_rcu=voters_rcu,
                               stream_shards=shards))
    return out


def warm_throughput(plan: Plan) -> dict[str, dict[str, int]]:
    """Table -> {"read", "write"} warm throughput for `up`, only where the need exceeds a new table's default.

    The largest need of any region (a global table's setting applies to every replica). Not for a
    provisioned ballots table: its provisioned minimum, which must cover the peak, is its warmth."""
    out: dict[str, dict[str, int]] = {}
    skip = {"ballots"} if plan.ballots_capacity.provisioned else set()
    for n in needs(plan):
        for table, read, write in (("ballots", n.ballots_rcu, n.ballots_wcu), ("voters", n.voters_rcu, DEFAULT_WARM_WCU)):
            if table in skip:
                continue
            if read > DEFAULT_WARM_RCU or write > DEFAULT_WARM_WCU:
                cur = out.setdefault(table, {"read": DEFAULT_WARM_RCU, "write": DEFAULT_WARM_WCU})
                cur["read"], cur["write"] = max(cur["read"], read), max(cur["write"], write)
    return out


def stage_throttle(plan: Plan, region: str) -> tuple[int, int]:
    """(rate, burst) of the region's HTTP API stage: the plan's api settings, raised to the capacity's need."""
    rate, burst = plan.api.throttle_rate, plan.api.throttle_burst
    for n in needs(plan):
        if n.region == region:
            rate, burst = max(rate, n.throttle_rate), max(burst, n.throttle_burst)
    return rate, burst


@dataclass(frozen=True)
class Provisioned:
    """The provisioned ballots table at a steady national rate, auto scaling holding its target utilization."""

    votes_per_s: float
    wcu: int                  # in EVERY region: each replica takes every ballot
    rcu: dict[str, int]       # per region: the lookups of the voters who reach it
    usd_per_hour: float
    capped: bool              # the rate needs more than write_max / read_max: writes or lookups throttle

    @property
    def usd_per_vote(self) -> float:
        return self.usd_per_hour / (self.votes_per_s * 3600) if self.votes_per_s else 0.0


def ballots_provisioned(plan: Plan, votes_per_s: float, reads_per_vote: float,
                        writes_per_vote: float = 1.0) -> Provisioned:
    """What the ballots table's provisioned capacity costs at `votes_per_s` nationally.

    Writes: max(write_min, rate x writes_per_vote / target) units in each region (every replica takes every
    ballot: one write unit per ballot under 1 KB, WCU in the home region and rWCU in the others, one price).
    Reads: per region, max(read_min, its share of the lookups / target), `reads_per_vote` read units per
    vote (0.5 per eventually consistent lookup). Ramps (auto scaling lags a rising load) and a minimum
    above the rate cost more than this; a need above the maximum is capped (and would throttle)."""
    cap = plan.ballots_capacity
    t = cap.target_percent / 100
    want_w = math.ceil(votes_per_s * writes_per_vote / t)
    wcu = min(cap.write_max, max(cap.write_min, want_w))
    want_r = {r: math.ceil(share * votes_per_s * reads_per_vote / t) for r, share in region_shares(plan).items()}
    rcu = {r: min(cap.read_max, max(cap.read_min, w)) for r, w in want_r.items()}
    regions = len(plan.regions)
    usd = prices.provisioned_usd_per_hour(wcu, regions, sum(rcu.values()))
    capped = want_w > cap.write_max or any(w > cap.read_max for w in want_r.values())
    return Provisioned(votes_per_s=votes_per_s, wcu=wcu, rcu=rcu, usd_per_hour=usd, capped=capped)


def provisioned_minimum_monthly(plan: Plan) -> float:
    """USD a month for the provisioned ballots table's minimum capacity in every region (0 on demand)."""
    cap = plan.ballots_capacity
    if not cap.provisioned:
        return 0.0
    regions = len(plan.regions)
    return prices.provisioned_usd_per_hour(cap.write_min, regions, cap.read_min * regions) * prices.HOURS_PER_MONTH


def vote_units(plan: Plan, tally_batch: int = 1000) -> dict[str, float]:
    """Billable units of one page vote (PAGE_REQUESTS: POST /ballot + POST /votes, and what follows).

    The counts are the calls bench/pipeline_cost.py measures per vote; duration from DURATION_S.
    """
    regions = len(plan.regions)
    mem_gb = plan.lambda_.memory_mb / 1024
    batch = max(plan.secrecy.batch_size, 1)
    states_per_region = max(len(r.states) for r in plan.regions)
    tally_items = states_per_region + 1           # counters touched + the checkpoint, per transaction
    health_reuse = 30                             # checks answered per deep check (health.OK_REUSE_S)
    return {
        "api_requests": sum(PAGE_REQUESTS.values()),
        "lambda_requests": sum(PAGE_REQUESTS.values()) + 1 / batch + 1 / tally_batch,
        "gb_s": mem_gb * (2 * DURATION_S["enqueue"] + PAGE_REQUESTS["health"] * DURATION_S["health"]
                          + DURATION_S["process_per_vote"]
                          + DURATION_S["tally_per_batch"] / tally_batch),
        # SendMessage; the mapping's receive + delete; the deep health check's queue read
        "sqs_requests": 1 + 2 / 10 + PAGE_REQUESTS["health"] / health_reuse,
        "rru": 2 * 2 * 0.5,                            # two lookups, voter + ballot, eventually consistent
        "wru": 1 + 2 * tally_items / tally_batch,      # the ballot; the tally's transaction (2 units per item)
        "rwru": (regions - 1) * (1 + tally_items / tally_batch),
    }


def costs(plan: Plan, resource_counts: dict[str, int]) -> Costs:
    """Per million page votes, the whole election, and the fixed monthly cost.

    `resource_counts`: how many resources of each kind the plan deploys (from the model), so alarms,
    secrets and keys are counted as deployed.
    """
    u = vote_units(plan)
    pr = prices.per_request
    per_vote = (u["api_requests"] * pr("http_api") + u["lambda_requests"] * pr("lambda_request")
                + prices.lambda_duration_usd(u["gb_s"], plan.lambda_.architecture)
                + u["sqs_requests"] * pr("sqs_request") + u["rru"] * pr("dynamodb_rru")
                + u["wru"] * pr("dynamodb_wru") + u["rwru"] * pr("dynamodb_replicated_wru"))
    if plan.ballots_capacity.provisioned and plan.capacity:
        # The ballot's write (home + replicas) and its lookups leave the per-request bill for the hourly one,
        # priced at the plan's peak (auto scaling at its target utilization).
        reads = BALLOT_READ_UNITS_PER_PAGE_VOTE
        per_vote += (ballots_provisioned(plan, plan.capacity.peak_votes_per_s, reads).usd_per_vote
                     - reads * pr("dynamodb_rru") - pr("dynamodb_wru")
                     - (len(plan.regions) - 1) * pr("dynamodb_replicated_wru"))
    votes = plan.capacity.votes if plan.capacity else 0
    voters = plan.capacity.voters if plan.capacity else 0
    regions = len(plan.regions)
    storage_gb = (voters * VOTER_ITEM_BYTES + votes * BALLOT_ITEM_BYTES) / prices.GB * regions
    m = prices.MONTHLY
    items = {
        "KMS keys": resource_counts.get("kms_key", 0) * m["kms_key"],
        "secrets": resource_counts.get("secret", 0) * m["secret"],
        "alarms": resource_counts.get("alarm", 0) * m["alarm"],
        "dashboards": resource_counts.get("dashboard", 0) * m["dashboard"],
        "hosted zone": resource_counts.get("hosted_zone", 0) * m["hosted_zone"],
        "Route 53 health checks (HTTPS)": resource_counts.get("health_check", 0)
        * (m["health_check"] + m["health_check_feature"]),
        "tables: storage + PITR": storage_gb * (prices.DYNAMODB_STORAGE_GB_MONTH + prices.DYNAMODB_PITR_GB_MONTH),
        "idle SQS polling by the mappings": resource_counts.get("event_source_mapping_sqs", 0)
        * IDLE_POLL_REQUESTS_MONTH * pr("sqs_request"),
        "ballots table's provisioned minimum": provisioned_minimum_monthly(plan),
    }
    return Costs(per_million_votes=per_vote * 1e6, election=per_vote * votes,
                 monthly_fixed=sum(items.values()), monthly_items=items)


def resource_counts(plan: Plan) -> dict[str, int]:
    """Resources per kind the plan deploys (the model), SQS mappings counted apart."""
    from election.provision.model import desired

    out: dict[str, int] = {}
    for r in desired(plan):
        out[r.kind] = out.get(r.kind, 0) + 1
        if r.kind == "event_source_mapping" and "_starting_position" not in r.props:
            out["event_source_mapping_sqs"] = out.get("event_source_mapping_sqs", 0) + 1
    return out
