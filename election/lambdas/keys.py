"""The plan's queue key, which authenticates vote messages and ballot items (logic.message_tag, ballot_tag).

Read from Secrets Manager on first use and kept for the container's life: one read per
container, not per vote. Only enqueue, forward and process read it (and the operator's audit);
the secret's resource policy says so (election/provision/model.py). Standard library and boto3.
"""

from __future__ import annotations

import threading
from typing import Any

from election.lambdas import logic


class QueueKey:
    """Message and ballot subkeys of the secret `secret_id` (32 random bytes, hex, made by the deployer)."""

    def __init__(self, secrets: Any, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}

    def _get(self, purpose: str) -> bytes:
        with self._lock:
            if not self._keys:
                if not self._secret_id:
                    raise RuntimeError("QUEUE_KEY_SECRET is not set: the deployer sets it on enqueue, forward, process")
                value = self._secrets.get_secret_value(SecretId=self._secret_id)["SecretString"]
                root = bytes.fromhex(value.strip())
                self._keys = {p: logic.subkey(root, p) for p in ("message", "ballot")}
            return self._keys[purpose]

    @property
    def message(self) -> bytes:
        return self._get("message")

    @property
    def ballot(self) -> bytes:
        return self._get("ballot")
