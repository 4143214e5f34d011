"""GET /results and GET /results?state=XX: the counter items of every region, summed.

The results table is small (one item per state and region, plus checkpoints), so
a Scan is cheap; the answer is kept for one second per container and may be
cached by browsers and CDNs for five.

Publication: turnout (totals) is always public; the breakdown by candidate only once
the polls are closed and the final tally is done (`tallied_at` on the polls item), or
while voting when the plan says `results.live: true` (counting.publish; docs/api.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from election.lambdas import common, contract, counting
from election.lambdas.metrics import Metrics

Handler = Callable[[dict, Any], dict]

CACHE_CONTROL = "public, max-age=5"


class Results:
    """One region's results function."""

    def __init__(self, env: Mapping[str, str], ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = common.load_config(env)
        self.ddb = common.make_client(self.cfg, "dynamodb")
        self.live = (env.get(contract.ENV_RESULTS_LIVE) or "").lower() == "true"
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    def __call__(self, event: dict, context: Any = None) -> dict:
        if common.method(event) == "OPTIONS":
            return common.preflight(event, self.cfg, "GET, OPTIONS")
        if common.route(event) != "GET /results":   # this function also serves the API's $default route
            return common.unrouted(event, self.cfg)
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Route": "GET /results"})
        query = event.get("queryStringParameters") or {}
        state = query.get("state")
        if state is not None and state.upper() not in contract.STATES:
            resp = common.error(event, self.cfg, 400, "unknown_state",
                                "The state must be a US state or DC postal code such as CA.")
        else:
            try:
                totals = self.totals()
            except Exception as exc:  # noqa: BLE001
                metrics.props["error"] = common.error_code(exc)[:64]
                resp = common.error(event, self.cfg, 503, "unavailable",
                                    "The results are temporarily unavailable; please try again.")
            else:
                body = totals if state is None else {
                    "updated_at": totals["updated_at"], "final": totals["final"], "live": totals["live"],
                    "state": state.upper(), **totals["states"][state.upper()]}
                resp = common.respond(event, self.cfg, 200, body, cache=CACHE_CONTROL)
        metrics.add(f"Status{resp['statusCode']}")
        metrics.emit()
        return resp

    def totals(self) -> dict[str, Any]:
        """The public results (counting.publish), from a Scan at most once per `ttl` seconds."""
        with self._lock:
            now = self.clock()
            if self._cached and now - self._cached[0] < self.ttl:
                return self._cached[1]
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.cfg.results_table}
        while True:
            page = self.ddb.scan(**kwargs)
            items.extend({k: common.plain(v) for k, v in it.items()} for it in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        ballots = {s: self.cfg.ballot.for_state(s) for s in contract.STATES}
        summed = counting.aggregate_results(items, ballots, self.cfg.ballot.all_candidates())
        if summed["updated_at"] is None:
            summed["updated_at"] = common.now_iso()
        totals = counting.publish(summed, counting.polls_of(items), self.live)
        with self._lock:
            self._cached = (now, totals)
        return totals


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's results handler from its environment."""
    return Results(env)


handler = common.LazyHandler(make_handler)
