"""Make moto safe for the deployer's threads when it runs in this very process (`mock_aws`).

moto imports a service's models, responses and urls modules lazily, on the
first request for that service. Those modules import each other (and other
services': sts -> iam, lambda -> sqs/dynamodb...), so two threads importing
two services for the first time can each hold one module lock and wait for
the other's: importlib then raises `_DeadlockError` in one of them (measured:
importing the 15 services below from 45 threads at once fails in 12 runs of
12). Importing them once, on one thread, before any thread starts removes the
cause; afterwards every import is a dictionary look-up. And since moto's
backends are not thread-safe either, the deployer's calls into it are answered
one at a time (serialise_moto_calls).
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

# Every AWS service the deployer's kinds call (checked by a test against the kinds' source).
SERVICES = ("acm", "apigatewayv2", "application-autoscaling", "cloudfront", "cloudwatch", "dynamodb", "dynamodbstreams", "iam", "kms",
            "lambda", "logs", "resourcegroupstaggingapi", "route53", "s3", "secretsmanager", "sns", "sqs", "sts")

_done: set[str] = set()
_lock = threading.Lock()


def moto_loaded() -> bool:
    """True when moto is imported in this process, i.e. calls may be answered by moto in-process."""
    return "moto" in sys.modules


def preload_moto(services: tuple[str, ...] = SERVICES) -> None:
    """Import moto's backend, responses and urls modules of `services`, once per process, on this thread."""
    with _lock:
        missing = [s for s in services if s not in _done]
        if not missing:
            return
        from moto.backends import get_backend

        for service in missing:
            backends = get_backend(service)  # type: ignore[call-overload]
            package = backends.backend.__module__.rsplit(".", 1)[0]   # moto.awslambda.models -> moto.awslambda
            for module in ("models", "responses", "urls"):
                importlib.import_module(f"{package}.{module}")
            _done.add(service)


def prepare_for_threads() -> None:
    """With moto in this process, make it safe for the deployer's threads (once; a no-op afterwards)."""
    if moto_loaded():
        preload_moto()            # before any thread: moto's lazy imports deadlock between threads
        serialise_moto_calls()    # its backends are not thread-safe either


_moto_call = threading.RLock()   # re-entrant: a wrapper wrapped twice must not wait for itself
DEPLOY_THREADS = "deploy"   # the name prefix of the engine's pool threads


def serialise_moto_calls() -> None:
    """Let the deployer's threads run their calls into moto in-process one at a time.

    moto's backends are not thread-safe: a listing (describe_alarms, get_routes...)
    iterates a dict that a create on another thread grows, and raises "dictionary
    changed size during iteration". Running the deployer's calls through moto's
    stubber under one lock removes that race at its cause and costs nothing
    measurable: moto in-process is pure Python, so the GIL ran one at a time anyway.
    Only the engine's pool threads take turns: a local stack's pollers call moto
    too, and their long polls (moto sleeps inside ReceiveMessage) must not hold
    anyone up. Installed once per process, on moto's one stubber.
    """
    from moto.core.models import botocore_stubber

    with _lock:
        current = botocore_stubber.process_request
        if getattr(current, "serialised", False):
            return

        def process_request(request: Any) -> Any:
            if not threading.current_thread().name.startswith(DEPLOY_THREADS):
                return current(request)
            with _moto_call:
                return current(request)

        process_request.serialised = True  # type: ignore[attr-defined]
        botocore_stubber.process_request = process_request  # type: ignore[method-assign]
