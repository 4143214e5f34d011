"""Small helpers every kind shares: error codes, "already gone is fine", paging, tag shapes, the one retry
helper, bounded waits, CloudFront's ETag get-then-act."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from botocore.exceptions import ClientError, WaiterError

from election.errors import ElectionError
from election.provision.kinds.base import TAG_PLAN, Context

T = TypeVar("T")


def code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def is_code(exc: BaseException, *codes: str) -> bool:
    return isinstance(exc, ClientError) and code(exc) in codes


@contextmanager
def gone_ok(*codes: str) -> Iterator[None]:
    """Run a block in which an AWS error with one of `codes` means "already gone": deleting what a teardown
    (or another step) deleted first is not an error, so `down` can be run again."""
    try:
        yield
    except ClientError as exc:
        if code(exc) not in codes:
            raise


def known(*values: Any) -> bool:
    """False while a referenced output is not known yet (the engine's plan of a fresh deploy)."""
    return all(isinstance(v, str) and v for v in values)


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags as the plan sees them (AWS-reserved aws:* tags dropped)."""
    return {k: v for k, v in tags.items() if not k.startswith("aws:")}


def tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def from_tag_list(items: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return user_tags({t[key]: t[value] for t in items or []})


def tag_delta(old: Mapping[str, str] | None, new: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(tags to set, tag keys to remove) to turn `old` into `new`."""
    old = old or {}
    return ({k: v for k, v in new.items() if old.get(k) != v}, [k for k in old if k not in new])


def ours(tags: Mapping[str, str], ctx: Context) -> bool:
    return tags.get(TAG_PLAN) == ctx.plan_name


Predicate = Callable[[BaseException], bool]


def codes(*names: str, message: str = "") -> Predicate:
    """A retry predicate: an AWS error with one of these codes (and, if given, this text in its message)."""
    def match(exc: BaseException) -> bool:
        if not is_code(exc, *names):
            return False
        return not message or message.lower() in str(exc.response.get("Error", {}).get("Message", "")).lower()  # type: ignore[attr-defined]
    return match


def any_of(*predicates: Predicate) -> Predicate:
    return lambda exc: any(p(exc) for p in predicates)


# The transient errors AWS documents for the calls the deployer makes; each is retried where it can occur.
# apigatewayv2: "ConflictException: the requested operation would cause a conflict with the current state
# of a service resource ... Resolve the conflict before retrying" (one HTTP API written by parallel steps).
CONCURRENT_API_WRITE = codes("ConflictException", "TooManyRequestsException")
# DynamoDB UpdateContinuousBackups: "ContinuousBackupsUnavailableException: backups have not yet been
# enabled for this table" (right after the table turned ACTIVE).
PITR_NOT_READY = codes("ContinuousBackupsUnavailableException")
# KMS is eventually consistent: "you might get NotFoundException or InvalidStateException" for a while after
# CreateKey (KMS developer guide, eventual consistency). Services using a new key report it their way:
# CloudWatch Logs InvalidParameterException ("the KMS key does not exist or is disabled"), Secrets Manager
# EncryptionFailure ("check that the KMS key is available, enabled, and not in an invalid state").
KEY_NOT_READY = codes("NotFoundException", "KMSInvalidStateException", "KeyUnavailableException")
LOGS_KEY_NOT_READY = codes("InvalidParameterException", message="kms")
SECRET_KEY_NOT_READY = codes("EncryptionFailure")
# IAM is eventually consistent: Lambda refuses a role it cannot assume yet (InvalidParameterValueException
# "The role defined for the function cannot be assumed by Lambda"); only that message is transient.
ROLE_NOT_ASSUMABLE = codes("InvalidParameterValueException", message="cannot be assumed")
# Lambda: "ResourceConflictException: The operation cannot be performed at this time. An update is in
# progress for resource" (LastUpdateStatus InProgress); the function_updated waiter waits that out first.
FUNCTION_BUSY = codes("ResourceConflictException", "TooManyRequestsException")
# Secrets Manager deletes asynchronously, even ForceDeleteWithoutRecovery: "If you delete a secret and then
# immediately create a secret with the same name, use appropriate back off and retry logic."
SECRET_NAME_NOT_FREE = codes("InvalidRequestException")


def backoff(first_delay: float, max_delay: float, factor: float = 2.0) -> Iterator[float]:
    """Delays first_delay, first_delay*factor, ... capped at max_delay."""
    delay = first_delay
    while True:
        yield delay
        delay = min(delay * factor, max_delay)


def retry(fn: Callable[[], T], ctx: Context, when: Predicate | tuple[str, ...], attempts: int = 8,
          first_delay: float = 1.0, max_delay: float = 20.0) -> T:
    """Call fn; while it fails with an error `when` accepts, sleep (ctx.sleep, exponential backoff) and call again.

    The one retry loop of the deployer: `when` is a predicate (see the documented transients above) or a
    tuple of error codes. The last failure is raised as it came.
    """
    accept = codes(*when) if isinstance(when, tuple) else when
    delays = backoff(first_delay, max_delay)
    for attempt in range(attempts):
        try:
            return fn()
        except ClientError as exc:
            if attempt == attempts - 1 or not accept(exc):
                raise
            ctx.sleep(next(delays))
    raise AssertionError("unreachable")


def wait_until(ctx: Context, check: Callable[[], bool], what: str, attempts: int = 40,
               first_delay: float = 1.0, max_delay: float = 15.0, bound_s: float | None = None) -> None:
    """Poll `check` with exponential backoff through ctx.sleep; give up with one sentence.

    Bounded by `attempts`, or by `bound_s` seconds of sleeping when given (for waits of hours).
    """
    delays = backoff(first_delay, max_delay, 1.6)
    waited, attempt = 0.0, 0
    while True:
        if check():
            return
        attempt += 1
        if (waited >= bound_s) if bound_s is not None else (attempt >= attempts):
            raise ElectionError(f"Gave up waiting for {what}; run `election up` again to resume.")
        delay = next(delays)
        ctx.sleep(delay)
        waited += delay


def wait_for(ctx: Context, client: Any, waiter: str, what: str, attempts: int = 40, first_delay: float = 1.0,
             max_delay: float = 15.0, **params: Any) -> None:
    """Wait with one of AWS's own waiters (its acceptors), polled through ctx.sleep and wait_until's bound.

    Each poll is the waiter with MaxAttempts 1: success ends the wait, a terminal failure state raises
    one sentence, anything else is polled again.
    """
    aws_waiter = client.get_waiter(waiter)

    def done() -> bool:
        try:
            aws_waiter.wait(WaiterConfig={"Delay": 0, "MaxAttempts": 1}, **params)
        except WaiterError as exc:
            if "terminal failure" in str(exc):
                last = exc.last_response or {}
                reason = next((v for k, v in _flat(last) if k.endswith("Reason") and v), last)
                raise ElectionError(f"AWS reports a failure while waiting for {what}: {reason}.") from exc
            return False
        return True

    wait_until(ctx, done, what, attempts=attempts, first_delay=first_delay, max_delay=max_delay)


def _flat(d: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for k, v in d.items():
        if isinstance(v, Mapping):
            yield from _flat(v)
        else:
            yield k, v


def memo(ctx: Context, key: Any, fetch: Callable[[], T]) -> T:
    """ctx.memo when the context keeps one per run (the engine's), else just fetch (a test's stub context)."""
    keep = getattr(ctx, "memo", None)
    return keep(key, fetch) if keep is not None else fetch()


def plan_tags(ctx: Context, region: str) -> dict[str, dict[str, str]] | None:
    """ARN -> tags of everything tagged for the plan in a region, from the Resource Groups Tagging API.

    One GetResources per 100 resources instead of one tag read per resource. None when the API cannot
    be used (no tag:GetResources permission): callers then read each resource's tags themselves.
    The tagging API covers DynamoDB, SQS, KMS, CloudWatch Logs, Lambda, Secrets Manager, CloudWatch,
    SNS, S3, CloudFront and ACM (moto 5.2.5 too; not API Gateway v2, IAM or Route 53 in moto).
    """
    def fetch() -> dict[str, dict[str, str]] | None:
        try:
            pages = ctx.client("resourcegroupstaggingapi", region).get_paginator("get_resources").paginate(
                TagFilters=[{"Key": TAG_PLAN, "Values": [ctx.plan_name]}], ResourcesPerPage=100)
            return {r["ResourceARN"]: from_tag_list(r.get("Tags")) for page in pages
                    for r in page.get("ResourceTagMappingList", [])}
        except ClientError:
            return None
    return memo(ctx, ("tags", region), fetch)


def tags_of(ctx: Context, region: str, arn: str, read: Callable[[], Mapping[str, str]]) -> dict[str, str]:
    """A resource's tags: from the plan's tag listing when it lists the ARN, else `read` (its own tag call)."""
    listed = plan_tags(ctx, region)
    if listed is not None and arn in listed:
        return dict(listed[arn])
    return user_tags(read())


def paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a list call that botocore can paginate."""
    out: list[Any] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out.extend(page.get(key, []))
    return out


def token_pages(call: Callable[..., Any], key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Items of a list call following NextToken by hand (apigatewayv2 has no paginators)."""
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def marker_pages(call: Callable[..., Any], listing: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Items of a CloudFront list call without a paginator (origin access controls, response headers
    policies): the list sits under `listing`, the next page starts at its NextMarker."""
    marker = None
    while True:
        page = call(**kwargs, **({"Marker": marker} if marker else {})).get(listing, {})
        yield from page.get("Items", []) or []
        marker = page.get("NextMarker")
        if not marker:
            return


def if_match(get: Callable[..., Any], act: Callable[..., Any], resource_id: str, **kwargs: Any) -> Any:
    """CloudFront's optimistic locking: read the resource's current ETag, then update or delete it with
    IfMatch (a stale ETag is refused with PreconditionFailed, so the read comes right before the write)."""
    etag = get(Id=resource_id)["ETag"]
    return act(Id=resource_id, IfMatch=etag, **kwargs)
