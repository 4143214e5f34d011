"""Run steps on a thread pool as soon as their dependencies finish (Stacker's walker, in one function)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from election.provision import inprocess


def walk(keys: list[Hashable], deps: Mapping[Hashable, set[Hashable]], fn: Callable[[Hashable], None],
         workers: int, cancelled: threading.Event) -> None:
    """Run fn(key) on a thread pool, each key once all its deps finished; the first error stops new work.

    Ctrl-C sets `cancelled`, so steps under way stop at their next AWS call or wait. With moto in this
    process, its lazy imports are done and its calls serialised before the pool's threads start
    (provision/inprocess.py says why): the one place that starts the deployer's threads prepares for them.
    """
    inprocess.prepare_for_threads()
    pending = set(keys)
    done: set[Hashable] = set()
    running: dict[Future[None], Hashable] = {}
    error: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=inprocess.DEPLOY_THREADS)
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
                cancelled.set()
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


def topological(deps: Mapping[str, set[str]]) -> list[str]:
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


def dependents(deps: Mapping[str, set[str]], among: set[str]) -> dict[str, set[str]]:
    """For each key of `among`: the keys of `among` that depend on it, directly or through keys not in `among`.

    Destroy walks the graph reversed with it: a resource goes once everything built on it has gone,
    even when something in between no longer exists.
    """
    users: dict[str, set[str]] = {}
    for k, ds in deps.items():
        for d in ds:
            users.setdefault(d, set()).add(k)
    out: dict[str, set[str]] = {}
    for k in among:
        found: set[str] = set()
        stack, seen = list(users.get(k, ())), set()
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            if u in among:
                found.add(u)    # its own dependents wait for it in turn
            else:
                stack.extend(users.get(u, ()))
        out[k] = found
    return out
