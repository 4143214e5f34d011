"""SNS alert topics (one per region, KMS-encrypted) and their email subscriptions from `alerts.email`.

The topic's ARN follows from its name, region and account, so a read is
GetTopicAttributes plus one ListSubscriptionsByTopic (tags are set at create
and only read when discovering). An email subscription stays "PendingConfirmation"
until its owner clicks the link AWS mails; a pending subscription has no ARN, so
it cannot be unsubscribed (AWS drops unconfirmed ones after three days) — only
confirmed ones are removed when an address leaves the plan.
(https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html, API_Unsubscribe.html)
"""

from __future__ import annotations

from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

MISSING = ("NotFound", "NotFoundException")


class Topic:
    name = "sns_topic"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        sns = ctx.client("sns", res.region)
        arn = topic_arn(ctx, res.region, res.name)
        try:
            attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        except Exception as exc:
            if u.is_code(exc, *MISSING):
                return None
            raise
        props = {"kms_key": attrs.get("KmsMasterKeyId"), "emails": sorted(_emails(sns, arn))}
        return Actual(props=props, outputs={"arn": arn, "name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        sns = ctx.client("sns", res.region)
        arn = sns.create_topic(Name=res.name, Attributes={"KmsMasterKeyId": res.props["kms_key"]},
                               Tags=u.tag_list(res.tags))["TopicArn"]
        for email in res.props["emails"]:
            sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
        return {"arn": arn, "name": res.name}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        sns = ctx.client("sns", res.region)
        arn = actual.outputs["arn"]
        fields = {c.field: c.new for c in changes}
        if "kms_key" in fields:
            sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=fields["kms_key"])
        if "emails" in fields:
            wanted = set(fields["emails"])
            current = _emails(sns, arn)
            for email in sorted(wanted - set(current)):
                sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
            for email, sub_arn in sorted(current.items()):
                if email not in wanted and sub_arn.startswith("arn:"):
                    sns.unsubscribe(SubscriptionArn=sub_arn)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        arn = found.outputs.get("arn") or topic_arn(ctx, found.region, found.name)
        ctx.client("sns", found.region).delete_topic(TopicArn=arn)   # its subscriptions go with it

    def discover(self, ctx: Context, region: str) -> list[Found]:
        sns = ctx.client("sns", region)
        out = []
        for t in u.paginate(sns, "list_topics", "Topics"):
            arn = t["TopicArn"]
            name = arn.rsplit(":", 1)[-1]
            if not name.startswith(Names(ctx.plan_name).prefix):
                continue
            try:
                tags = u.from_tag_list(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))
            except Exception as exc:
                if u.is_code(exc, *MISSING, "ResourceNotFound"):
                    continue
                raise
            if u.ours(tags, ctx):
                out.append(Found(self.name, region, name, {"arn": arn, "name": name}))
        return out


def topic_arn(ctx: Context, region: str, name: str) -> str:
    return f"arn:{ctx.partition}:sns:{region}:{ctx.account_id}:{name}"


def _emails(sns: Any, arn: str) -> dict[str, str]:
    """Email endpoint -> subscription ARN ("PendingConfirmation" until confirmed)."""
    subs = u.paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=arn)
    return {s["Endpoint"]: s.get("SubscriptionArn", "") for s in subs if s.get("Protocol") == "email"}
