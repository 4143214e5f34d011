"""The deployer: read what exists, diff field by field, apply in dependency order, destroy in reverse.

Stateless: every resource has a deterministic name and carries the plan tag,
so `diff`, `apply`, `destroy` and `status` discover what exists from AWS.
Steps run on a thread pool as soon as their dependencies finish, so regions
proceed in parallel. Collaborators come in through the constructor (client
provider, sleep), so tests run it on moto with a sleep that returns at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from election.errors import ElectionError, explain
from election.lambdas import contract
from election.plan import Plan
from election.provision import inprocess, model
from election.provision.clients import ClientProvider
from election.provision.kinds import REGISTRY
from election.provision.kinds.base import Actual, Change, Found, Join, Kind, Ref, Resource, diff_props
from election.provision.kinds.dynamodb import Table, has_items, recent_replicas

Progress = Callable[[str, str], None]
ACTIONS = ("create", "update", "delete", "noop")
# Kept by `down` unless --destroy-data, like ballots: a new hosted zone gets new name servers.
KEPT_ON_DOWN = ("hosted_zone",)


class _Unknown:
    """A value known only after apply (an output of a resource not created yet)."""

    def __repr__(self) -> str:
        return "(known after apply)"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Step:
    """One line of a plan: what happens to one resource, and which fields change."""

    key: str
    kind: str
    region: str
    name: str
    action: str
    changes: tuple[Change, ...] = ()
    note: str = ""


@dataclass
class PlanResult:
    """The diff of a plan against AWS: steps in apply order, then deletions."""

    steps: list[Step] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)

    @property
    def changed(self) -> bool:
        return any(s.action != "noop" for s in self.steps)

    def by_region(self) -> dict[str, list[Step]]:
        out: dict[str, list[Step]] = {}
        for s in self.steps:
            out.setdefault(s.region, []).append(s)
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [{"key": s.key, "kind": s.kind, "region": s.region, "name": s.name, "action": s.action,
                 "changes": [{"field": c.field, "old": _plain(c.old), "new": _plain(c.new)} for c in s.changes],
                 **({"note": s.note} if s.note else {})} for s in self.steps]


@dataclass
class _Shown:
    """The last diff: what it read per resource (None: absent) and what it found to delete."""

    result: PlanResult | None
    known: dict[str, Actual | None]
    leftovers: list[Found]


class Cancelled(Exception):
    """Raised in a step's thread once the run was interrupted, so no new AWS call or wait starts."""


class _Context:
    """What kinds may use: clients per region, the account, the injected sleep."""

    def __init__(self, plan: Plan, provider: ClientProvider, sleep: Callable[[float], None] | None) -> None:
        self.plan_name = plan.name
        self._plan = plan
        self._provider = provider
        self._sleep = sleep
        self._identity: dict[str, str] | None = None
        self._lock = threading.Lock()
        self.cancelled = threading.Event()
        self._memo: dict[Any, Any] = {}
        self._memo_locks: dict[Any, threading.Lock] = {}

    def new_run(self) -> None:
        """Forget the listings of the previous diff/apply/destroy: each run reads AWS afresh."""
        with self._lock:
            self._memo.clear()
            self._memo_locks.clear()

    def memo(self, key: Any, fetch: Callable[[], Any]) -> Any:
        """One answer per key per run: a region's listing read once serves every resource's read and discover.

        Only what existed when the run started may be taken from it; kinds read what they just changed directly.
        """
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:   # one fetch per key even when several steps ask at once
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            value = fetch()
            with self._lock:
                self._memo[key] = value
            return value

    def client(self, service: str, region: str) -> Any:
        if self.cancelled.is_set():
            raise Cancelled("the run was interrupted")
        return self._provider.client(service, region)

    def sleep(self, seconds: float) -> None:
        """Wait (a bounded wait's backoff); ends at once with Cancelled when the run is interrupted."""
        if self._sleep is None:
            self.cancelled.wait(seconds)
        else:
            self._sleep(seconds)
        if self.cancelled.is_set():
            raise Cancelled("the run was interrupted")

    def _who(self) -> dict[str, str]:
        with self._lock:
            if self._identity is None:
                arn = self.client("sts", self._plan.primary_region).get_caller_identity()
                self._identity = {"account_id": arn["Account"], "partition": arn["Arn"].split(":")[1]}
            return self._identity

    @property
    def account_id(self) -> str:
        return self._who()["account_id"]

    @property
    def partition(self) -> str:
        return self._who()["partition"]


