"""The national model against the local stack at small scale: same inputs, its prediction next to the measurement.

`python3 bench/national.py --check-local` runs this. It starts the local stack (config/local.yaml), then:

1. Calibrates: offers far more than the stack can take (open loop, from two worker processes outside the
   stack's interpreter); once the schedule ends, the backlog drains with the API idle, and the rate it is
   counted at is mu, the processing stages' own pace. That is the only measured input the model gets.
2. For each offered rate (0.5 x and 1.5 x mu by default) sends the same open-loop schedule `loadtest` sends
   (one vote per voter, for `--seconds`), and samples twice a second: votes accepted (202), votes queued
   (votes and hand-off queues of every region) and votes counted (the results). From those curves, in
   arrival order (FIFO): the oldest queued vote's age, and each vote's time from 202 to counted.
3. Runs the model's own step functions (national.run_model) on the same offered rate with the local stack's
   parameters: one API with no throttle, no Lambda concurrency limit or scaling rate (handlers are threads),
   one SQS poller and one stream poller (the local mappings: one consumer each, the plan's mixing window and
   k and deferral rounds for a state short of k, stream batches of up to 1,000 in a 0.5 s window), tables
   with no throughput limit, and every vote's processing at 1 / mu. Every region shares one interpreter here, so the model takes the stack as ONE region
   whose poller works at mu (a stated simplification: on AWS the regions are independent).

Prints both, side by side (README, "Election day at national scale", says how far they agree).
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Curves:
    """(monotonic time, cumulative count) samples: accepted from the sender's ticks, queued and counted sampled."""

    accepted: list[tuple[float, int]] = field(default_factory=list)
    queued: list[tuple[float, int]] = field(default_factory=list)
    counted: list[tuple[float, int]] = field(default_factory=list)

    @staticmethod
    def first_time(curve: list[tuple[float, int]], k: int) -> float | None:
        """When the cumulative count first reached k."""
        counts = [c for _, c in curve]
        i = bisect_left(counts, k)
        return curve[i][0] if i < len(curve) else None


@dataclass
class Figures:
    accepted_per_s: float
    max_queue_age_s: float
    to_counted_p50_s: float
    to_counted_max_s: float
    last_counted_s: float        # from the end of the schedule to the last vote counted


def local_stack(tmp: Path) -> Any:
    from election.local.stack import LocalStack

    return LocalStack(ROOT / "config" / "local.yaml", state_dir=tmp / "state")


def measure(stack: Any, target: Any, voters: list[tuple[str, str]], rate: float, seconds: float,
            drain_timeout: float = 300.0) -> tuple[Figures, Curves, float]:
    """Send `rate` votes/s for `seconds` (open loop, two worker processes) and sample the pipeline until counted."""
    from election.ops import state
    from election.ops.loadplan import plan_requests
    from election.ops.loadprocs import send_schedule
    from election.ops.loadsend import Live

    plan = target.plan
    n = int(rate * seconds)
    reqs = plan_requests(voters[:n], plan, n, 0.0, 0.0, random.Random(1))
    before = state.results(target)["total"]
    curves = Curves()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            now = time.monotonic()
            depths = state.queue_depths(target)
            queued = sum(d[target.names.votes_queue] + d[target.names.handoff_queue] for d in depths.values())
            curves.queued.append((now, queued))
            curves.counted.append((now, state.results(target)["total"] - before))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    live = Live(planned=n)
    outcomes, _ = send_schedule(stack.endpoints["router"] + "/votes", reqs, rate, 32, 30.0, live,
                                lambda lv: curves.accepted.append((time.monotonic(), lv.done)), random.Random(1),
                                {s: plan.ballot.for_state(s) for s in plan.state_regions()}, workers=2)
    sent_end = time.monotonic()
    accepted = sum(1 for o in outcomes if o.status == 202)
    deadline = time.monotonic() + drain_timeout
    while (not curves.counted or curves.counted[-1][1] < accepted) and time.monotonic() < deadline:
        time.sleep(0.25)
    stop.set()
    sampler.join(5)
    return figures(curves, accepted, seconds, sent_end), curves, sent_end


