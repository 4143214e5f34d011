"""seed-voters --import: the hashed roll as gzip DynamoDB JSON parts in S3, for `up` to import (ImportTable).

The parts hold exactly the items BatchWriteItem seeding writes (the keyed hash `vk` and the state;
never a voter ID), one `{"Item": ...}` per line, DYNAMODB_JSON + GZIP as ImportTable reads them
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataImport.Format.html). Parts are
numbered from the credential file, so a part's bytes are the same on every run (gzip with a fixed
mtime): `--resume` re-sends only the parts its checkpoint does not list, and re-sending one is harmless.
The manifest `roll.json` is written last, after the listing shows exactly the parts this roll wrote;
`up` imports only once it exists (election/provision/kinds/roll_import.py).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.lambdas.contract import VOTERS_KEY
from election.ops import prices
from election.ops.seed import Checkpoint, read_pepper, voter_key
from election.ops.target import Target
from election.ops.voterfile import Voter
from election.plan_roll import RollImport
from election.provision.kinds import awsutil as u
from election.provision.kinds.s3util import BUCKET_MISSING

# Each import takes at most 50,000 S3 objects, and AWS suggests mid-sized objects (up to ~4 M items
# under 1 KB each) so they import in parallel (S3DataImport.BestPractices / S3DataImport.Validation).
# 100,000 voters is ~9.8 MB of JSON (~4.8 MB gzip): 1,370 parts for 137 M voters.
PART_VOTERS = 100_000
MAX_PARTS = 50_000
FORMAT, COMPRESSION = "DYNAMODB_JSON", "GZIP"


def item_line(key: str, state: str) -> bytes:
    """One voter as an import line; the same item BatchWriteItem seeding writes."""
    return b'{"Item":{"%s":{"S":"%s"},"state":{"S":"%s"}}}\n' % (VOTERS_KEY.encode(), key.encode(), state.encode())


def part_body(pepper: bytes, voters: Sequence[Voter]) -> tuple[bytes, int]:
    """(gzip bytes, uncompressed size) of one part; mtime 0 so the bytes depend only on the voters."""
    raw = b"".join(item_line(voter_key(pepper, vid), state) for vid, state in voters)
    return gzip.compress(raw, compresslevel=6, mtime=0), len(raw)


def import_regions(target: Target) -> tuple[str, ...]:
    """Where a voters table is imported: the primary of a global table (its replicas copy it), else every region."""
    plan = target.plan
    return (plan.primary_region,) if plan.replicated_by_aws else plan.region_names


def roll_of(target: Target) -> RollImport:
    roll = target.plan.roll
    if roll is None:
        raise ElectionError(f"{target.plan.path}: the plan has no roll section, so there is nowhere to import from; "
                            "add `roll: {import: s3://your-bucket/roll/}` and run `election up` first.")
    return roll


@dataclass
class ImportReport:
    """What seed-voters --import did; `bytes` is what ImportTable bills (uncompressed source)."""

    credentials: str
    location: str
    voters: int
    parts: int
    written_now: int          # parts sent by this run
    already_written: int      # parts a previous run had sent (--resume)
    seconds: float
    bytes: int
    gzip_bytes: int
    import_regions: tuple[str, ...]

    @property
    def rate(self) -> float:
        """Voters per second written by this run."""
        done = self.voters * self.written_now / self.parts if self.parts else 0
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def import_usd(self) -> float:
        """ImportTable's list price for this roll: per GB of uncompressed source, per importing region."""
        return self.bytes / prices.GB * prices.DYNAMODB_IMPORT_GB * len(self.import_regions)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "import_regions": list(self.import_regions), "rate_per_s": round(self.rate, 1),
                "import_usd": round(self.import_usd, 4)}


