"""The plan's `roll` section: where `seed-voters --import` writes the hashed roll and `up` imports it from.

    roll:
      import: s3://my-roll-bucket/election-2026/

With it, each region's voters table is made by DynamoDB ImportTable from that S3 location instead of
CreateTable, so the roll never passes through write requests. The parts go under `<prefix>parts/`
(the prefix ImportTable reads: nothing else may live there) and a manifest `<prefix>roll.json` is
written last, so `up` imports only a complete roll (README, "A national roll by import").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")   # S3's "safe characters" for object keys
PARTS = "parts/"
MANIFEST = "roll.json"


@dataclass(frozen=True)
class RollImport:
    """An S3 location: `prefix` is "" or ends with "/"."""

    bucket: str
    prefix: str = ""

    @property
    def parts_prefix(self) -> str:
        return f"{self.prefix}{PARTS}"

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}{MANIFEST}"

    def part_key(self, index: int) -> str:
        return f"{self.parts_prefix}part-{index:05d}.json.gz"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_roll(raw: Any, fail: Callable[[str, str], None]) -> RollImport | None:
    """The `roll` section -> RollImport (None without one); `fail(field, message)` raises the plan error."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        fail("roll", "must be a mapping like {import: s3://bucket/prefix/}")
    unknown = sorted(str(k) for k in raw if k != "import")
    if unknown:
        fail(f"roll.{unknown[0]}", "unknown key (allowed: import)")
    url = raw.get("import")
    if not isinstance(url, str) or not url.startswith("s3://"):
        fail("roll.import", f"must be an S3 location like s3://my-bucket/roll/, not {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not BUCKET_RE.match(bucket) or ".." in bucket:
        fail("roll.import", f"'{bucket}' is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
    if len(prefix) > 512 or not PREFIX_RE.match(prefix) or "//" in prefix:
        fail("roll.import", f"'{prefix}' is not a usable key prefix (letters, digits and !_.*'()/- only)")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return RollImport(bucket=bucket, prefix=prefix)