def figures(curves: Curves, accepted: int, seconds: float, sent_end: float) -> Figures:
    """FIFO readings of the curves: each vote k was accepted when the accepted count reached k, counted when
    the counted count did; the oldest queued vote at t is the one accepted when A(t) - Q(t) had been."""
    gaps = []
    for k in range(1, accepted + 1):
        ta, tc = Curves.first_time(curves.accepted, k), Curves.first_time(curves.counted, k)
        if ta is not None and tc is not None:
            gaps.append(max(0.0, tc - ta))
    ages = [0.0]
    for t, q in curves.queued:
        done = [c for s, c in curves.accepted if s <= t]
        head = (done[-1] if done else 0) - q
        ta = Curves.first_time(curves.accepted, max(1, head + 1)) if q > 0 else None
        if ta is not None:
            ages.append(max(0.0, t - ta))
    gaps.sort()
    last = Curves.first_time(curves.counted, accepted)
    return Figures(accepted_per_s=accepted / seconds, max_queue_age_s=max(ages),
                   to_counted_p50_s=gaps[len(gaps) // 2] if gaps else float("nan"),
                   to_counted_max_s=gaps[-1] if gaps else float("nan"),
                   last_counted_s=(last - sent_end) if last is not None else float("nan"))


def calibrate(stack: Any, target: Any, voters: list[tuple[str, str]], seconds: float = 8.0) -> float:
    """Votes/s the stack writes and counts once nothing else runs (mu): offered far more than it takes, the
    backlog left when the schedule ends is drained with the API idle, at the processing stages' own pace."""
    _, curves, sent_end = measure(stack, target, voters, 150.0, seconds)
    accepted = curves.accepted[-1][1] if curves.accepted else 0
    at_end = max((c for t, c in curves.counted if t <= sent_end), default=0)
    last = Curves.first_time(curves.counted, accepted)
    if accepted - at_end < 50 or last is None or last <= sent_end:
        raise SystemExit("calibration failed: no backlog to drain (or it was never counted)")
    return (accepted - at_end) / (last - sent_end)


def predict(plan: Any, rate: float, seconds: float, mu: float) -> Figures:
    """The model's own steps with the local stack's parameters (module docstring), one region at mu."""
    import national

    from election.local.mappings import STREAM_WINDOW_S
    from election.provision.model.compute import mix_defer_rounds

    inf = float("inf")
    p = national.Params(dt=1, page_requests=1, process_vote_s=1.0 / mu, tally_s=1e-3, tx_s=0.0,
                        tally_window_s=STREAM_WINDOW_S, tally_batch=1000, scale_per_s=inf, sqs_start=1,
                        sqs_add_per_s=0, sqs_max=1, shards=1, bucket_s=10**9, defer_rounds=mix_defer_rounds(plan))
    lim = national.Limits(api_rps=inf, lambda_concurrency=inf, max_concurrency=1, warm_wcu=inf, stage_rps=inf)
    horizon = int(seconds) + 900
    arr = {plan.primary_region: [rate] * int(seconds) + [0.0] * 900}
    during = national.run_model(plan, lim, arr, p, until=int(seconds))[0]
    whole = national.run_model(plan, lim, arr, p, until=horizon)[0]
    return Figures(accepted_per_s=during.accepted / seconds, max_queue_age_s=whole.max_age,
                   to_counted_p50_s=float("nan"), to_counted_max_s=whole.max_counted,
                   last_counted_s=whole.busy_until + whole.last_to_counted - seconds)


def check_local(seconds: float = 20.0, factors: tuple[float, ...] = (0.5, 1.5)) -> None:
    """Calibrate, then per offered rate: measured vs predicted, printed side by side."""
    from election.ops.seed import read_credentials, seed_voters
    from election.ops.target import Target

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with local_stack(tmp) as stack:
            target = Target(plan=stack.plan, provider=stack.provider, endpoints=stack.endpoints,
                            state_dir=tmp / "state")
            need = int(150 * 8 + sum(f * 150 for f in factors) * seconds) + 10
            seed_voters(target, tmp / "v.csv", need)
            voters = read_credentials(tmp / "v.csv")
            mu = calibrate(stack, target, voters[:1200])
            print(f"calibration: the local stack drains a backlog at {mu:.1f} votes/s with the API idle (mu)")
            used = 1200
            for f in factors:
                rate = f * mu
                got, _, _ = measure(stack, target, voters[used:], rate, seconds)
                used += int(rate * seconds)
                want = predict(stack.plan, rate, seconds, mu)
                show(rate, seconds, got, want)


def show(rate: float, seconds: float, got: Figures, want: Figures) -> None:
    print(f"offered {rate:.1f} votes/s for {seconds:.0f} s          measured    model")
    print(f"  accepted/s                             {got.accepted_per_s:8.1f} {want.accepted_per_s:8.1f}")
    print(f"  oldest queued vote (s)                 {got.max_queue_age_s:8.1f} {want.max_queue_age_s:8.1f}")
    print(f"  202 -> counted, worst vote (s)         {got.to_counted_max_s:8.1f} {want.to_counted_max_s:8.1f}")
    print(f"  202 -> counted, median vote (s)        {got.to_counted_p50_s:8.1f}      n/a")
    print(f"  end of schedule -> all counted (s)     {got.last_counted_s:8.1f} {want.last_counted_s:8.1f}")