class PartWriter:
    """Builds and uploads parts, `workers` at a time, marking each in the checkpoint once S3 has it."""

    def __init__(self, target: Target, roll: RollImport, pepper: bytes, workers: int = 8) -> None:
        self.s3 = target.client("s3", target.plan.primary_region)
        self.roll = roll
        self.pepper = pepper
        self.workers = workers
        self.gzip_bytes = 0
        self._lock = threading.Lock()

    def put(self, index: int, voters: Sequence[Voter]) -> int:
        body, raw = part_body(self.pepper, voters)
        self.s3.put_object(Bucket=self.roll.bucket, Key=self.roll.part_key(index), Body=body,
                           ContentType="application/json", ContentEncoding="gzip")
        with self._lock:
            self.gzip_bytes += len(body)
        return raw

    def run(self, parts: Sequence[Sequence[Voter]], checkpoint: Checkpoint,
            on_progress: Callable[[int], None]) -> int:
        """Upload every part the checkpoint lacks; returns how many this run sent.

        At most `workers` parts are submitted at a time, the next one as one ends, so after a failure (or
        Ctrl-C) no further part starts. The failure is raised here once the running parts have ended; every
        part S3 has by then is in the checkpoint, so --resume sends only the rest.
        """
        todo = iter([i for i in range(len(parts)) if i not in checkpoint.done])
        sent = 0
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="roll-part") as pool:
            running = {pool.submit(self.put, i, parts[i]): i for i in itertools.islice(todo, self.workers)}
            try:
                while running:
                    fut = next(as_completed(running))
                    i = running.pop(fut)
                    fut.result()
                    checkpoint.mark(i)
                    checkpoint.save()
                    sent += 1
                    on_progress(len(parts[i]))
                    running.update((pool.submit(self.put, j, parts[j]), j) for j in itertools.islice(todo, 1))
            finally:
                pool.shutdown(wait=True)                    # the running parts end; none is queued
                for fut, i in running.items():
                    if fut.exception() is None:
                        checkpoint.mark(i)
                checkpoint.save()
        return sent


def check_ready(target: Target) -> RollImport:
    """Before anything is minted or written: the plan names a roll location and no voters table exists yet."""
    roll = roll_of(target)
    check_can_import(target, roll)
    pepper_arns(target, import_regions(target))      # the roll is hashed with the pepper that `up` makes
    return roll


def check_can_import(target: Target, roll: RollImport) -> None:
    """Refuse (one sentence) when the import could never happen: a voters table is already there."""
    table = target.names.voters
    for region in target.plan.region_names:
        try:
            target.client("dynamodb", region).describe_table(TableName=table)
        except ClientError as exc:
            if u.is_code(exc, "ResourceNotFoundException"):
                continue
            raise
        raise ElectionError(f"The voters table {table} already exists in {region}, and DynamoDB imports only into "
                            "a new table; load the roll with `election seed-voters` (without --import), or remove "
                            f"roll.import from {target.plan.path} and the table with it.")


def ensure_bucket(target: Target, roll: RollImport) -> None:
    """The bucket must exist; on the local stack (moto) it is made here, on AWS it is yours to create."""
    s3 = target.client("s3", target.plan.primary_region)
    try:
        s3.head_bucket(Bucket=roll.bucket)
        return
    except ClientError as exc:
        code = u.code(exc)
        if code not in BUCKET_MISSING:
            raise ElectionError(f"The bucket {roll.bucket} (roll.import in {target.plan.path}) cannot be used "
                                f"({code}); it must be yours and readable and writable by this identity.") from None
    if not target.is_local and target.plan.target == "aws":
        raise ElectionError(f"The bucket {roll.bucket} (roll.import in {target.plan.path}) does not exist; create "
                            f"it (private, in {target.plan.primary_region}) and run the command again.")
    region = target.plan.primary_region
    kwargs: dict[str, Any] = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=roll.bucket, **kwargs)


def existing_keys(target: Target, roll: RollImport, prefix: str) -> list[str]:
    s3 = target.client("s3", target.plan.primary_region)
    return [o["Key"] for o in u.paginate(s3, "list_objects_v2", "Contents", Bucket=roll.bucket, Prefix=prefix)]


def pepper_arns(target: Target, regions: Sequence[str]) -> dict[str, str]:
    """The voter pepper secret's ARN per region (a deployment made anew has new ARNs: a new pepper); one
    sentence when `up` has not made it yet."""
    arns = {}
    for region in regions:
        try:
            arns[region] = target.client("secretsmanager", region).describe_secret(
                SecretId=target.names.voter_pepper)["ARN"]
        except ClientError as exc:
            if not u.is_code(exc, "ResourceNotFoundException"):
                raise
            raise ElectionError(f"The voter pepper {target.names.voter_pepper} does not exist in {region} yet; run "
                                "`election up` first (it makes the pepper the roll is hashed with), then this "
                                "command.") from None
    return arns


