"""Hand-off queue -> the home region's votes queue, so a vote accepted while its home was
unreachable is never dropped.

Messages are sent on in batches per home region; each message that could not be
sent is reported in the partial batch response, so SQS retries it later (and
dead-letters it after the configured receives, where `election dlq` shows it).
Forwarding the same message twice is harmless: the process handler recognises
the nonce. A message whose tag does not verify is not forwarded (metric
`Refused`; it ends in this region's hand-off dead-letter queue), and once the
election is final (`close` recorded the final tally) nothing is forwarded
(metric `RefusedFinal`): the messages stay in the hand-off queue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common, contract, counting, keys, logic
from election.lambdas.metrics import Metrics

Handler = Callable[[dict, Any], dict]

_CONFIG = botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})


class Forward:
    """One region's forward function."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.cfg = common.load_config(env)
        session = common.new_session()
        self.sqs = {r: common.make_client(self.cfg, "sqs", r, config=_CONFIG, session=session)
                    for r in self.cfg.votes_queue_urls}
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_CONFIG, session=session)
        self.key = keys.QueueKey(common.make_client(self.cfg, "secretsmanager", session=session),
                                 env.get(contract.ENV_QUEUE_KEY_SECRET, ""))

    def __call__(self, event: dict, context: Any = None) -> dict:
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Function": "forward"})
        failures: list[str] = []
        by_home: dict[str, list[tuple[str, str]]] = {}
        records = event.get("Records", [])
        try:
            final = self.final()
            message_key = self.key.message
        except Exception as exc:  # noqa: BLE001 - retry the whole batch later
            metrics.add("Failed", len(records))
            metrics.props["error"] = common.error_code(exc)[:64]
            final, message_key = True, b""
        else:
            if final:
                metrics.add("RefusedFinal", len(records))
                metrics.props["refused"] = (f"The election is final (closed and tallied): {len(records)} "
                                            "vote(s) not forwarded, left in the hand-off queue.")
        if final:
            metrics.emit()
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
        for record in records:
            mid, body = record["messageId"], record.get("body", "")
            try:
                vote = logic.parse_vote(body)
            except ValueError:
                failures.append(mid)   # unreadable: fail it so it ends in the dead-letter queue, visibly
                metrics.add("Poisoned")
                continue
            if vote.region not in self.sqs:
                failures.append(mid)
                metrics.add("Poisoned")
                continue
            if not vote.authentic(message_key):
                failures.append(mid)
                metrics.add("Refused")
                metrics.props.setdefault("refused", "Refused a hand-off message: the message tag does not verify.")
                continue
            by_home.setdefault(vote.region, []).append((mid, body))
        for home, messages in by_home.items():
            failed = self._send(home, messages)
            failures.extend(failed)
            metrics.add("Forwarded", len(messages) - len(failed))
            metrics.add("Failed", len(failed))
        metrics.emit()
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    def final(self) -> bool:
        """Whether `close` has recorded the final tally (one consistent read per batch)."""
        item = self.ddb.get_item(TableName=self.cfg.results_table, ConsistentRead=True,
                                 Key={contract.RESULTS_KEY: {"S": contract.POLLS_ITEM}}).get("Item") or {}
        return counting.is_final({k: common.plain(v) for k, v in item.items()})

    def _send(self, home: str, messages: list[tuple[str, str]]) -> list[str]:
        """Message ids that were not stored in `home`'s votes queue."""
        failed: list[str] = []
        for i in range(0, len(messages), 10):
            part = messages[i:i + 10]
            entries = [{"Id": str(n), "MessageBody": body} for n, (_, body) in enumerate(part)]
            try:
                resp = self.sqs[home].send_message_batch(QueueUrl=self.cfg.votes_queue_urls[home], Entries=entries)
            except Exception:  # noqa: BLE001 - the whole call failed: every message of it is retried
                failed.extend(mid for mid, _ in part)
                continue
            failed.extend(part[int(f["Id"])][0] for f in resp.get("Failed", []))
        return failed


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's forward handler from its environment."""
    return Forward(env)


handler = common.LazyHandler(make_handler)
