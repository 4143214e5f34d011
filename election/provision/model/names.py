"""Every deterministic name of a plan's resources, in one place.

The model names what it builds with these, the kinds find what a plan owns with
them (prefixes and markers), and ops and the local runtime address tables,
queues and secrets with them. Pure: no boto3, no plan parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from election.lambdas import contract

VALIDATION_PREFIX = "acm-validation."   # dns_record name of a certificate's validation CNAME
TABLE_NAMES = ("voters", "ballots", "results")
QUEUES = ("votes", "votes_dlq", "handoff", "handoff_dlq", "tally_failures")
FAILURE_QUEUE = contract.TALLY_FAILURES_QUEUE   # where the tally's stream mapping sends a given-up batch's location


def key(region: str, kind: str, name: str) -> str:
    """The engine's key of a resource (Resource.key): region / kind / name."""
    return f"{region}/{kind}/{name}"


@dataclass(frozen=True)
class Names:
    """Names of one plan's resources; tables, queues and secrets are identical in every region."""

    plan: str

    # --- prefixes and markers discovery relies on -------------------------------------------------

    @property
    def prefix(self) -> str:
        """Every function, table, queue, alarm, role... of the plan starts with it."""
        return f"{self.plan}-"

    @property
    def secret_prefix(self) -> str:
        return f"{self.plan}/"

    @property
    def marker(self) -> str:
        """Starts the description of alarms, hosted zones and CloudFront resources: one listing finds them."""
        return f"[election:{self.plan}]"

    def managed_from(self, region: str) -> str:
        """Global resources (zone, CloudFront) say which plan region manages them; only that one discovers them."""
        return f"{self.marker} managed from {region}"

    # --- data plane ----------------------------------------------------------------------------------

    def table(self, which: str) -> str:
        return f"{self.plan}-{which}"

    def queue(self, which: str) -> str:
        return f"{self.plan}-{which.replace('_', '-')}"

    def secret(self, which: str) -> str:
        return f"{self.plan}/{which}-pepper"

    @property
    def queue_key(self) -> str:
        """The key that tags vote messages and ballots (readable by enqueue, forward, process, the audit)."""
        return f"{self.plan}/queue-key"

    @property
    def alias(self) -> str:
        return f"alias/{self.plan}"

    # --- compute ---------------------------------------------------------------------------------------

    def function(self, role: str) -> str:
        return f"{self.plan}-{role}"

    def role(self, role: str, region: str) -> str:
        return f"{self.plan}-{role}-{region}"

    def log_group(self, role: str) -> str:
        return f"/aws/lambda/{self.function(role)}"

    @property
    def log_group_prefix(self) -> str:
        return f"/aws/lambda/{self.plan}-"

    def esm(self, role: str) -> str:
        return f"{self.plan}-{role}-{contract.event_sources()[role]}"   # the queue or table it reads

    # --- API, site, domain, monitoring -----------------------------------------------------------------

    @property
    def api(self) -> str:
        return self.plan

    def integration(self, role: str) -> str:
        return f"{self.plan}-{role}"

    def permission(self, role: str) -> str:
        return f"{self.plan}-{role}-apigw"

    def route(self, route_key: str) -> str:
        """'POST /votes' -> '<plan>-post-votes': resource names may not hold spaces, slashes or braces."""
        return f"{self.plan}-" + "-".join(p for p in re.split(r"[^a-z0-9]+", route_key.lower()) if p)

    def stage(self, stage: str) -> str:
        return f"{self.plan}-{stage.lstrip('$')}"

    @property
    def site(self) -> str:
        """The voting page's bucket (before the account suffix), OAC, headers policy and distribution."""
        return f"{self.plan}-site"

    site_distribution = site

    def bucket(self, account_id: str) -> str:
        """`<plan>-site-<account>`: bucket names are global, the account id keeps them unique."""
        return f"{self.site}-{account_id}"

    def health_check(self, region: str) -> str:
        return f"{self.plan}-{region}"

    def health_check_reference_prefix(self, region: str) -> str:
        return f"{self.plan}-{region}/"

    @property
    def topic(self) -> str:
        """The region's alerts topic (SNS names are per region, like queues)."""
        return f"{self.plan}-alerts"

    def alarm(self, what: str) -> str:
        return f"{self.plan}-{what}"

    @property
    def dashboard(self) -> str:
        return self.plan

    @property
    def metrics_namespace(self) -> str:
        """The handlers' embedded metrics (contract.ENV_METRICS_NAMESPACE)."""
        return f"Election/{self.plan}"

    # --- what ops address by purpose --------------------------------------------------------------------

    @property
    def voters(self) -> str:
        return self.table("voters")

    @property
    def ballots(self) -> str:
        return self.table("ballots")

    @property
    def results(self) -> str:
        return self.table("results")

    @property
    def votes_queue(self) -> str:
        return self.queue("votes")

    @property
    def votes_dlq(self) -> str:
        return self.queue("votes_dlq")

    @property
    def handoff_queue(self) -> str:
        return self.queue("handoff")

    @property
    def handoff_dlq(self) -> str:
        return self.queue("handoff_dlq")

    @property
    def tally_failures(self) -> str:
        """Where the tally's stream mapping reports batches it gave up on (their location, not the ballots)."""
        return self.queue("tally_failures")

    @property
    def voter_pepper(self) -> str:
        return self.secret("voter")

    @property
    def ballot_pepper(self) -> str:
        return self.secret("ballot")

    @property
    def work_queues(self) -> tuple[str, str]:
        """Queues whose messages are votes still on their way to a ballot."""
        return (self.votes_queue, self.handoff_queue)

    @property
    def dead_letter_queues(self) -> dict[str, str]:
        """Dead-letter queue -> the queue its messages are redriven to."""
        return {self.votes_dlq: self.votes_queue, self.handoff_dlq: self.handoff_queue}
