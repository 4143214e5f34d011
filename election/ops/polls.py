"""Opening and closing the polls, and destroying the ballot pepper — the data side of `open` / `close`.

The polls item lives in every region's results table ({"pk": "polls", "open": bool,
"changed_at": iso}); the enqueue handlers read it (cached at most 2 s per container),
and a missing item means open. It is written in every region directly, not left to
replication, so a region whose replication lags still closes on time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from election.errors import ElectionError
from election.lambdas import contract
from election.ops.names import Names
from election.plan import Plan


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _each_region(plan: Plan, fn: Callable[[str], Any]) -> dict[str, Any]:
    """Run fn(region) for every region in parallel; results by region (first error re-raised)."""
    with ThreadPoolExecutor(max_workers=max(1, len(plan.region_names))) as pool:
        futures = {r: pool.submit(fn, r) for r in plan.region_names}
        return {r: f.result() for r, f in futures.items()}


def _write(clients: Any, plan: Plan, is_open: bool, now: str) -> dict[str, dict[str, Any]]:
    table = Names(plan.name).results

    def put(region: str) -> dict[str, Any]:
        clients.client("dynamodb", region).put_item(TableName=table, Item={
            contract.RESULTS_KEY: {"S": contract.POLLS_ITEM}, "open": {"BOOL": is_open}, "changed_at": {"S": now}})
        return {"open": is_open, "changed_at": now}

    return _each_region(plan, put)


def open_polls(clients: Any, plan: Plan, now: str | None = None) -> dict[str, dict[str, Any]]:
    """Open the polls in every region (clears any earlier `tallied_at`); returns region -> polls state."""
    return _write(clients, plan, True, now or _now())


def close_polls(clients: Any, plan: Plan, now: str | None = None) -> dict[str, dict[str, Any]]:
    """Stop new votes in every region: enqueue answers 403 polls_closed within 2 s."""
    return _write(clients, plan, False, now or _now())


def read_polls(clients: Any, plan: Plan) -> dict[str, dict[str, Any]]:
    """region -> {"open": bool, "changed_at", "tallied_at": str | None, "left_out": int} (no item = open).

    `left_out`: votes `close --force` closed without (they sat in a dead-letter queue and were purged).
    """
    table = Names(plan.name).results

    def get(region: str) -> dict[str, Any]:
        item = clients.client("dynamodb", region).get_item(
            TableName=table, Key={contract.RESULTS_KEY: {"S": contract.POLLS_ITEM}}, ConsistentRead=True).get("Item")
        if not item:
            return {"open": True, "changed_at": None, "tallied_at": None, "left_out": 0}
        return {"open": bool(item.get("open", {}).get("BOOL", True)),
                "changed_at": item.get("changed_at", {}).get("S"), "tallied_at": item.get("tallied_at", {}).get("S"),
                "left_out": int(item.get("left_out", {}).get("N", "0"))}

    return _each_region(plan, get)


def mark_tallied(clients: Any, plan: Plan, now: str | None = None, left_out: int = 0) -> None:
    """Record that the final tally finished (after close drained the queues and the tally caught up).

    From then on the election is final: GET /receipts answers "counted" for every recorded ballot,
    GET /results shows the breakdown, and process, forward and `dlq redrive` refuse to add ballots.
    `left_out`: votes `close --force` closed without (the audit reports them). Refuses while polls are open.
    """
    table = Names(plan.name).results
    stamp = now or _now()

    def update(region: str) -> None:
        ddb = clients.client("dynamodb", region)
        try:
            ddb.update_item(TableName=table, Key={contract.RESULTS_KEY: {"S": contract.POLLS_ITEM}},
                            UpdateExpression="SET tallied_at = :t, left_out = :l", ConditionExpression="#o = :f",
                            ExpressionAttributeNames={"#o": "open"},
                            ExpressionAttributeValues={":t": {"S": stamp}, ":f": {"BOOL": False},
                                                       ":l": {"N": str(left_out)}})
        except ddb.exceptions.ConditionalCheckFailedException:
            raise ElectionError(f"The polls are not closed in {region}; close them before marking the tally final.") \
                from None

    _each_region(plan, update)


def is_final(clients: Any, plan: Plan) -> bool:
    """Whether `close` has recorded the final tally in any region (then nothing may add a ballot)."""
    return any(not p["open"] and p["tallied_at"] for p in read_polls(clients, plan).values())


def destroy_ballot_pepper(provider: Any, plan: Plan, sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Delete the ballot pepper in every region, without recovery window; returns the regions it was in.

    After this nobody can recompute which ballot key belongs to which voter ID. Replicas of a
    replicated secret are removed first (AWS refuses to delete a primary that has replicas).
    Deleting what is already gone is not an error, so `close` can be re-run.
    """
    secret_id = Names(plan.name).ballot_pepper
    deleted: list[str] = []
    for region in plan.region_names:
        sm = provider.client("secretsmanager", region)
        try:
            desc = sm.describe_secret(SecretId=secret_id)
        except sm.exceptions.ResourceNotFoundException:
            continue
        replicas = [r["Region"] for r in desc.get("ReplicationStatus", []) or []]
        if desc.get("PrimaryRegion") not in (None, region):
            continue   # a replica: goes away with its primary below
        if replicas:
            sm.remove_regions_from_replication(SecretId=secret_id, RemoveReplicaRegions=replicas)
            deleted.extend(r for r in replicas if r in plan.region_names)
        sm.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
        deleted.append(region)
    # Secrets Manager deletes asynchronously, even without recovery window: wait (bounded) for it to finish.
    from types import SimpleNamespace

    from election.provision.kinds.awsutil import wait_until

    left = list(plan.region_names)

    def gone() -> bool:
        left[:] = [r for r in left if pepper_exists(provider, r, secret_id)]
        return not left

    try:
        wait_until(SimpleNamespace(sleep=sleep), gone, f"the ballot pepper {secret_id} to be deleted", attempts=8)
    except ElectionError:
        pass
    if left:
        raise ElectionError(f"The ballot pepper {secret_id} still exists in {', '.join(left)}; "
                            "delete it there (secretsmanager delete-secret --force-delete-without-recovery).")
    return sorted(set(deleted))


def pepper_exists(provider: Any, region: str, secret_id: str) -> bool:
    """Whether the secret `secret_id` still exists in `region` (scheduled deletion counts as existing)."""
    sm = provider.client("secretsmanager", region)
    try:
        sm.describe_secret(SecretId=secret_id)
    except sm.exceptions.ResourceNotFoundException:
        return False
    return True


_pepper_exists = pepper_exists   # the name election/ops/closing.py uses
