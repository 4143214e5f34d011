"""GET /receipts/{receipt}: is this ballot recorded, counted, or unknown here?

Reads the ballot (this region's replica) and the home region's tally
checkpoints; never returns the candidate, so a receipt cannot be used to prove
to someone else how one voted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from election.lambdas import common, contract, counting, logic
from election.lambdas.metrics import Metrics

Handler = Callable[[dict, Any], dict]


class Receipt:
    """One region's receipt function."""

    def __init__(self, env: Mapping[str, str], ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = common.load_config(env)
        self.ddb = common.make_client(self.cfg, "dynamodb")
        self.polls = common.PollsCache(self.ddb, self.cfg.results_table)
        # Every voter may check a receipt; one Scan of the checkpoints per region and second
        # serves them all (the same freshness as GET /results).
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._checkpoints: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def __call__(self, event: dict, context: Any = None) -> dict:
        if common.method(event) == "OPTIONS":
            return common.preflight(event, self.cfg, "GET, OPTIONS")
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Route": "GET /receipts/{receipt}"})
        receipt = ((event.get("pathParameters") or {}).get("receipt")
                   or common.path(event).rstrip("/").rsplit("/", 1)[-1]).lower()
        if not contract.RECEIPT_RE.match(receipt):
            resp = common.error(event, self.cfg, 400, "invalid_receipt", "A receipt is 32 hexadecimal characters.")
        else:
            try:
                status = self.status(receipt)
            except Exception as exc:  # noqa: BLE001
                metrics.props["error"] = common.error_code(exc)[:64]
                resp = common.error(event, self.cfg, 503, "unavailable",
                                    "Receipts are temporarily unavailable; please try again.")
            else:
                metrics.add(status.capitalize())
                resp = common.respond(event, self.cfg, 200, {"receipt": receipt, "status": status})
        metrics.add(f"Status{resp['statusCode']}")
        metrics.emit()
        return resp

    def status(self, receipt: str) -> str:
        item = self.ddb.get_item(TableName=self.cfg.ballots_table, Key={contract.BALLOTS_KEY: {"S": receipt}},
                                 ProjectionExpression="#r, #t", ExpressionAttributeNames={"#r": "region", "#t": "t"}
                                 ).get("Item")
        if not item:
            return "unknown"
        ballot = {k: common.plain(v) for k, v in item.items()}
        polls = self.polls.item()
        checkpoints = [] if polls.get("tallied_at") else self.checkpoints(str(ballot.get("region")))
        return counting.receipt_status(ballot, checkpoints, polls)

    def checkpoints(self, region: str) -> list[dict[str, Any]]:
        """The tally checkpoints of one home region, scanned at most once per `ttl` seconds."""
        with self._lock:
            now = self.clock()
            cached = self._checkpoints.get(region)
            if cached and now - cached[0] < self.ttl:
                return cached[1]
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.cfg.results_table, "FilterExpression": "begins_with(#pk, :p)",
            "ExpressionAttributeNames": {"#pk": contract.RESULTS_KEY},
            "ExpressionAttributeValues": {":p": {"S": f"{logic.CHECKPOINT_PREFIX}{region}#"}}}
        while True:
            page = self.ddb.scan(**kwargs)
            found.extend({k: common.plain(v) for k, v in it.items()} for it in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        with self._lock:
            self._checkpoints[region] = (now, found)
        return found


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's receipt handler from its environment."""
    return Receipt(env)


handler = common.LazyHandler(make_handler)
