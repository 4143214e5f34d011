"""Seed the voter roll: mint voter IDs, write the mailing list, load keyed hashes into home regions.

The credential file (voter ID, state) is the only place voter IDs exist; it is
written with owner-only permissions and never uploaded. Each region's voters
table receives only HMAC(voter pepper, voter ID) -> state for the voters homed
there. Loading is resumable: batches are numbered deterministically from the
credential file and a checkpoint beside it records the finished ones.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError
from election.lambdas.contract import VOTERS_KEY
from election.lambdas.logic import voter_key  # the handlers' own HMAC: one definition, no drift
from election.ops.state import instance_id
from election.ops.target import Target
from election.ops.voterfile import (
    Voter,
    allocate,
    generate_voters,
    new_voter_id,
    parse_credentials,
    read_credentials,
    write_credentials,
)
from election.plan import Plan

# The credential file's functions moved to election.ops.voterfile; they stay importable from here.
__all__ = ["Batch", "Checkpoint", "RollLoader", "SeedReport", "Voter", "allocate", "generate_voters",
           "make_batches", "new_voter_id", "parse_credentials", "prepare_credentials", "read_credentials",
           "read_pepper", "seed_voters", "voter_key", "wait_replicated", "write_credentials"]

BATCH = 25                      # BatchWriteItem's maximum
MAX_ATTEMPTS = 12               # per batch: consecutive attempts without progress before giving up
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                            "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable"})


# --- hashing -------------------------------------------------------------------------

def read_pepper(target: Target, region: str, secret_id: str) -> bytes:
    """A pepper from `region`'s copy of the secret (SecretString is hex)."""
    sm = target.client("secretsmanager", region)
    try:
        value = sm.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ElectionError(f"The secret {secret_id} does not exist in {region}; is the plan deployed "
                                "(election up)?") from None
        raise
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        raise ElectionError(f"The secret {secret_id} in {region} is not hex; it was not made by election up.") \
            from None


# --- batches and checkpoint ----------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """Up to 25 voters of one home region; `index` is stable for a given file and plan."""

    index: int
    region: str
    voters: tuple[Voter, ...]


def make_batches(voters: Sequence[Voter], plan: Plan) -> list[Batch]:
    """Group voters by home region in file order, 25 at a time; the numbering is deterministic."""
    homes = plan.state_regions()
    by_region: dict[str, list[Voter]] = {r: [] for r in plan.region_names}
    for v in voters:
        if v[1] not in homes:
            raise ElectionError(f"The credential file names state '{v[1]}', which the plan does not home.")
        by_region[homes[v[1]]].append(v)
    batches: list[Batch] = []
    for region, vs in by_region.items():
        for i in range(0, len(vs), BATCH):
            batches.append(Batch(len(batches), region, tuple(vs[i:i + BATCH])))
    return batches


class Checkpoint:
    """The set of finished batch numbers, saved atomically beside the credential file."""

    def __init__(self, path: Path, plan: str, voters: int, instance: str = "") -> None:
        self.path = path
        self.plan = plan
        self.voters = voters
        self.instance = instance
        self.done: set[int] = set()
        self._lock = threading.Lock()

    @classmethod
    def for_credentials(cls, credentials: Path) -> Path:
        return credentials.with_name(credentials.name + ".progress.json")

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise ElectionError(f"The checkpoint {self.path} is unreadable ({exc}); delete it to reload everything.") \
                from None
        if raw.get("plan") != self.plan or raw.get("voters") != self.voters:
            raise ElectionError(f"The checkpoint {self.path} belongs to plan '{raw.get('plan')}' with "
                                f"{raw.get('voters')} voters, not this one; delete it to reload everything.")
        if raw.get("instance", "") != self.instance:
            return      # the plan was deployed anew since (or a new local stack): nothing of it is loaded there
        self.done = set(range(raw.get("below", 0))) | set(raw.get("also", []))

    def mark(self, index: int) -> None:
        with self._lock:
            self.done.add(index)

    def save(self) -> None:
        with self._lock:
            below = 0
            while below in self.done:
                below += 1
            also = sorted(i for i in self.done if i > below)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"plan": self.plan, "instance": self.instance, "voters": self.voters,
                                  "below": below, "also": also}),
                       encoding="utf-8")
        os.replace(tmp, self.path)


