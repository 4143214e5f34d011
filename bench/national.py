"""Election day at national scale: a per-second fluid model of the pipeline under AWS's scaling rules.

Arrivals: every state's 2016 ballots (config/turnout_2016.csv; --on-day: the share cast on the day),
spread over its polling hours (07:00-20:00 local, a stated simplification) in its time zone, with an
opening and an after-work peak (HOURLY). Each page vote is the API requests in capacity.PAGE_REQUESTS (POST
/ballot, POST /votes). Per region and second the model applies, in order:

- API Gateway: the account's throttle quota per region (10,000 requests/s by default, L-8A5B8E43)
  and the stage throttle (`election plan`'s capacity figure); a throttled voter tries again 10 s later.
- Lambda: one concurrency pool per region (1,000 by default, L-B99A9384); each function scales by at
  most 1,000 execution environments every 10 s (lambda/latest/dg/lambda-concurrency.html, "scaling
  rate"); concurrency = rate x duration (Little's law). A vote refused for concurrency is retried too.
- SQS -> process: the mapping starts with 5 concurrent batches and adds up to 300 a minute while
  messages wait, at most 1,000 or the plan's queue.max_concurrency (services-sqs-scaling.html); the
  mixing window (secrecy.window_s) holds a batch until it has secrecy.batch_size votes.
- DynamoDB: the ballots table of every region takes every ballot (global table), in the plan's mode
  (`tables.ballots`; bench/national_tables.py): on demand it serves its warm throughput and up to twice a
  peak it reached at least 30 minutes ago (more within 30 minutes may throttle: on-demand capacity mode,
  "peak traffic"); provisioned, auto scaling tracks the consumed units at the target utilization between
  the minimum and maximum, minutes late, and the region's lookups need read capacity too. A throttled
  write stays in the votes queue (process retries it); a throttled lookup refuses the voter, who retries.
  A partition serves 1,000 writes/s.
- Stream -> tally: about one shard per partition, one invocation per shard at a time; each batch is
  one transaction over the region's counter items, so every shard's transactions meet on the same hot
  items: a transaction conflicts with probability 1 - exp(-tx/s per item x TX_S) and is retried.

Prints, per hour (US Eastern): offered and accepted votes/s, throttles, the oldest queued vote, time
from accepted to counted, the ballots table's write units per region, and the bill: requests from
election/ops/capacity.py's per-vote units and the shared price table (without the ballots table's
when it is provisioned), plus its provisioned capacity-hours in every region; the day's bill adds the
hours outside the model at the minimums. With a provisioned plan it also prints the on-demand day. `--check-local` runs the same step functions at small scale with
the local stack's parameters next to a measurement of the local stack at the same offered rates
(bench/national_local.py; README, "Election day at national scale", says how far they agree).

    python3 bench/national.py [--plan config/aws.yaml] [--peak 50000] [--api-quota N] [--lambda-quota N]
                              [--max-concurrency N] [--warm-wcu N] [--on-day 1.0] [--find-peak]
                              [--ballots-mode plan|on_demand|provisioned] [--write-min N] [--write-max N]
                              [--read-min N] [--read-max N]
    python3 bench/national.py --check-local [--seconds 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import national_report
import national_tables
from national_tables import OnDemandTable, ProvisionedTable

from election.lambdas import contract
from election.ops import capacity, data, prices
from election.plan import Plan, load_plan
from election.plan_tables import TableCapacity

# UTC offset on election day (November: standard time). A state split between zones takes the zone
# where most of its voters live.
TZ = {**dict.fromkeys(["CT", "DE", "DC", "FL", "GA", "IN", "KY", "ME", "MD", "MA", "MI", "NH", "NJ", "NY", "NC", "OH", "PA", "RI", "SC", "VT", "VA", "WV"], -5),
      **dict.fromkeys(["AL", "AR", "IL", "IA", "KS", "LA", "MN", "MS", "MO", "NE", "ND", "OK", "SD", "TN", "TX", "WI"], -6),
      **dict.fromkeys(["AZ", "CO", "ID", "MT", "NM", "UT", "WY"], -7), **dict.fromkeys(["CA", "NV", "OR", "WA"], -8),
      "AK": -9, "HI": -10}
OPEN_H, CLOSE_H = 7, 20
# Share of a state's day-of ballots per local hour from 07:00: opening and after-work peaks.
HOURLY = (0.11, 0.09, 0.07, 0.065, 0.065, 0.07, 0.065, 0.065, 0.07, 0.085, 0.10, 0.09, 0.055)
PAGE_REQUESTS = sum(capacity.PAGE_REQUESTS.values())   # what the voting page sends per vote
RETRY_S = 10
DT = 5                                    # model step (s): rates are per second, amounts per step
ENQUEUE_S, HEALTH_S = 0.030, 0.015        # durations as in capacity.DURATION_S
PROCESS_VOTE_S = 0.0101                   # per vote: 1.4 ms CPU x 1769/256 (bench/pipeline_cost.py) + waits / 16 threads
TALLY_S = 0.150                           # one tally invocation (one transaction)
TX_S = 0.015                              # a transaction's duration on the counter items
TALLY_WINDOW_S = float(contract.TALLY_BATCHING_WINDOW_S)
TALLY_BATCH = contract.TALLY_BATCH_SIZE   # a shard is read at least this often
SCALE_PER_S = 100                         # Lambda: 1,000 environments per 10 s per function
SQS_START, SQS_ADD_PER_S, SQS_MAX = 5, 5, 1000


@dataclass
class Limits:
    api_rps: float = 10_000
    lambda_concurrency: float = 1_000
    max_concurrency: int = 50
    warm_wcu: float = 4_000
    stage_rps: float | None = None
    shard_counters: bool = False      # a design change: counter items per stream shard, not per region
    provisioned: float = 0.0          # provisioned concurrency of enqueue (health gets a quarter)


@dataclass(frozen=True)
class Params:
    """Service times and platform rules the model steps with: AWS's by default, the local stack's for --check-local."""

    dt: int = DT
    page_requests: int = PAGE_REQUESTS
    enqueue_s: float = ENQUEUE_S
    health_s: float = HEALTH_S
    process_vote_s: float = PROCESS_VOTE_S
    tally_s: float = TALLY_S
    tx_s: float = TX_S
    tally_window_s: float = TALLY_WINDOW_S
    tally_batch: int = TALLY_BATCH
    scale_per_s: float = SCALE_PER_S
    sqs_start: float = SQS_START
    sqs_add_per_s: float = SQS_ADD_PER_S
    sqs_max: float = SQS_MAX
    shards: int | None = None         # stream shards per region; None: one per 1,000 writes/s (AWS)
    defer_rounds: int = 0             # windows a vote of a state short of k is held back (0: not modelled)
    bucket_s: int = 3600              # figures are summed per bucket of this many seconds (an hour)


AWS = Params()


@dataclass
class RegionState:
    retry: deque = field(default_factory=deque)
    queue: float = 0.0                     # votes waiting in SQS
    queue_age: float = 0.0
    batches: float = SQS_START
    conc: dict = field(default_factory=lambda: {"enqueue": 0.0, "health": 0.0, "process": 0.0, "tally": 0.0})
    backlog_tally: float = 0.0

    def pool_left(self, lim: Limits, *others: str) -> float:
        """The region's Lambda concurrency not held by the functions named."""
        return max(0.0, lim.lambda_concurrency - sum(self.conc[f] for f in others))


