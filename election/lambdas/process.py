"""Votes queue -> one conditional PutItem per ballot, with a partial batch response.

The ballot key is new -> recorded. It exists -> the stored nonce tells a
redelivery of this very message (acknowledge) from a second vote by the same
voter (acknowledge, count as a rejected duplicate). Any other failure is
reported for that message only, so SQS retries it and finally dead-letters it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common, contract, logic

Handler = Callable[[dict, Any], dict]

_CONFIG = botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})


class Process:
    """One region's process function."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.cfg = common.load_config(env)
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_CONFIG)

    def __call__(self, event: dict, context: Any = None) -> dict:
        metrics = common.Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Function": "process"})
        failures = []
        for record in event.get("Records", []):
            outcome = self.apply(record.get("body", ""))
            metrics.add(outcome)
            if outcome in ("Failed", "Poisoned"):
                failures.append({"itemIdentifier": record["messageId"]})
        metrics.emit()
        return {"batchItemFailures": failures}

    def apply(self, body: str) -> str:
        """Write one ballot; the outcome name is also the metric name."""
        try:
            vote = logic.parse_vote(body)
        except ValueError:
            return "Poisoned"
        if vote.region != self.cfg.region:
            # Only the home region writes a ballot: two regions writing one key would race.
            return "Poisoned"
        try:
            self.ddb.put_item(TableName=self.cfg.ballots_table, Item=vote.item(),
                              ConditionExpression="attribute_not_exists(#k)",
                              ExpressionAttributeNames={"#k": contract.BALLOTS_KEY},
                              ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return "Recorded"
        except self.ddb.exceptions.ConditionalCheckFailedException as exc:
            existing = exc.response.get("Item") or self._read(vote.bk)
        except Exception:  # noqa: BLE001 - throttling, timeouts...: retry this message only
            return "Failed"
        if existing is None:
            return "Failed"   # vanished between put and read: let SQS retry
        return "Redelivered" if existing.get("nonce", {}).get("S") == vote.nonce else "Duplicates"

    def _read(self, bk: str) -> dict | None:
        try:
            resp = self.ddb.get_item(TableName=self.cfg.ballots_table, Key={contract.BALLOTS_KEY: {"S": bk}},
                                     ConsistentRead=True)
        except Exception:  # noqa: BLE001
            return None
        return resp.get("Item")


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's process handler from its environment."""
    return Process(env)


handler = common.LazyHandler(make_handler)
