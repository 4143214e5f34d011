"""Resource policies on a secret (PutResourcePolicy) or a queue (its Policy attribute).

Separate from the secret and the queue because a policy names the functions'
roles (which come later) and, for the peppers, must be put only once every
region's copy exists (the deployer copies a pepper by reading it). The policy
lives and dies with its target: deleting the target removes it, so `discover`
finds nothing of its own.
"""

from __future__ import annotations

import json
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.kinds.lookups import has_items


class ResourcePolicy:
    name = "resource_policy"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        target, service = res.props["target"], res.props["service"]
        try:
            if service == "secretsmanager":
                text = ctx.client("secretsmanager", res.region).get_resource_policy(SecretId=target).get(
                    "ResourcePolicy")
            else:
                sqs = ctx.client("sqs", res.region)
                url = sqs.get_queue_url(QueueName=target)["QueueUrl"]
                text = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
        except Exception as exc:
            if u.is_code(exc, "ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
                         "QueueDoesNotExist"):
                if self._retired(ctx, res):   # the ballot pepper destroyed by `close`: nothing left to guard
                    return Actual(props={k: v for k, v in res.props.items() if not k.startswith("_")},
                                  outputs={"target": target, "retired": True})
                return None
            raise
        if not text:
            return None
        return Actual(props={"target": target, "service": service, "policy": json.loads(text)},
                      outputs={"target": target})

    @staticmethod
    def _retired(ctx: Context, res: Resource) -> bool:
        """Same rule as the secret kind: the ballot pepper is gone for good once ballots exist."""
        guard = res.props.get("_guard_tables") or {}
        return any(has_items(ctx.client("dynamodb", region), table) for region, table in guard.items())

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        target, doc = res.props["target"], json.dumps(res.props["policy"])
        if res.props["service"] == "secretsmanager":
            # BlockPublicPolicy: Secrets Manager refuses a policy that would grant broad access.
            ctx.client("secretsmanager", res.region).put_resource_policy(SecretId=target, ResourcePolicy=doc,
                                                                         BlockPublicPolicy=True)
        else:
            sqs = ctx.client("sqs", res.region)
            url = sqs.get_queue_url(QueueName=target)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": doc})
        return {"target": target}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        return self.create(ctx, res)

    def delete(self, ctx: Context, found: Found) -> None:
        """Nothing to do: a policy is deleted with its secret or queue (see the module docstring)."""

    def discover(self, ctx: Context, region: str) -> list[Found]:
        return []