# --- loading -------------------------------------------------------------------------

def backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff (AWS's recommendation for contended retries)."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


class RollLoader:
    """Writes batches of keyed voters into their home region, retrying every unprocessed item."""

    def __init__(self, target: Target, peppers: Mapping[str, bytes], workers: int = 8,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.peppers = peppers
        self.workers = workers
        self.sleep = sleep
        self.table = target.names.voters
        self.retries = 0            # unprocessed or throttled re-sends, for the report
        self._lock = threading.Lock()

    def write(self, batch: Batch) -> int:
        """Write one batch until every item is processed; returns the voters written."""
        pepper = self.peppers[batch.region]
        pending: list[dict[str, Any]] = [
            {"PutRequest": {"Item": {VOTERS_KEY: {"S": voter_key(pepper, vid)}, "state": {"S": state}}}}
            for vid, state in batch.voters]
        ddb = self.target.client("dynamodb", batch.region)
        stalled = 0     # consecutive attempts that made no progress; any progress resets it
        while pending:
            if stalled >= MAX_ATTEMPTS:
                raise ElectionError(f"DynamoDB in {batch.region} kept {len(pending)} voters unprocessed after "
                                    f"{MAX_ATTEMPTS} attempts; the table is overloaded: run the same command "
                                    "with --resume later.")
            try:
                resp = ddb.batch_write_item(RequestItems={self.table: pending})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in THROTTLE_CODES:
                    raise
                self._retried()
                self.sleep(backoff(stalled))
                stalled += 1
                continue
            left = resp.get("UnprocessedItems", {}).get(self.table, [])
            if left:
                self._retried()
                stalled = stalled + 1 if len(left) == len(pending) else 0
                self.sleep(backoff(stalled))
            pending = left
        return len(batch.voters)

    def _retried(self) -> None:
        with self._lock:
            self.retries += 1

    def run(self, batches: Sequence[Batch], checkpoint: Checkpoint,
            on_progress: Callable[[int], None] = lambda n: None, save_every: float = 0.25) -> int:
        """Write every batch not yet in the checkpoint, `workers` at a time; returns voters written."""
        todo = [b for b in batches if b.index not in checkpoint.done]
        written = 0
        last_save = time.monotonic()
        inflight: dict[Future[int], Batch] = {}
        it = iter(todo)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="seed") as pool:
            try:
                while True:
                    while len(inflight) < self.workers * 2:
                        b = next(it, None)
                        if b is None:
                            break
                        inflight[pool.submit(self.write, b)] = b
                    if not inflight:
                        break
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        b = inflight.pop(fut)
                        n = fut.result()      # re-raises a worker's failure here, after the finally below
                        checkpoint.mark(b.index)
                        written += n
                        on_progress(n)
                    if time.monotonic() - last_save >= save_every:
                        checkpoint.save()
                        last_save = time.monotonic()
            finally:
                for fut in inflight:
                    fut.cancel()
                # Batches that finished while we were stopping still count as done.
                for fut, b in inflight.items():
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        checkpoint.mark(b.index)
                checkpoint.save()
        return written


def wait_replicated(target: Target, batches: Sequence[Batch], peppers: Mapping[str, bytes], timeout: float,
                    sleep: Callable[[float], None] = time.sleep, sample: int = 100) -> bool:
    """Wait until every region's roll holds a sample of the voters just loaded (global-table replication).

    A voter may vote in any region, and the enqueue handler there looks the voter up in that
    region's replica: right after seeding, a lagging replica answers 404. The sample is the last
    batch of each home region (written last) plus random voters; checking it costs a few
    BatchGetItem calls instead of a scan.
    """
    keys: set[str] = set()
    last: dict[str, Batch] = {}
    for b in batches:
        last[b.region] = b
    picked = list(last.values()) + random.sample(list(batches), min(len(batches), 4))
    for b in picked:
        keys.update(voter_key(peppers[b.region], vid) for vid, _ in b.voters)
    wanted = sorted(keys)[:sample] if len(keys) > sample else sorted(keys)
    deadline = time.monotonic() + timeout
    missing_regions = list(target.plan.region_names)
    while True:
        missing_regions = [r for r in missing_regions if not _holds(target, r, wanted)]
        if not missing_regions:
            return True
        if time.monotonic() >= deadline:
            return False
        sleep(0.5)


def _holds(target: Target, region: str, keys: list[str]) -> bool:
    ddb = target.client("dynamodb", region)
    table = target.names.voters
    found = 0
    for i in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": [{VOTERS_KEY: {"S": k}} for k in keys[i:i + 100]],
                                           "ProjectionExpression": VOTERS_KEY}}
        while request:
            resp = ddb.batch_get_item(RequestItems=request)
            found += len(resp.get("Responses", {}).get(table, []))
            request = resp.get("UnprocessedKeys") or {}
    return found == len(keys)


