"""The deployer's threads and moto in-process: lazy imports done up front, calls into moto take turns; Ctrl-C."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from provision_support import ROOT
from test_provision_engine import FakeKind, World, make

from election.provision import inprocess
from election.provision.resources import Resource


def test_preload_covers_every_service_the_deployer_calls() -> None:
    called: set[str] = set()
    for source in (ROOT / "election" / "provision").rglob("*.py"):
        called |= set(re.findall(r"client\(\"([a-z0-9-]+)\"", source.read_text()))
    assert called and called <= set(inprocess.SERVICES), called - set(inprocess.SERVICES)


def run_fresh(code: str) -> str:
    """Run code in a fresh interpreter (nothing of moto imported yet) and return what it printed."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_after_preload_threads_can_use_every_moto_service_at_once() -> None:
    """Without the preload this import storm raised _DeadlockError in 12 runs of 12 (moto 5.2.5, 2 cores)."""
    out = run_fresh("""
        import importlib, threading
        from moto import mock_aws
        from election.provision.inprocess import SERVICES, preload_moto

        preload_moto()
        modules = []
        for s in SERVICES:
            package = "moto." + {"lambda": "awslambda", "application-autoscaling": "applicationautoscaling"}.get(s, s)
            modules += [f"{package}.{m}" for m in ("models", "responses", "urls")]
        barrier, errors = threading.Barrier(len(modules)), []

        def load(name):
            barrier.wait()
            try:
                importlib.import_module(name)
            except BaseException as exc:
                errors.append(f"{name}: {type(exc).__name__}")

        threads = [threading.Thread(target=load, args=(m,)) for m in modules]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(len(modules), errors)
    """)
    assert out == f"{3 * len(inprocess.SERVICES)} []"


def test_a_deployer_run_where_moto_is_loaded_preloads_before_its_threads() -> None:
    out = run_fresh("""
        import sys
        sys.path.insert(0, "tests")
        import moto
        assert "moto.awslambda.responses" not in sys.modules
        from test_provision_engine import World, make
        d = make(World())
        assert "moto.awslambda.responses" not in sys.modules, "building a Deployer prepares nothing"
        d.diff()
        from moto.core.models import botocore_stubber
        assert botocore_stubber.process_request.serialised
        print(all(f"moto.{p}.{m}" in sys.modules for p in ("awslambda", "sts", "iam", "sqs", "dynamodb")
                  for m in ("models", "responses", "urls")))
    """)
    assert out == "True"


class SlowKms(FakeKind):
    """Creating a key waits (as a certificate or a distribution does) through the context's sleep."""

    def __init__(self, world: World) -> None:
        super().__init__("kms_key", world)
        self.waiting = threading.Event()
        self.ended: list[str] = []

    def create(self, ctx: Any, res: Resource) -> dict[str, Any]:
        self.waiting.set()
        try:
            for _ in range(10):
                ctx.sleep(30.0)
        except Exception as exc:
            self.ended.append(type(exc).__name__)
            raise
        return super().create(ctx, res)


def test_ctrl_c_stops_the_steps_under_way_instead_of_letting_them_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from election.provision import walk

    world = World()
    slow = SlowKms(world)
    d = make(world, kms_key=slow)
    d.ctx._sleep = None   # the real, interruptible wait (make() injects one that returns at once)
    real_wait = walk.wait

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if not slow.waiting.is_set():   # discovery and the steps before the keys: let them finish
            return real_wait(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(walk, "wait", interrupted)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        d.apply()
    monkeypatch.setattr(walk, "wait", real_wait)
    deadline = time.monotonic() + 5
    while not slow.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)   # the other region's key, if its step had started
    assert slow.ended and set(slow.ended) == {"Cancelled"}   # the waits under way stopped
    assert time.monotonic() - started < 5             # not after their 300 s of waits
    assert not any("/kms_key/" in k for _, k in world.log)


def test_the_deployers_threads_take_turns_inside_moto_and_no_one_else_waits(
        aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """While one deploy thread is inside moto, another deploy thread waits for it; a poller thread does not."""
    from moto import mock_aws
    from moto.core.models import botocore_stubber

    from election.provision.inprocess import DEPLOY_THREADS

    with mock_aws():
        d = make(World())
        inside: list[str] = []
        release = threading.Event()
        original = botocore_stubber.process_request

        def held(request: Any) -> Any:
            inside.append(threading.current_thread().name)
            if threading.current_thread().name == f"{DEPLOY_THREADS}_first":
                release.wait(10)   # the slow listing another thread's write would race
            return original(request)

        monkeypatch.setattr(botocore_stubber, "process_request", held)
        inprocess.serialise_moto_calls()   # wraps the instrumented stubber, as the walker wraps moto's own

        def call() -> None:
            d.ctx.client("cloudwatch", "us-east-1").describe_alarms()

        threads = {name: threading.Thread(target=call, name=name)
                   for name in (f"{DEPLOY_THREADS}_first", f"{DEPLOY_THREADS}_second", "poller")}
        threads[f"{DEPLOY_THREADS}_first"].start()
        deadline = time.monotonic() + 5
        while not inside and time.monotonic() < deadline:
            time.sleep(0.01)
        threads[f"{DEPLOY_THREADS}_second"].start()
        threads["poller"].start()
        threads["poller"].join(5)
        assert not threads["poller"].is_alive()          # nobody else is held up by the deployer's turns
        time.sleep(0.2)
        assert f"{DEPLOY_THREADS}_second" not in inside  # the second deploy thread waits its turn
        release.set()
        for t in threads.values():
            t.join(5)
        assert inside == [f"{DEPLOY_THREADS}_first", "poller", f"{DEPLOY_THREADS}_second"]
