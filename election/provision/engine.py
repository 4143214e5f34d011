"""The deployer: read what exists, diff field by field, apply in dependency order, destroy in reverse.

Stateless: every resource has a deterministic name and carries the plan tag,
so `diff`, `apply`, `destroy` and `status` discover what exists from AWS.
Steps run on a thread pool as soon as their dependencies finish, so regions
proceed in parallel. Collaborators come in through the constructor (client
provider, sleep), so tests run it on moto with a sleep that returns at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from election.errors import ElectionError, explain
from election.lambdas import contract
from election.plan import Plan
from election.provision import model
from election.provision.clients import ClientProvider
from election.provision.context import Cancelled, RunContext
from election.provision.kinds import REGISTRY
from election.provision.kinds.base import Kind
from election.provision.kinds.dynamodb import Table, recent_replicas
from election.provision.kinds.lookups import has_items
from election.provision.resources import Actual, Change, Found, Join, Ref, Resource, diff_props, ref_keys
from election.provision.steps import UNKNOWN, Action, PlanResult, Step
from election.provision.walk import dependents, topological, walk

__all__ = ["Action", "Cancelled", "Deployer", "PlanResult", "Step"]

Progress = Callable[[str, str], None]
# Kept by `down` unless --destroy-data, like ballots: a new hosted zone gets new name servers.
KEPT_ON_DOWN = ("hosted_zone",)


@dataclass
class _Shown:
    """The last diff: what it read per resource (None: absent) and what it found to delete."""

    result: PlanResult | None
    known: dict[str, Actual | None]
    leftovers: list[Found]


class Deployer:
    """Diff, apply and destroy one plan; `outputs` of the last apply are kept on the instance."""

    def __init__(self, plan: Plan, provider: ClientProvider, sleep: Callable[[float], None] | None = None,
                 site_dir: Path = Path("website"), lambdas_dir: Path | None = None,
                 registry: Mapping[str, Kind] | None = None, workers: int = 8, edge: bool = True,
                 clock: Callable[[], float] = time.time, resources: list[Resource] | None = None) -> None:
        self.plan = plan
        self.clock = clock
        self.provider = provider
        self.ctx = RunContext(plan, provider, sleep)
        self.registry = dict(registry if registry is not None else REGISTRY)
        self.workers = workers
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
        self.order = topological(self.deps)
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
            # `_after`: dependencies that only order the work (they are no input of this resource).
            if any(steps[d].action == Action.CREATE for d in self.deps[k] - set(res.props.get("_after", ()))):
                # Its inputs do not exist yet, so neither can it (and its inputs cannot be read back).
                outputs[k] = {}
                steps[k] = _step(res, Action.CREATE)
                return
            actual = self._read(res)
            known[k] = actual
            if actual is None:
                outputs[k] = {}
                steps[k] = _step(res, Action.CREATE)
                return
            outputs[k] = actual.outputs
            changes = _changes(res, actual)
            note = ("retired: the polls were closed; not recreated" if actual.outputs.get("retired")
                    else actual.outputs.get("waiting", ""))   # a voters table waiting for its roll (kinds/roll_import)
            steps[k] = _step(res, Action.UPDATE if changes else Action.NOOP, changes, note)

        self._walk(list(self.order), self.deps, one)
        self.outputs = outputs
        leftovers = self._leftovers()
        deletions = [Step(f.key, f.kind, f.region, f.name, Action.DELETE) for f in leftovers]
        result = PlanResult([steps[k] for k in self.order] + deletions)
        self._shown = _Shown(result, known, leftovers)
        return result

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
                outputs[k] = self._guard(lambda: kind.create(self.ctx, res), Action.CREATE, k)
                report(k, "created")
                return
            changes = _changes(res, actual)
            if not changes:
                outputs[k] = actual.outputs
                report(k, "retired" if actual.outputs.get("retired") else "unchanged")
                return
            report(k, "updating")
            got = self._guard(lambda: kind.update(self.ctx, res, actual, changes), Action.UPDATE, k)
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
        """Delete on the plan's dependency graph reversed: a resource once everything built on it is gone.

        What the plan no longer has (not in the graph) goes first, by kind rank (see _leftover_order):
        nothing in the plan can depend on it, while it may still use what the plan has.
        """
        by_key = {f.key: f for f in found}
        in_graph = {k for k in by_key if k in self.by_key}
        leftovers = [f for f in found if f.key not in in_graph]
        deps: dict[str, set[str]] = {k: set(v) for k, v in dependents(self.deps, in_graph).items()}
        deps.update(_leftover_order(leftovers, list(self.registry), self.plan.primary_region))
        for k in in_graph:
            deps[k] |= {f.key for f in leftovers}

        def one(k: str) -> None:
            f = by_key[k]
            report(k, "deleting")
            self._guard(lambda: self.registry[f.kind].delete(self.ctx, f), Action.DELETE, k)
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
        """Run one step of one resource; what goes wrong says which resource and what was being done.

        An AWS or client error becomes one sentence naming the resource; a kind's own ElectionError
        already is one; anything else is a bug and keeps its traceback, with a note naming the step.
        """
        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            raise ElectionError(f"Could not {action} {key}: {explain(exc)}") from exc
        except (ElectionError, Cancelled):
            raise
        except Exception as exc:
            exc.add_note(f"while trying to {action} {key}")
            raise

    def _walk(self, keys: list[Any], deps: Mapping[Any, set[Any]], fn: Callable[[Any], None]) -> None:
        walk(keys, deps, fn, self.workers, self.ctx.cancelled)


def _step(res: Resource, action: Action, changes: list[Change] | tuple[Change, ...] = (), note: str = "") -> Step:
    return Step(res.key, res.kind, res.region, res.name, action, tuple(changes), note)


def _changes(res: Resource, actual: Actual) -> list[Change]:
    """Field differences; tags are compared when the kind reports them."""
    wanted = dict(res.props)
    if "tags" in actual.props:
        wanted["tags"] = dict(res.tags)
    return diff_props(wanted, actual.props)


def _dependencies(res: Resource) -> set[str]:
    """What a resource waits for: its depends_on and every resource its props refer to."""
    out = set(res.depends_on) | {k for k in ref_keys(res.props) if k != "@ctx"}
    out.discard(res.key)
    return out


def _leftover_order(found: list[Found], kinds: list[str], primary: str) -> dict[str, set[str]]:
    """Deletion dependencies of resources outside the plan's graph: reverse registration order of their
    kinds (a kind is registered after the kinds it may depend on), within a kind the primary region last."""
    rank = {name: i for i, name in enumerate(kinds)}

    def level(f: Found) -> tuple[int, int]:
        return (-rank.get(f.kind, len(rank)), 1 if f.region == primary else 0)

    levels = sorted({level(f) for f in found})
    deps: dict[str, set[str]] = {}
    for f in found:
        earlier = [lvl for lvl in levels if lvl < level(f)]
        deps[f.key] = {g.key for g in found if earlier and level(g) == earlier[-1]}
    return deps
