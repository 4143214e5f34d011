"""GET /health: 200 only when this region's three tables and its votes queue answer.

Route 53 health checks (or the local router) call it; a failing dependency makes
it answer 503 naming the check, so traffic fails over to another region.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common
from election.lambdas.metrics import Metrics, MetricsBuffer

Handler = Callable[[dict, Any], dict]

# A health check must answer fast: no long retries.
# Each voting page asks GET /health once before voting, so under load one container answers many
# checks a second: a passing deep check is reused for OK_REUSE_S (3 DescribeTable + 1 SQS request
# each, $0.40 per million for the SQS part alone; bench/pipeline_cost.py). A failing check is never
# reused, so a region going down is reported on the next request as before.
OK_REUSE_S = 1.0
_CONFIG = botocore.config.Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"})


class Health:
    """One region's health function."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.cfg = common.load_config(env)
        session = common.new_session()
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_CONFIG, session=session)
        self.sqs = common.make_client(self.cfg, "sqs", config=_CONFIG, session=session)
        self.clock = time.monotonic
        self.ok_reuse_s = OK_REUSE_S
        self.metrics = MetricsBuffer()   # one line per 10 s per container, not one per check
        self._ok_at: float | None = None
        self._ok: dict[str, str] = {}

    def checks(self) -> dict[str, str]:
        """check name -> "ok" or the AWS error code / table status that failed it."""
        out: dict[str, str] = {}
        for name, table in (("voters_table", self.cfg.voters_table), ("ballots_table", self.cfg.ballots_table),
                            ("results_table", self.cfg.results_table)):
            try:
                status = self.ddb.describe_table(TableName=table)["Table"]["TableStatus"]
                out[name] = "ok" if status in ("ACTIVE", "UPDATING") else status
            except Exception as exc:  # noqa: BLE001
                out[name] = common.error_code(exc)
        try:
            url = self.cfg.votes_queue_urls[self.cfg.region]
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            out["votes_queue"] = "ok"
        except Exception as exc:  # noqa: BLE001
            out["votes_queue"] = common.error_code(exc)
        return out

    def current(self) -> dict[str, str]:
        """checks(), or the last passing result if it is under ok_reuse_s old."""
        now = self.clock()
        if self._ok_at is not None and now - self._ok_at < self.ok_reuse_s:
            return self._ok
        checks = self.checks()
        if all(result == "ok" for result in checks.values()):
            self._ok_at, self._ok = now, checks
        else:
            self._ok_at = None
        return checks

    def __call__(self, event: dict, context: Any = None) -> dict:
        if common.method(event) == "OPTIONS":
            return common.preflight(event, self.cfg, "GET, OPTIONS")
        checks = self.current()
        failed = [name for name, result in checks.items() if result != "ok"]
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Route": "GET /health"})
        if failed:
            metrics.add("Unhealthy")
            what = ", ".join(f.replace("_", " ") for f in failed)
            resp = common.error(event, self.cfg, 503, "unhealthy",
                                f"The {what} check{'s' if len(failed) > 1 else ''} failed in {self.cfg.region}.",
                                region=self.cfg.region, checks=checks)
        else:
            resp = common.respond(event, self.cfg, 200, {"status": "ok", "region": self.cfg.region, "checks": checks})
        metrics.add(f"Status{resp['statusCode']}")
        self.metrics.add(metrics)
        return resp


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's health handler from its environment."""
    return Health(env)


handler = common.LazyHandler(make_handler)
