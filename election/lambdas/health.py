"""GET /health: 200 only when this region's three tables and its votes queue answer.

Route 53 health checks (or the local router) call it; a failing dependency makes
it answer 503 naming the check, so traffic fails over to another region.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common

Handler = Callable[[dict, Any], dict]

# A health check must answer fast: no long retries.
_CONFIG = botocore.config.Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"})


class Health:
    """One region's health function."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.cfg = common.load_config(env)
        session = common.new_session()
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_CONFIG, session=session)
        self.sqs = common.make_client(self.cfg, "sqs", config=_CONFIG, session=session)

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

    def __call__(self, event: dict, context: Any = None) -> dict:
        if common.method(event) == "OPTIONS":
            return common.preflight(event, self.cfg, "GET, OPTIONS")
        checks = self.checks()
        failed = [name for name, result in checks.items() if result != "ok"]
        metrics = common.Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Route": "GET /health"})
        if failed:
            metrics.add("Unhealthy")
            what = ", ".join(f.replace("_", " ") for f in failed)
            resp = common.error(event, self.cfg, 503, "unhealthy",
                                f"The {what} check{'s' if len(failed) > 1 else ''} failed in {self.cfg.region}.",
                                region=self.cfg.region, checks=checks)
        else:
            resp = common.respond(event, self.cfg, 200, {"status": "ok", "region": self.cfg.region, "checks": checks})
        metrics.add(f"Status{resp['statusCode']}")
        metrics.emit()
        return resp


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's health handler from its environment."""
    return Health(env)


handler = common.LazyHandler(make_handler)