@dataclass
class Hour:
    offered: float = 0.0
    accepted: float = 0.0
    peak_offered: float = 0.0
    api_throttled: float = 0.0
    lambda_throttled: float = 0.0
    ddb_throttled: float = 0.0        # ballot writes throttled (they wait in the votes queue)
    read_throttled: float = 0.0       # votes whose ballot lookup was throttled (the voter got 503 and retries)
    wcu: float = 0.0                  # the ballots table's most write units per region in the hour
    capacity_usd: float = 0.0         # the ballots table's provisioned capacity billed in the hour
    conflicts: float = 0.0
    max_age: float = 0.0
    max_counted: float = 0.0
    turned_away: float = 0.0
    seconds: int = 0
    bill: float = 0.0
    busy_until: float = 0.0           # the end of the last step that wrote ballots...
    last_to_counted: float = 0.0      # ...and the time to counted of its ballots: when the last vote counts


def arrivals(plan: Plan, on_day: float) -> dict[str, list[float]]:
    """Votes/s per region for every second of the UTC day of the election (and the next morning)."""
    turnout = data.turnout()
    home = plan.state_regions()
    out = {r: [0.0] * (36 * 3600) for r in plan.region_names}
    for state, votes in turnout.items():
        for h, share in enumerate(HOURLY):
            start = (OPEN_H + h - TZ[state]) * 3600
            rate = votes * on_day * share / 3600
            series = out[home[state]]
            for s in range(start, start + 3600):
                series[s] += rate
    return out


