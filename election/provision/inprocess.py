"""Make moto safe for the deployer's threads when it runs in this very process (`mock_aws`).

moto imports a service's models, responses and urls modules lazily, on the
first request for that service. Those modules import each other (and other
services': sts -> iam, lambda -> sqs/dynamodb...), so two threads importing
two services for the first time can each hold one module lock and wait for
the other's: importlib then raises `_DeadlockError` in one of them (measured:
importing the 15 services below from 45 threads at once fails in 12 runs of
12). Importing them once, on one thread, before any thread starts removes the
cause; afterwards every import is a dictionary look-up.
"""

from __future__ import annotations

import importlib
import sys
import threading

# Every AWS service the deployer's kinds call (checked by a test against the kinds' source).
SERVICES = ("acm", "apigatewayv2", "cloudfront", "cloudwatch", "dynamodb", "dynamodbstreams", "iam", "kms",
            "lambda", "logs", "route53", "s3", "secretsmanager", "sqs", "sts")

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
