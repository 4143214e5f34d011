"""Deterministic resource names the deployer gives every region's copy (so ops need no state file)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Names:
    """Names of a plan's tables, queues and secrets; identical in every region."""

    plan: str

    @property
    def voters(self) -> str:
        return f"{self.plan}-voters"

    @property
    def ballots(self) -> str:
        return f"{self.plan}-ballots"

    @property
    def results(self) -> str:
        return f"{self.plan}-results"

    @property
    def votes_queue(self) -> str:
        return f"{self.plan}-votes"

    @property
    def votes_dlq(self) -> str:
        return f"{self.plan}-votes-dlq"

    @property
    def handoff_queue(self) -> str:
        return f"{self.plan}-handoff"

    @property
    def handoff_dlq(self) -> str:
        return f"{self.plan}-handoff-dlq"

    @property
    def tally_failures(self) -> str:
        """Where the tally's stream mapping reports batches it gave up on (their location, not the ballots)."""
        return f"{self.plan}-tally-failures"

    @property
    def voter_pepper(self) -> str:
        return f"{self.plan}/voter-pepper"

    @property
    def ballot_pepper(self) -> str:
        return f"{self.plan}/ballot-pepper"

    @property
    def queue_key(self) -> str:
        """The key that tags vote messages and ballot items (the audit verifies ballots with it)."""
        return f"{self.plan}/queue-key"

    @property
    def work_queues(self) -> tuple[str, str]:
        """Queues whose messages are votes still on their way to a ballot."""
        return (self.votes_queue, self.handoff_queue)

    @property
    def dead_letter_queues(self) -> dict[str, str]:
        """Dead-letter queue -> the queue its messages are redriven to."""
        return {self.votes_dlq: self.votes_queue, self.handoff_dlq: self.handoff_queue}
