"""The secrets the handlers read: the two peppers and the queue key, one loader for all three.

Each secret is 32 random bytes, hex, made by the deployer. It is read from Secrets Manager on
first use and kept for the container's life: one read per container, not per vote. Who may read
which is the secrets' resource policies' business (election/provision/resource_policies.py):
the peppers only enqueue; the queue key enqueue, forward and process (and the operator's audit).
Standard library and boto3.
"""

from __future__ import annotations

import threading
from typing import Any

from election.lambdas import contract, logic


class SecretBytes:
    """Hex secrets by id, each fetched from Secrets Manager once; `_cache` is what a new container lacks."""

    def __init__(self, secrets: Any) -> None:
        self._secrets = secrets
        self._lock = threading.Lock()
        self._cache: dict[str, bytes] = {}

    def get(self, secret_id: str, what: str) -> bytes:
        """The secret's bytes; `what` names the environment key for the error when the id is unset."""
        if not secret_id:
            raise RuntimeError(f"{what} is not set: the deployer sets it on the functions that read it")
        with self._lock:
            if secret_id not in self._cache:
                value = self._secrets.get_secret_value(SecretId=secret_id)["SecretString"]
                self._cache[secret_id] = bytes.fromhex(value.strip())
            return self._cache[secret_id]

    def forget(self, secret_id: str) -> None:
        with self._lock:
            self._cache.pop(secret_id, None)


class Peppers(SecretBytes):
    """The voter-roll and ballot peppers (HMAC keys of the voters and ballots tables)."""

    def __init__(self, secrets: Any, voter_secret: str, ballot_secret: str) -> None:
        super().__init__(secrets)
        self._voter_secret = voter_secret
        self._ballot_secret = ballot_secret

    def forget_ballot(self) -> None:
        """Drop the ballot pepper from memory (the polls closed; `close` is about to destroy it)."""
        self.forget(self._ballot_secret)

    @property
    def voter(self) -> bytes:
        return self.get(self._voter_secret, contract.ENV_VOTER_PEPPER_SECRET)

    @property
    def ballot(self) -> bytes:
        return self.get(self._ballot_secret, contract.ENV_BALLOT_PEPPER_SECRET)


class QueueKey(SecretBytes):
    """The queue key's subkeys: one tags vote messages, one ballot items (logic.message_tag, ballot_tag)."""

    def __init__(self, secrets: Any, secret_id: str) -> None:
        super().__init__(secrets)
        self._secret_id = secret_id
        self._subkeys: dict[tuple[bytes, str], bytes] = {}

    def _subkey(self, purpose: str) -> bytes:
        """Derived once per key and purpose (it was an HMAC per vote); the key itself is read through the cache."""
        root = self.get(self._secret_id, contract.ENV_QUEUE_KEY_SECRET)
        sub = self._subkeys.get((root, purpose))
        if sub is None:
            sub = self._subkeys[(root, purpose)] = logic.subkey(root, purpose)
        return sub

    @property
    def message(self) -> bytes:
        return self._subkey("message")

    @property
    def ballot(self) -> bytes:
        return self._subkey("ballot")