class Deployer:
    """Diff, apply and destroy one plan; `outputs` of the last apply are kept on the instance."""

    def __init__(self, plan: Plan, provider: ClientProvider, sleep: Callable[[float], None] | None = None,
                 site_dir: Path = Path("website"), lambdas_dir: Path | None = None,
                 registry: Mapping[str, Kind] | None = None, workers: int = 8, edge: bool = True,
                 clock: Callable[[], float] = time.time, resources: list[Resource] | None = None) -> None:
        self.plan = plan
        self.clock = clock
        self.provider = provider
        self.ctx = _Context(plan, provider, sleep)
        self.registry = dict(registry if registry is not None else REGISTRY)
        self.workers = workers
        if inprocess.moto_loaded():   # moto in this process: make it safe for the pool's threads
            inprocess.preload_moto()   # before any thread: moto's lazy imports deadlock between threads
            inprocess.serialise_moto_calls()   # its backends are not thread-safe either
        # `resources`: another plan's desired state on this engine (the load fleet, provision/fleet.py).
        self.resources = resources if resources is not None else model.desired(plan, site_dir, lambdas_dir, edge=edge)
        self.by_key = {r.key: r for r in self.resources}
        if len(self.by_key) != len(self.resources):
            raise ValueError("two desired resources share a key")
        self.deps = {r.key: _dependencies(r) for r in self.resources}
        for k, deps in self.deps.items():
            missing = [d for d in deps if d not in self.by_key]
            if missing:
                raise ValueError(f"{k} depends on {missing}, which the plan does not define")
            if self.by_key[k].kind not in self.registry:
                raise ValueError(f"no kind registered for {self.by_key[k].kind}")
        self.order = _topological(self.deps)
        self.outputs: dict[str, dict[str, Any]] = {}
        self._shown: _Shown | None = None
        self.kept: list[Found] = []    # what the last `targets` left in place (see KEPT_ON_DOWN)

    # --- diff -------------------------------------------------------------------

    def diff(self) -> PlanResult:
        """What `apply` would do; changes nothing (read calls only). The next `apply()` applies this diff."""
        self.ctx.new_run()
        outputs: dict[str, dict[str, Any]] = {}
        steps: dict[str, Step] = {}
        known: dict[str, Actual | None] = {}

        def one(k: str) -> None:
            res = self._resolved(self.by_key[k], outputs)
            if any(steps[d].action == "create" for d in self.deps[k]):
                # Its inputs do not exist yet, so neither can it (and its inputs cannot be read back).
                outputs[k] = {}
                steps[k] = _step(res, "create")
                return
            actual = self._read(res)
            known[k] = actual
            if actual is None:
                outputs[k] = {}
                steps[k] = _step(res, "create")
                return
            outputs[k] = actual.outputs
            changes = _changes(res, actual)
            note = ("retired: the polls were closed; not recreated" if actual.outputs.get("retired")
                    else actual.outputs.get("waiting", ""))   # a voters table waiting for its roll (kinds/roll_import)
            steps[k] = _step(res, "update" if changes else "noop", changes, note)

        self._walk(list(self.order), self.deps, one)
        self.outputs = outputs
        leftovers = self._leftovers()
        deletions = [Step(f.key, f.kind, f.region, f.name, "delete") for f in leftovers]
        result = PlanResult([steps[k] for k in self.order] + deletions)
        self._shown = _Shown(result, known, leftovers)
        return result

    def status(self) -> PlanResult:
        """Per region what exists and what differs from the plan (the same reads as `diff`)."""
        return self.diff()

    # --- apply ------------------------------------------------------------------

    def apply(self, progress: Progress | None = None) -> dict[str, Any]:
        """Delete what left the plan, then create/update in dependency order; returns the outputs.

        Right after `diff` it applies that diff (what was shown is what runs): what the diff read is not
        read again; only what it could not know (resources whose inputs were still to be created) is read.
        Without a fresh diff it reads everything itself.
        """
        report = progress or (lambda key, status: None)
        shown, self._shown = self._shown, None
        if shown is None:
            self.ctx.new_run()
            shown = _Shown(None, {}, self._leftovers())
        self._delete_all(shown.leftovers, report)
        outputs: dict[str, dict[str, Any]] = {}

        def one(k: str) -> None:
            res = self._resolved(self.by_key[k], outputs)
            kind = self._kind(res)
            actual = shown.known[k] if k in shown.known else self._read(res)
            if actual is None:
                report(k, "creating")
                outputs[k] = self._guard(lambda: kind.create(self.ctx, res), "create", k)
                report(k, "created")
                return
            changes = _changes(res, actual)
            if not changes:
                outputs[k] = actual.outputs
                report(k, "retired" if actual.outputs.get("retired") else "unchanged")
                return
            report(k, "updating")
            got = self._guard(lambda: kind.update(self.ctx, res, actual, changes), "update", k)
            outputs[k] = {**actual.outputs, **(got or {})}
            report(k, "updated")

        self._walk(list(self.order), self.deps, one)
        self.outputs = outputs
        return self.summary(outputs)

    def summary(self, outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The outputs others rely on: per region API URL, function, queue and table names; the site URL."""
        n = model.names(self.plan)
        regions: dict[str, Any] = {}

        def waiting(key: str) -> bool:
            return bool(outputs.get(key, {}).get("waiting"))

        for r in self.plan.region_names:
            api = outputs.get(model.key(r, "http_api", self.plan.name), {})
            regions[r] = {
                "api_url": api.get("endpoint") or api.get("url"),
                "functions": {role: n.function(role) for role in contract.FUNCTIONS},
                "queues": {w: outputs.get(model.key(r, "queue", n.queue(w)), {}).get("url") for w in model.QUEUES},
                "tables": {w: n.table(w) for w in model.TABLES if not waiting(model.key(r, "table", n.table(w)))},
            }
        site = outputs.get(model.key(self.plan.primary_region, "cloudfront_distribution", n.site_distribution), {})
        return {"regions": regions, "site_url": site.get("origin"),
                "waiting": {k: str(o["waiting"]) for k, o in outputs.items() if o.get("waiting")}}

    # --- destroy ----------------------------------------------------------------

    def targets(self, destroy_data: bool = False) -> list[Found]:
        """What `destroy` would delete; raises (nothing deleted) while ballots exist unless destroy_data.

        Without destroy_data the hosted zone is kept too (listed in `self.kept`): a new zone gets new
        name servers, which the domain's registrar would have to be re-delegated to.
        """
        self.ctx.new_run()
        regions = self.known_regions()
        if not destroy_data:
            table = model.names(self.plan).table("ballots")
            for r in regions:
                if has_items(self.ctx.client("dynamodb", r), table):
                    raise ElectionError(
                        f"The ballots table {table} in {r} holds votes, so nothing was deleted; "
                        "run `election down --destroy-data` to delete them with everything else.")
        found = self._discover(regions)
        self._refuse_young_global_tables(found)
        self.kept = [] if destroy_data else [f for f in found if f.kind in KEPT_ON_DOWN]
        return [f for f in found if f not in self.kept]

    def _refuse_young_global_tables(self, found: list[Found]) -> None:
        """AWS does not let a global table's source table be deleted within 24 hours of adding a replica."""
        primary = self.plan.primary_region
        names = [f.name for f in found if f.kind == "table" and f.region == primary]
        if not (self.plan.replicated_by_aws and names and isinstance(self.registry.get("table"), Table)):
            return
        young = recent_replicas(self.ctx, primary, names, self.clock())
        if young:
            added = max(t for _, _, t in young)
            when = datetime.fromtimestamp(added + 24 * 3600, UTC).strftime("%Y-%m-%d %H:%M UTC")
            tables = ", ".join(sorted({t for t, _, _ in young}))
            raise ElectionError(
                f"A replica was added to the global table(s) {tables} less than 24 hours ago, and AWS refuses to "
                f"delete a global table's source table within 24 hours of adding a replica, so nothing was "
                f"deleted: run `election down` again after {when}.")

    def destroy(self, destroy_data: bool = False, progress: Progress | None = None,
                targets: list[Found] | None = None) -> list[str]:
        """Delete everything tagged for the plan, in reverse order; refuse while ballots exist."""
        found = self.targets(destroy_data) if targets is None else targets
        self._delete_all(found, progress or (lambda key, status: None))
        return [f.key for f in found]

    # --- discovery --------------------------------------------------------------

    def known_regions(self) -> tuple[str, ...]:
        """The plan's regions plus any region recorded on this plan's KMS keys (removed from the plan)."""
        seen = list(self.plan.region_names)
        kms = self.registry["kms_key"]
        for r in self.plan.region_names:
            for f in kms.discover(self.ctx, r):
                seen.extend(x for x in f.outputs.get("regions", ()) if x not in seen)
        return tuple(seen)

    def _discover(self, regions: Iterable[str]) -> list[Found]:
        jobs = [(kind, r) for r in regions for kind in self.registry.values()]
        results: dict[int, list[Found]] = {}

        def one(i: int) -> None:
            kind, r = jobs[i]
            results[i] = kind.discover(self.ctx, r)

        self._walk(list(range(len(jobs))), {i: set() for i in range(len(jobs))}, one)
        out: dict[str, Found] = {}
        for i in range(len(jobs)):
            for f in results[i]:
                out.setdefault(f.key, f)
        return list(out.values())

    def _leftovers(self) -> list[Found]:
        """Resources tagged for the plan that the plan no longer has."""
        return [f for f in self._discover(self.known_regions()) if f.key not in self.by_key]

    def _delete_all(self, found: list[Found], report: Progress) -> None:
        """Delete in reverse registration order; within a kind, the primary region last."""
        rank = {name: i for i, name in enumerate(self.registry)}
        primary = self.plan.primary_region

        def level(f: Found) -> tuple[int, int]:
            return (-rank.get(f.kind, len(rank)), 1 if f.region == primary else 0)

        by_key = {f.key: f for f in found}
        levels = sorted({level(f) for f in found})
        deps: dict[str, set[str]] = {}
        for f in found:
            lv = level(f)
            earlier = [lvl for lvl in levels if lvl < lv]
            deps[f.key] = {g.key for g in found if earlier and level(g) == earlier[-1]}

        def one(k: str) -> None:
            f = by_key[k]
            report(k, "deleting")
            self._guard(lambda: self.registry[f.kind].delete(self.ctx, f), "delete", k)
            report(k, "deleted")

        self._walk(list(by_key), deps, one)

    # --- machinery --------------------------------------------------------------

    def _kind(self, res: Resource) -> Kind:
        return self.registry[res.kind]

    def _resolved(self, res: Resource, outputs: Mapping[str, Mapping[str, Any]]) -> Resource:
        return Resource(res.kind, res.region, res.name, self._resolve(res.props, outputs), res.depends_on,
                        res.tags)

    def _resolve(self, value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
        if isinstance(value, Ref):
            if value.key == "@ctx":
                return getattr(self.ctx, value.attr)
            got = outputs.get(value.key, {}).get(value.attr)
            return UNKNOWN if got is None else got
        if isinstance(value, Join):
            parts = [self._resolve(p, outputs) for p in value.parts]
            return UNKNOWN if any(p is UNKNOWN for p in parts) else value.sep.join(str(p) for p in parts)
        if isinstance(value, Mapping):
            return {k: self._resolve(v, outputs) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._resolve(v, outputs) for v in value]
        return value

    def _read(self, res: Resource) -> Actual | None:
        result: Actual | None = self._guard(lambda: self._kind(res).read(self.ctx, res), "read", res.key)
        return result

    def _guard(self, fn: Callable[[], Any], action: str, key: str) -> Any:
        """Run one AWS step; an AWS error becomes one sentence naming the resource."""
        try:
            return fn()
        except ClientError as exc:
            raise ElectionError(f"Could not {action} {key}: {explain(exc)}") from exc

    def _walk(self, keys: list[Any], deps: Mapping[Any, set[Any]], fn: Callable[[Any], None]) -> None:
        """Run fn(key) on a thread pool, each key once all its deps finished; first error stops new work."""
        pending = set(keys)
        done: set[Any] = set()
        running: dict[Future[None], Any] = {}
        error: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=inprocess.DEPLOY_THREADS)
        try:
            while pending or running:
                if error is None:
                    for k in [k for k in keys if k in pending and deps.get(k, set()) <= done]:
                        pending.discard(k)
                        running[pool.submit(fn, k)] = k
                if not running:
                    if pending and error is None:
                        raise ValueError(f"dependency cycle among {sorted(map(str, pending))[:5]}")
                    break
                try:
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                except BaseException:
                    # Ctrl-C: steps under way stop at their next AWS call or wait instead of running on
                    # (the interpreter joins the pool's threads before it exits).
                    self.ctx.cancelled.set()
                    raise
                for fut in finished:
                    k = running.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        error = error or exc
                    else:
                        done.add(k)
                if error is not None:
                    pending.clear()
            if error is not None:
                raise error
        finally:
            pool.shutdown(wait=error is not None or not running, cancel_futures=True)


def _step(res: Resource, action: str, changes: list[Change] | tuple[Change, ...] = (), note: str = "") -> Step:
    return Step(res.key, res.kind, res.region, res.name, action, tuple(changes), note)


def _changes(res: Resource, actual: Actual) -> list[Change]:
    """Field differences; tags are compared when the kind reports them."""
    wanted = dict(res.props)
    if "tags" in actual.props:
        wanted["tags"] = dict(res.tags)
    return diff_props(wanted, actual.props)


def _dependencies(res: Resource) -> set[str]:
    out = set(res.depends_on)

    def scan(v: Any) -> None:
        if isinstance(v, Ref):
            if v.key != "@ctx":
                out.add(v.key)
        elif isinstance(v, Join):
            for p in v.parts:
                scan(p)
        elif isinstance(v, Mapping):
            for x in v.values():
                scan(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                scan(x)

    scan(res.props)
    out.discard(res.key)
    return out


def _topological(deps: Mapping[str, set[str]]) -> list[str]:
    """Stable topological order (Kahn); raises on a cycle."""
    remaining = {k: set(v) for k, v in deps.items()}
    order: list[str] = []
    while remaining:
        ready = [k for k, v in remaining.items() if not v]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(remaining)[:5]}")
        for k in ready:
            order.append(k)
            del remaining[k]
        for v in remaining.values():
            v.difference_update(ready)
    return order


def _plain(value: Any) -> Any:
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