def roll_digest(out: Path, voters: Sequence[Voter]) -> str:
    """sha256 of the credential file the parts are cut from (of the voters themselves when it is absent)."""
    try:
        with out.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        h = hashlib.sha256()
        for vid, state in voters:
            h.update(f"{vid},{state}\n".encode())
        return h.hexdigest()


def seed_import(target: Target, out: Path, voters: Sequence[Voter], resume: bool = False, workers: int = 8,
                part_voters: int = PART_VOTERS, on_start: Callable[[int, int], None] = lambda total, done: None,
                on_progress: Callable[[int], None] = lambda n: None) -> ImportReport:
    """Hash the roll into S3 parts (resumable), then write the manifest that lets `up` import it."""
    roll = roll_of(target)
    check_can_import(target, roll)
    plan = target.plan
    regions = import_regions(target)
    arns = pepper_arns(target, regions)
    peppers = {r: read_pepper(target, r, target.names.voter_pepper) for r in regions}
    if len(set(peppers.values())) > 1:
        raise ElectionError(f"The voter pepper {target.names.voter_pepper} differs between "
                            f"{', '.join(regions)}, so one roll cannot serve them all; run `election up` to "
                            "repair the copies.")
    pepper = peppers[regions[0]]
    parts = [voters[i:i + part_voters] for i in range(0, len(voters), part_voters)]
    if len(parts) > MAX_PARTS:
        raise ElectionError(f"{len(voters):,} voters in parts of {part_voters:,} make {len(parts):,} S3 objects, "
                            f"more than ImportTable's {MAX_PARTS:,}; use larger parts.")
    ensure_bucket(target, roll)
    # The credential file's digest is part of the instance: a file minted anew after a crash (same count)
    # must not inherit the parts its predecessor sent, or those voters would be missing from the roll.
    checkpoint = Checkpoint(out.with_name(out.name + ".import.json"), plan.name, len(voters),
                            instance=json.dumps([roll.url, part_voters, arns, roll_digest(out, voters)],
                                                sort_keys=True))
    checkpoint.load()
    wanted = {roll.part_key(i) for i in range(len(parts))}
    present = set(existing_keys(target, roll, roll.prefix))
    if present and not (resume and present <= wanted | {roll.manifest_key}):
        raise ElectionError(f"{roll.url} already holds {len(present)} objects and ImportTable reads every one of "
                            "them, so empty it or name another roll.import"
                            + (" (--resume finishes only a roll of this credential file)." if resume else
                               " (or pass --resume to finish this roll)."))
    if roll.manifest_key in present:   # rewriting a finished roll: `up` must not import it half-written meanwhile
        target.client("s3", plan.primary_region).delete_object(Bucket=roll.bucket, Key=roll.manifest_key)
    already = len(checkpoint.done)
    on_start(len(voters), sum(len(parts[i]) for i in checkpoint.done if i < len(parts)))
    started = time.monotonic()
    writer = PartWriter(target, roll, pepper, workers)
    sent = writer.run(parts, checkpoint, on_progress)
    listed = set(existing_keys(target, roll, roll.parts_prefix))
    if listed != wanted:
        extra, missing = sorted(listed - wanted), sorted(wanted - listed)
        raise ElectionError(f"s3://{roll.bucket}/{roll.parts_prefix} holds {len(extra)} objects this roll did not "
                            f"write and lacks {len(missing)} of its parts (e.g. {(extra or missing)[0]}); empty it "
                            "and seed again.")
    size = sum(len(item_line("0" * 64, s)) for _, s in voters)
    per_state = Counter(s for _, s in voters)
    manifest = {"plan": plan.name, "voters": len(voters), "parts": len(parts), "part_voters": part_voters,
                "format": FORMAT, "compression": COMPRESSION, "bytes": size, "pepper_secrets": arns,
                "per_state": dict(sorted(per_state.items())), "written_at": int(time.time())}
    target.client("s3", plan.primary_region).put_object(
        Bucket=roll.bucket, Key=roll.manifest_key, Body=json.dumps(manifest, indent=1).encode(),
        ContentType="application/json")
    return ImportReport(credentials=str(out), location=roll.url, voters=len(voters), parts=len(parts),
                        written_now=sent, already_written=already, seconds=time.monotonic() - started,
                        bytes=size, gzip_bytes=writer.gzip_bytes, import_regions=regions)
