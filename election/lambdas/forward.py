"""Hand-off queue -> the home region's votes queue, so a vote accepted while its home was
unreachable is never dropped.

Messages are sent on in batches per home region; each message that could not be
sent is reported in the partial batch response, so SQS retries it later (and
dead-letters it after the configured receives, where `election dlq` shows it).
Forwarding the same message twice is harmless: the process handler recognises
the nonce.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common, logic

Handler = Callable[[dict, Any], dict]

_CONFIG = botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 4, "mode": "standard"})


class Forward:
    """One region's forward function."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.cfg = common.load_config(env)
        session = common.new_session()
        self.sqs = {r: common.make_client(self.cfg, "sqs", r, config=_CONFIG, session=session)
                    for r in self.cfg.votes_queue_urls}

    def __call__(self, event: dict, context: Any = None) -> dict:
        metrics = common.Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Function": "forward"})
        failures: list[str] = []
        by_home: dict[str, list[tuple[str, str]]] = {}
        for record in event.get("Records", []):
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
            by_home.setdefault(vote.region, []).append((mid, body))
        for home, messages in by_home.items():
            failed = self._send(home, messages)
            failures.extend(failed)
            metrics.add("Forwarded", len(messages) - len(failed))
            metrics.add("Failed", len(failed))
        metrics.emit()
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

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