@dataclass
class SeedReport:
    """What seed-voters did: totals, what this run loaded, how fast, how many re-sends."""

    credentials: str
    voters: int
    loaded_now: int
    already_loaded: int
    per_region: dict[str, int]
    seconds: float
    retries: int
    replicated: bool | None = None          # None: not checked (one region, or asked not to wait)
    replication_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.loaded_now / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rate_per_s": round(self.rate, 1)}


def prepare_credentials(out: Path, count: int | None, resume: bool,
                        rng: random.Random | None = None) -> list[Voter]:
    """Mint a new credential file, or reuse the existing one with --resume (never mint twice)."""
    checkpoint = Checkpoint.for_credentials(out)
    if out.exists():
        if not resume:
            raise ElectionError(f"{out} already exists; pass --resume to finish loading it, or choose another --out.")
        voters = read_credentials(out)
        if count is not None and count != len(voters):
            raise ElectionError(f"{out} holds {len(voters)} voters, not {count}; drop --count to resume it, "
                                "or choose another --out.")
        return voters
    if resume and checkpoint.exists():
        raise ElectionError(f"{out} is gone but its checkpoint remains; the voter IDs cannot be recovered: "
                            f"delete {checkpoint} and seed again.")
    if not count or count < 1:
        raise ElectionError("Give --count: how many voters to create (at least 1).")
    if not out.parent.is_dir():
        raise ElectionError(f"--out {out}: the directory {out.parent} does not exist; create it first "
                            "(the credential file is never put somewhere you did not choose).")
    voters = generate_voters(count, rng=rng)
    write_credentials(out, voters)
    return voters


def seed_voters(target: Target, out: Path, count: int | None, resume: bool = False, workers: int = 8,
                on_start: Callable[[int, int], None] = lambda total, done: None,
                on_progress: Callable[[int], None] = lambda n: None,
                sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                replication_timeout: float = 60.0,
                on_replicating: Callable[[], None] = lambda: None,
                voters: Sequence[Voter] | None = None) -> SeedReport:
    """Mint (or reuse with --resume) the credential file, load the roll, wait for it to replicate.

    `replication_timeout=0` skips the replication check (for a target that does not replicate).
    `voters`: what prepare_credentials already returned for `out` (the CLI checks the file
    before it starts drawing progress).
    """
    if voters is None:
        voters = prepare_credentials(out, count, resume, rng)
    plan = target.plan
    batches = make_batches(voters, plan)
    checkpoint = Checkpoint(Checkpoint.for_credentials(out), plan.name, len(voters), instance_id(target))
    checkpoint.load()
    already = sum(len(b.voters) for b in batches if b.index in checkpoint.done)
    peppers = {r: read_pepper(target, r, target.names.voter_pepper) for r in plan.region_names}
    loader = RollLoader(target, peppers, workers=workers, sleep=sleep)
    on_start(len(voters), already)
    started = time.monotonic()
    loaded = loader.run(batches, checkpoint, on_progress)
    seconds = time.monotonic() - started
    per_region: dict[str, int] = {r: 0 for r in plan.region_names}
    for b in batches:
        per_region[b.region] += len(b.voters)
    report = SeedReport(credentials=str(out), voters=len(voters), loaded_now=loaded, already_loaded=already,
                        per_region=per_region, seconds=seconds, retries=loader.retries)
    if replication_timeout > 0 and len(plan.region_names) > 1 and batches:
        on_replicating()
        started = time.monotonic()
        report.replicated = wait_replicated(target, batches, peppers, replication_timeout)
        report.replication_seconds = round(time.monotonic() - started, 2)
    return report
