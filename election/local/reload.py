"""`election dev`'s reload: a changed handler file is picked up by the running stack, as Lambda does.

After UpdateFunctionCode, new invocations of a Lambda function run the new code. Locally the gateways and
pollers call handler objects, so each one they hold is a `Reloadable`: it delegates to the current handler
of its role and is rebuilt, with the same environment, when its module's file changes. A file that no
longer imports (a syntax error mid-edit) keeps the previous code running and says why.

Only the handler modules themselves (election/lambdas/<role>.py) reload. The shared modules (common, logic,
contract) hold state the running stack set up (the log stream, caches), so a change there asks for a
restart of `election dev` instead of half-applying.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

Handler = Callable[[dict, Any], dict]


class Reloadable:
    """A handler that can be swapped for a newer build of itself between invocations."""

    def __init__(self, role: str, env: Mapping[str, str], build: Callable[[str, Mapping[str, str]], Handler]) -> None:
        self.role = role
        self.env = dict(env)
        self._build = build
        self.current: Handler = build(role, self.env)
        self.generation = 0

    def __call__(self, event: dict, context: Any = None) -> dict:
        return self.current(event, context)

    def rebuild(self) -> None:
        self.current = self._build(self.role, self.env)
        self.generation += 1


class Reloader:
    """Makes the stack's handlers (factory) and reloads them when their module files change (check)."""

    def __init__(self, package: str = "election.lambdas", shared: tuple[str, ...] = ("common", "logic", "contract"),
                 say: Callable[[str], None] = print) -> None:
        self.package = package
        self.shared = shared
        self.say = say
        self._handlers: list[Reloadable] = []
        self._mtimes: dict[str, float] = {}
        self._lock = threading.Lock()

    def _module(self, role: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{role}")

    def _build(self, role: str, env: Mapping[str, str]) -> Handler:
        return self._module(role).make_handler(env)

    def factory(self, role: str, env: Mapping[str, str]) -> Reloadable:
        """The LocalStack handler_factory: a Reloadable of election.lambdas.<role>.make_handler(env)."""
        handler = Reloadable(role, env, self._build)
        with self._lock:
            self._handlers.append(handler)
        self._watch(f"{self.package}.{role}")
        for name in self.shared:
            if f"{self.package}.{name}" in sys.modules:
                self._watch(f"{self.package}.{name}")
        return handler

    def _watch(self, module: str) -> None:
        path = self._path(module)
        if path is not None and module not in self._mtimes:
            self._mtimes[module] = path.stat().st_mtime

    def _path(self, module: str) -> Path | None:
        mod = sys.modules.get(module)
        file = getattr(mod, "__file__", None)
        return Path(file) if file else None

    def check(self) -> list[str]:
        """Reload what changed since the last check; returns the roles now running new code."""
        changed = []
        for module, seen in list(self._mtimes.items()):
            path = self._path(module)
            try:
                now = path.stat().st_mtime if path else seen
            except OSError:
                continue
            if now != seen:
                self._mtimes[module] = now
                changed.append(module)
        reloaded = []
        for module in changed:
            name = module.rsplit(".", 1)[-1]
            if name in self.shared:
                self.say(f"{module.replace('.', '/')}.py changed; it is shared by every handler, so restart "
                         "`election dev` to run it.")
                continue
            try:
                importlib.reload(sys.modules[module])
                with self._lock:
                    targets = [h for h in self._handlers if h.role == name]
                for h in targets:
                    h.rebuild()
            except Exception as exc:  # noqa: BLE001 - a half-edited file: keep the old code running
                self.say(f"{module.replace('.', '/')}.py changed but does not load ({exc.__class__.__name__}: {exc});"
                         " the previous code keeps running.")
                continue
            reloaded.append(name)
            self.say(f"Reloaded the {name} function: {len(targets)} handler(s) in the local stack run the new code.")
        return reloaded