def simulate(plan: Plan, lim: Limits, on_day: float = 1.0, scale: float = 1.0) -> dict[int, Hour]:
    """Hour (UTC) -> figures of election day under AWS's rules."""
    return run_model(plan, lim, arrivals(plan, on_day), AWS, scale)


def run_model(plan: Plan, lim: Limits, arr: dict[str, list[float]], p: Params, scale: float = 1.0,
              until: int | None = None) -> dict[int, Hour]:
    """Bucket (t // p.bucket_s) -> figures; every region stepped every p.dt seconds from the first arrival to
    two hours after the last (or to `until`)."""
    per_vote = per_vote_usd(plan)
    regions = {r: RegionState(retry=deque([0.0] * max(1, RETRY_S // p.dt)), batches=p.sqs_start) for r in arr}
    for st in regions.values():
        st.conc["enqueue"], st.conc["health"] = lim.provisioned, lim.provisioned / 4
    stage = {n.region: n.throttle_rate for n in capacity.needs(plan)} if plan.capacity else {}
    hours: dict[int, Hour] = {}
    table = national_tables.ballots_table(plan, lim.warm_wcu)
    length = len(next(iter(arr.values())))
    busy = [t for t in range(0, length, 60 if length > 7200 else 1) if any(a[t] for a in arr.values())]
    end = until if until is not None else min(length, busy[-1] + 2 * 3600)
    for t in range(busy[0], end, p.dt):
        hour = hours.setdefault(t // p.bucket_s, Hour())
        offered = {r: (a[t] if t < len(a) else 0.0) * scale for r, a in arr.items()}
        hour.peak_offered = max(hour.peak_offered, sum(offered.values()))
        wanted = {}
        for r, st in regions.items():
            cap_rps = min(lim.api_rps, lim.stage_rps or stage.get(r, plan.api.throttle_rate))
            accepted = _api_and_lambda(st, lim, p, hour, offered[r], cap_rps, table.lookups(t, r))
            table.looked_up(t, r, accepted, p.dt)
            wanted[r] = _process(st, lim, p, accepted, plan.secrecy.batch_size, plan.secrecy.window_s)
        k, shards, per_shard = _ballots(table, t, wanted, p)
        hour.wcu = max(hour.wcu, table.wcu)
        hour.capacity_usd += table.usd(p.dt)
        lags = [_write_and_tally(st, lim, p, hour, wanted[r] * k, wanted[r], shards, per_shard, plan)
                for r, st in regions.items()]
        if any(lag is not None for lag in lags):
            hour.busy_until, hour.last_to_counted = t + p.dt, max(lag for lag in lags if lag is not None)
        hour.seconds += p.dt
    for h in hours.values():
        h.bill = h.accepted * per_vote + h.capacity_usd
    return hours


def per_vote_usd(plan: Plan) -> float:
    """Request-driven USD per page vote: capacity.costs' on-demand units, without the ballots table's write, its
    replicas' and its lookups when that table is provisioned (they are its capacity-hours, priced apart: never
    per request, nor at a steady rate as `election plan` does with a capacity section)."""
    on_demand = dataclasses.replace(plan, ballots_capacity=TableCapacity())
    usd = capacity.costs(on_demand, {}).per_million_votes / 1e6
    if plan.ballots_capacity.provisioned:
        pr = prices.per_request
        usd -= (national_tables.READ_UNITS * pr("dynamodb_rru") + pr("dynamodb_wru")
                + (len(plan.regions) - 1) * pr("dynamodb_replicated_wru"))
    return usd


def _api_and_lambda(st: RegionState, lim: Limits, p: Params, hour: Hour, offered: float, cap_rps: float,
                    lookups: float = math.inf) -> float:
    """API Gateway's throttles (in requests), then the API functions' concurrency (scaling rate, the region's
    pool), then the ballots table's read capacity for the lookups (`lookups` votes/s); a refused voter tries
    once more RETRY_S later, then gives up (turned away). Votes/s accepted."""
    retrying = st.retry.popleft()
    want = offered + retrying
    hour.offered += offered * p.dt
    ok = min(want, cap_rps / p.page_requests)
    hour.api_throttled += (want - ok) * p.page_requests * p.dt
    need = {"enqueue": (capacity.PAGE_REQUESTS["ballot"] + capacity.PAGE_REQUESTS["votes"]) * ok * p.enqueue_s,
            "health": capacity.PAGE_REQUESTS["health"] * ok * p.health_s}
    allowed = {f: min(need[f], st.conc[f] + p.scale_per_s * p.dt) for f in need}
    pool = st.pool_left(lim, "process", "tally")
    if sum(allowed.values()) > pool:
        share = pool / sum(allowed.values())
        allowed = {f: v * share for f, v in allowed.items()}
    accepted = ok * (min(1.0, allowed["enqueue"] / need["enqueue"]) if need["enqueue"] else 1.0)
    hour.lambda_throttled += (ok - accepted) * p.dt
    st.conc.update(allowed)
    looked = min(accepted, lookups)
    hour.read_throttled += (accepted - looked) * p.dt
    accepted = looked
    refused = want - accepted
    first = max(0.0, refused - retrying * (refused / want if want else 0.0))
    st.retry.append(first)
    hour.turned_away += (refused - first) * p.dt
    hour.accepted += accepted * p.dt
    return accepted


def _process(st: RegionState, lim: Limits, p: Params, accepted: float, batch: int, window: int) -> float:
    """SQS -> process: batches scale while a full mix waits, each needs a free execution. Votes/s it would write."""
    st.queue += accepted * p.dt
    if st.queue >= batch:
        st.batches = min(p.sqs_max, lim.max_concurrency, st.batches + p.sqs_add_per_s * p.dt)
    running = min(st.batches, st.pool_left(lim, "enqueue", "health", "tally"))
    ready = st.queue / p.dt if (st.queue >= batch or window <= 1) else st.queue / window
    wanted = min(ready, running / p.process_vote_s)
    st.conc["process"] = min(running, wanted * p.process_vote_s)
    return wanted


def _ballots(table: OnDemandTable | ProvisionedTable, t: int, wanted: dict[str, float],
             p: Params) -> tuple[float, int, float]:
    """(share of the wanted writes written, stream shards, records/s on each shard): every replica takes every
    ballot, so each region's table gets the national rate; the rest is throttled and stays queued."""
    national = sum(wanted.values())
    k = table.serve(t, national, p.dt)
    shards = p.shards or max(1, math.ceil(max(table.partition_units(), national * k) / 1000))
    return k, shards, national * k / shards     # every shard carries every ballot of the nation


def _write_and_tally(st: RegionState, lim: Limits, p: Params, hour: Hour, write: float, wanted: float, shards: int,
                     per_shard: float, plan: Plan) -> float | None:
    """Ballots written; the tally: each shard counts its own region's, one batch (one transaction over the
    region's counter items) per shard at a time; transactions meeting on the same items conflict.
    The time from accepted to counted of this step's ballots (None when none were written)."""
    batch, window = plan.secrecy.batch_size, plan.secrecy.window_s
    hour.ddb_throttled += (wanted - write) * p.dt
    st.queue -= write * p.dt
    st.queue_age = st.queue / write if write > 0 else (st.queue_age + p.dt if st.queue > 1 else 0.0)
    hour.max_age = max(hour.max_age, st.queue_age)
    st.backlog_tally += write * p.dt
    behind = st.backlog_tally / shards / p.dt          # own records/s a shard has yet to count
    tx_per_shard = min(1.0 / p.tally_s, max((per_shard + behind) / p.tally_batch, 1.0 / p.tally_window_s))
    tx_per_item = tx_per_shard if lim.shard_counters else shards * tx_per_shard
    conflict = 1 - math.exp(-tx_per_item * p.tx_s)
    own = write / max(per_shard * shards, 1e-9)       # the share of each batch this region counts
    counted = min(st.backlog_tally, shards * tx_per_shard * (1 - conflict) * p.tally_batch * own * p.dt)
    hour.conflicts += tx_per_item * conflict * p.dt
    st.backlog_tally -= counted
    st.conc["tally"] = shards
    mix_wait = min(window, batch / max(write, 1e-9)) if window > 1 else 1.0
    if p.defer_rounds and short_of_k(plan, write, window):
        mix_wait = window * (1 + p.defer_rounds)   # a state short of k: held back a window per round
        hour.max_age = max(hour.max_age, mix_wait)   # ...in the queue
    # queue_age already includes the mixing wait when a batch is gathering, so the larger of the two
    to_counted = max(st.queue_age, mix_wait) + st.backlog_tally / max(counted / p.dt, 1.0) + p.tally_window_s
    if write <= 0:
        return None
    hour.max_counted = max(hour.max_counted, to_counted)
    return to_counted


def short_of_k(plan: Plan, write: float, window: int) -> bool:
    """Whether, at `write` ballots/s, the plan's smallest state gathers fewer than k in a window (its votes are
    then deferred; states share the rate as their 2016 turnout does). For the one-region local check."""
    turnout = data.turnout()
    states = list(plan.state_regions())
    share = min(turnout[s] for s in states) / sum(turnout[s] for s in states)
    return write * share * window < plan.secrecy.min_mix


def peak_of(plan: Plan, on_day: float) -> float:
    """The national arrival peak (votes/s, sampled each minute)."""
    arr = list(arrivals(plan, on_day).values())
    return max(sum(a[t] for a in arr) for t in range(0, 36 * 3600, 60))


def find_peak(plan: Plan, lim: Limits, on_day: float) -> float:
    """The highest national peak (votes/s) the limits hold, by bisection on the arrival scale."""
    base = peak_of(plan, on_day)
    lo, hi = 0.0, 16.0
    for _ in range(11):                    # to within 16 / 2**11 of the 2016 peak (~26 votes/s)
        mid = (lo + hi) / 2
        if national_report.holds(simulate(plan, lim, on_day, mid), plan.secrecy.window_s):
            lo = mid
        else:
            hi = mid
    return lo * base


def plan_with(plan: Plan, args: argparse.Namespace) -> Plan:
    """The plan with the ballots table's mode and units the command line overrides."""
    cap = plan.ballots_capacity
    mode = cap.mode if args.ballots_mode == "plan" else args.ballots_mode
    if mode == "on_demand":
        return dataclasses.replace(plan, ballots_capacity=TableCapacity())
    units = {k: getattr(args, k) or getattr(cap, k) for k in ("write_min", "write_max", "read_min", "read_max")}
    for k, v in units.items():
        if not v:
            raise SystemExit(f"--{k.replace('_', '-')} is needed: the plan's ballots table is not provisioned.")
    for dim in ("write", "read"):
        if units[f"{dim}_min"] > units[f"{dim}_max"]:
            raise SystemExit(f"--{dim}-min {units[f'{dim}_min']:,} is above the {dim} maximum ({units[f'{dim}_max']:,}): "
                             f"raise --{dim}-max too.")
    return dataclasses.replace(plan, ballots_capacity=TableCapacity(mode="provisioned", target_percent=cap.target_percent,
                                                                    **units))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", default=str(ROOT / "config" / "aws.yaml"))
    ap.add_argument("--on-day", type=float, default=1.0, help="share of 2016's ballots cast on the day (1.0: all)")
    ap.add_argument("--peak", type=float, default=0.0, help="scale arrivals so the national peak is this (votes/s)")
    ap.add_argument("--api-quota", type=float, default=10_000)
    ap.add_argument("--lambda-quota", type=float, default=1_000)
    ap.add_argument("--max-concurrency", type=int, default=0, help="process mapping's MaximumConcurrency (plan's)")
    ap.add_argument("--warm-wcu", type=float, default=4_000, help="ballots table's warm write throughput (on demand)")
    ap.add_argument("--ballots-mode", choices=("plan", "on_demand", "provisioned"), default="plan",
                    help="the ballots table's capacity mode (default: the plan's tables.ballots)")
    for k in ("write-min", "write-max", "read-min", "read-max"):
        ap.add_argument(f"--{k}", type=int, default=0, help=f"provisioned ballots table: {k} per region (plan's)")
    ap.add_argument("--stage-rps", type=float, default=0.0, help="stage throttle (default: the plan's, or capacity)")
    ap.add_argument("--shard-counters", action="store_true",
                    help="model counter items per stream shard (a design change) instead of per region")
    ap.add_argument("--provisioned", type=float, default=0.0, help="enqueue's provisioned concurrency per region")
    ap.add_argument("--find-peak", action="store_true", help="bisect the highest peak these limits hold")
    ap.add_argument("--check-local", action="store_true",
                    help="run the model at small scale with the local stack's parameters next to a measurement of "
                         "the local stack at the same offered rates (bench/national_local.py)")
    ap.add_argument("--seconds", type=float, default=20.0, help="--check-local: seconds of traffic per rate")
    args = ap.parse_args()
    if args.check_local:
        import national_local

        national_local.check_local(args.seconds)
        return
    plan = plan_with(load_plan(args.plan), args)
    lim = Limits(api_rps=args.api_quota, lambda_concurrency=args.lambda_quota,
                 max_concurrency=args.max_concurrency or plan.queue.max_concurrency, warm_wcu=args.warm_wcu,
                 stage_rps=args.stage_rps or None, shard_counters=args.shard_counters,
                 provisioned=args.provisioned)
    base = peak_of(plan, args.on_day)
    scale = args.peak / base if args.peak else 1.0
    print(f"2016 curve: national peak {base:,.0f} votes/s (minute average) with {args.on_day:.0%} of ballots on the "
          f"day; modelled at x{scale:.2f} -> {base * scale:,.0f} votes/s. Limits: {dataclasses.asdict(lim)}")
    hours = simulate(plan, lim, args.on_day, scale)
    national_report.print_table(hours, f"Election day, {plan.name}, {national_report.mode_of(plan)}")
    national_report.print_summary(plan, lim, hours)
    if plan.ballots_capacity.provisioned:
        od = dataclasses.replace(plan, ballots_capacity=TableCapacity())
        print(f"The same day, warm {lim.warm_wcu:,.0f} WCU, ", end="")
        national_report.print_summary(od, lim, simulate(od, lim, args.on_day, scale))
    if args.find_peak:
        print(f"Highest national peak these limits hold: {find_peak(plan, lim, args.on_day):,.0f} votes/s.")


if __name__ == "__main__":
    main()
