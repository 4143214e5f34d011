"""SQS queues: SSE-KMS with the region's key, long retention, redrive to the dead-letter queue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import urlparse

from election.provision.clients import is_loopback
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

DATA_KEY_REUSE_S = 300
MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


class Queue:
    name = "queue"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        sqs = ctx.client("sqs", res.region)
        listed = _plan_queues(ctx, res.region)
        url = listed[res.name] if res.name in listed else _url(sqs, res.name)
        if url is None:
            return None
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else None
        if redrive is not None:
            redrive = {"deadLetterTargetArn": redrive.get("deadLetterTargetArn"),
                       "maxReceiveCount": int(redrive.get("maxReceiveCount", 0))}
        tags = u.tags_of(ctx, res.region, attrs["QueueArn"], partial(_queue_tags, sqs, url))
        props = {"kms_key": attrs.get("KmsMasterKeyId"),
                 "retention_s": int(attrs.get("MessageRetentionPeriod", 0)),
                 "visibility_timeout_s": int(attrs.get("VisibilityTimeout", 0)),
                 "redrive": redrive, "tags": tags}
        return Actual(props=props, outputs={"url": url, "arn": attrs["QueueArn"], "name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        sqs = ctx.client("sqs", res.region)
        attrs = {k: v for c in _attribute_changes(res.props) for k, v in c.items()}
        attrs["KmsDataKeyReusePeriodSeconds"] = str(DATA_KEY_REUSE_S)
        # AWS refuses a name for 60 s after the queue was deleted; an `up` right after `down` waits it out.
        url = u.retry(lambda: sqs.create_queue(QueueName=res.name, Attributes=attrs, tags=dict(res.tags))["QueueUrl"],
                    ctx, ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently"), attempts=6,
                    first_delay=10.0)
        url = canonical_url(url, res.region)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"url": url, "arn": arn, "name": res.name}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        sqs = ctx.client("sqs", res.region)
        url = actual.outputs["url"]
        attrs: dict[str, str] = {}
        for c in changes:
            if c.field == "tags":
                add, remove = u.tag_delta(c.old, c.new)
                if add:
                    sqs.tag_queue(QueueUrl=url, Tags=add)
                if remove:
                    sqs.untag_queue(QueueUrl=url, TagKeys=remove)
            else:
                for attr in _attribute_changes({c.field: c.new}):
                    attrs.update(attr)
        if attrs:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        sqs = ctx.client("sqs", found.region)
        url = _url(sqs, found.name)
        if url is not None:
            sqs.delete_queue(QueueUrl=url)

    def discover(self, ctx: Context, region: str) -> list[Found]:
        sqs = ctx.client("sqs", region)
        out = []
        for name, url in _plan_queues(ctx, region).items():
            arn = f"arn:{ctx.partition}:sqs:{region}:{ctx.account_id}:{name}"
            try:
                tags = u.tags_of(ctx, region, arn, partial(_queue_tags, sqs, url))
            except Exception as exc:
                if u.is_code(exc, *MISSING):
                    continue
                raise
            if u.ours(tags, ctx):
                out.append(Found(self.name, region, url.rstrip("/").rsplit("/", 1)[-1], {"url": url}))
        return out


def _plan_queues(ctx: Context, region: str) -> dict[str, str]:
    """Queue name -> URL (as AWS spells it) of the plan's queues in a region: one ListQueues per run."""
    def fetch() -> dict[str, str]:
        urls = u.paginate(ctx.client("sqs", region), "list_queues", "QueueUrls", QueueNamePrefix=Names(ctx.plan_name).prefix)
        return {url.rstrip("/").rsplit("/", 1)[-1]: canonical_url(url, region) for url in urls}
    return u.memo(ctx, ("queues", region), fetch)


def _attribute_changes(props: Mapping[str, Any]) -> list[dict[str, str]]:
    """Plan fields -> SQS attribute strings (only the fields given)."""
    out: list[dict[str, str]] = []
    if "kms_key" in props:
        out.append({"KmsMasterKeyId": props["kms_key"]})
    if "retention_s" in props:
        out.append({"MessageRetentionPeriod": str(props["retention_s"])})
    if "visibility_timeout_s" in props:
        out.append({"VisibilityTimeout": str(props["visibility_timeout_s"])})
    if "redrive" in props:
        r = props["redrive"]
        out.append({"RedrivePolicy": json.dumps(r) if r else ""})
    return out


def _url(sqs: Any, name: str) -> str | None:
    try:
        return canonical_url(sqs.get_queue_url(QueueName=name)["QueueUrl"], sqs.meta.region_name)
    except Exception as exc:
        if u.is_code(exc, *MISSING):
            return None
        raise


def canonical_url(url: str, region: str) -> str:
    """The queue URL as AWS spells it, also when a moto server answered with its own loopback host.

    Queue URLs end up in the Lambda environment; a moto server names itself
    (http://127.0.0.1:PORT/...) while moto in-process and AWS say
    https://sqs.REGION.amazonaws.com/..., so the same stack read back through
    either would otherwise never diff clean. SQS clients send to their own
    endpoint and take the queue from the URL's path, so both forms reach the queue.
    """
    if not is_loopback(url):
        return url
    return f"https://sqs.{region}.amazonaws.com{urlparse(url).path}"


def _queue_tags(sqs: Any, url: str) -> dict[str, str]:
    return sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
