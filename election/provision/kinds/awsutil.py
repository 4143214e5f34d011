"""Small helpers the core kinds share: error codes, tag shapes, bounded waits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.provision.kinds.base import TAG_PLAN, Context


def code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def is_code(exc: BaseException, *codes: str) -> bool:
    return isinstance(exc, ClientError) and code(exc) in codes


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


def wait_until(ctx: Context, check: Callable[[], bool], what: str, attempts: int = 40,
               first_delay: float = 1.0, max_delay: float = 15.0) -> None:
    """Poll `check` with exponential backoff through ctx.sleep; give up with one sentence."""
    delay = first_delay
    for _ in range(attempts):
        if check():
            return
        ctx.sleep(delay)
        delay = min(delay * 1.6, max_delay)
    raise ElectionError(f"Gave up waiting for {what}; run `election up` again to resume.")


def paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out.extend(page.get(key, []))
    return out
