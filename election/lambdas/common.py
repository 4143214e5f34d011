"""What every handler shares: configuration from the environment, boto3 clients, the polls cache,
and HTTP responses with CORS and security headers (metrics: metrics.py; secrets: keys.py).

Nothing here lives in module globals: each handler instance (one per region, several may
share a process in the local runtime) holds its own Config, clients and pepper cache.
Standard library and boto3 only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.session

from election.lambdas import contract

# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The deployer-set environment of one function, parsed once per container."""

    plan: str
    region: str
    voters_table: str
    ballots_table: str
    results_table: str
    votes_queue_urls: Mapping[str, str]
    handoff_queue_url: str
    state_regions: Mapping[str, str]
    ballot: contract.Ballot
    voter_pepper_secret: str
    ballot_pepper_secret: str
    allowed_origins: tuple[str, ...]
    namespace: str
    endpoint_url: str | None
    # The function's role credentials, as the Lambda runtime sets them in the environment. Clients use
    # them explicitly (not the process's default chain) so that several functions sharing a process in
    # the local runtime each act as their own role.
    credentials: tuple[str, str, str | None] | None = field(default=None, repr=False)


def load_config(env: Mapping[str, str]) -> Config:
    """Parse the environment; a missing variable raises KeyError naming it (a deployer bug)."""
    origins = parse_origins(env.get(contract.ENV_ALLOWED_ORIGINS) or "")
    return Config(
        plan=env.get(contract.ENV_PLAN, "election"),
        region=env[contract.ENV_REGION],
        voters_table=env.get(contract.ENV_VOTERS_TABLE, ""),
        ballots_table=env.get(contract.ENV_BALLOTS_TABLE, ""),
        results_table=env.get(contract.ENV_RESULTS_TABLE, ""),
        votes_queue_urls=json.loads(env.get(contract.ENV_VOTES_QUEUE_URLS) or "{}"),
        handoff_queue_url=env.get(contract.ENV_HANDOFF_QUEUE_URL, ""),
        state_regions=json.loads(env.get(contract.ENV_STATE_REGIONS) or "{}"),
        ballot=contract.Ballot.from_env(env.get(contract.ENV_BALLOT)),
        voter_pepper_secret=env.get(contract.ENV_VOTER_PEPPER_SECRET, ""),
        ballot_pepper_secret=env.get(contract.ENV_BALLOT_PEPPER_SECRET, ""),
        allowed_origins=origins,
        namespace=env.get(contract.ENV_METRICS_NAMESPACE) or "Election",
        endpoint_url=env.get(contract.ENV_ENDPOINT_URL) or None,
        credentials=(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"))
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY") else None,
    )


def parse_origins(text: str) -> tuple[str, ...]:
    """ALLOWED_ORIGINS (comma-separated) as a tuple, blanks dropped."""
    return tuple(o.strip() for o in text.split(",") if o.strip())


# --- clients -----------------------------------------------------------------------------------

# Short timeouts: an API handler must answer within the API's 30 s and fall back quickly.
_FAST = botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"},
                               max_pool_connections=16)


_LOADER_LOCK = threading.Lock()
_LOADER: list[Any] = []


def new_session() -> Any:
    """A boto3 session for one handler instance, sharing botocore's data loader with the others.

    Sessions are not shared (each handler builds its clients from its own), but parsing the
    service models and endpoint data costs ~0.2 s per session, so the loader and its cache are.
    """
    core = botocore.session.get_session()
    with _LOADER_LOCK:
        if _LOADER:
            core.register_component("data_loader", _LOADER[0])
        else:
            _LOADER.append(core.get_component("data_loader"))
    return boto3.session.Session(botocore_session=core)


def make_client(cfg: Config, service: str, region: str | None = None,
                config: botocore.config.Config = _FAST, session: Any = None) -> Any:
    """A client for `service` in `region` (default: this function's), honouring AWS_ENDPOINT_URL.

    Pass the handler's own `session` (new_session()); clients are built once, at handler creation.
    Against a local endpoint (moto on loopback) a slow answer means an overloaded laptop, not a
    failed region, so timeouts are relaxed there instead of failing votes over.
    """
    if cfg.endpoint_url:
        config = config.merge(botocore.config.Config(connect_timeout=5, read_timeout=30))
    session = session or new_session()
    keys: dict[str, Any] = {}
    if cfg.credentials is not None:
        keys = dict(zip(("aws_access_key_id", "aws_secret_access_key", "aws_session_token"), cfg.credentials,
                        strict=True))
    return session.client(service, region_name=region or cfg.region, endpoint_url=cfg.endpoint_url, config=config,
                          **keys)


class PollsCache:
    """Whether the polls are open, read from this region's results table at most every `ttl` seconds."""

    def __init__(self, dynamodb: Any, table: str, ttl: float = contract.POLLS_CACHE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ddb = dynamodb
        self._table = table
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._item: dict[str, Any] | None = None
        self._read_at = float("-inf")

    def item(self) -> dict[str, Any]:
        """The polls item as plain values ({} when it does not exist: polls open)."""
        with self._lock:
            now = self._clock()
            if now - self._read_at >= self._ttl:
                raw = self._ddb.get_item(TableName=self._table, Key={contract.RESULTS_KEY: {"S": contract.POLLS_ITEM}})
                self._item = {k: plain(v) for k, v in raw.get("Item", {}).items()}
                self._read_at = now
            return dict(self._item or {})

    def is_open(self) -> bool:
        """A missing polls item means open, so a fresh deployment can vote before `election open`."""
        return bool(self.item().get("open", True))


def plain(value: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value (low-level shape) as a plain Python value (numbers as int)."""
    (kind, v), = value.items()
    if kind == "S":
        return v
    if kind == "N":
        return int(v) if re.fullmatch(r"-?\d+", v) else float(v)
    if kind == "BOOL":
        return bool(v)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(x) for k, x in v.items()}
    if kind == "L":
        return [plain(x) for x in v]
    return v


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


# --- HTTP --------------------------------------------------------------------------------------

SECURITY_HEADERS: dict[str, str] = {
    "Content-Type": "application/json; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
NO_STORE = "no-store"
MAX_BODY_BYTES = 1024


def origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    """Exact match, or a pattern whose port is `*` (e.g. http://127.0.0.1:* for the local stack)."""
    for pattern in allowed:
        if pattern == "*" or pattern == origin:
            return True
        if pattern.endswith(":*") and re.fullmatch(re.escape(pattern[:-2]) + r":\d{1,5}", origin):
            return True
    return False


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header; payload format 2.0 lower-cases names, but be lenient with tests and proxies."""
    headers = event.get("headers") or {}
    if name in headers:
        return headers[name]
    lname = name.lower()
    for k, v in headers.items():
        if k.lower() == lname:
            return v
    return None


def cors_headers(event: Mapping[str, Any], cfg: Config) -> dict[str, str]:
    """Access-Control-Allow-Origin for an allowed Origin (echoed, never `*` unless configured)."""
    origin = header(event, "origin")
    out = {"Vary": "Origin"}
    if origin and origin_allowed(origin, cfg.allowed_origins):
        out["Access-Control-Allow-Origin"] = origin
    return out


def respond(event: Mapping[str, Any], cfg: Config, status: int, body: Mapping[str, Any] | None,
            cache: str = NO_STORE) -> dict[str, Any]:
    """An API Gateway (payload 2.0) response with JSON body, CORS and security headers."""
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = cache
    headers.update(cors_headers(event, cfg))
    out: dict[str, Any] = {"statusCode": status, "headers": headers, "isBase64Encoded": False}
    out["body"] = "" if body is None else json_text(body)
    return out


def json_text(body: Mapping[str, Any]) -> str:
    """Compact JSON that is always valid UTF-8: a lone surrogate (from a caller's "\\ud800") is escaped.

    Lambda must encode the answer as UTF-8; text it cannot encode fails the invocation (a 500).
    """
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
    return text


def error(event: Mapping[str, Any], cfg: Config, status: int, code: str, message: str,
          **extra: Any) -> dict[str, Any]:
    """The one error shape: {"error": code, "message": sentence} (plus documented extras)."""
    return respond(event, cfg, status, {"error": code, "message": message, **extra})


def _route_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$")


ROUTE_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (key.split(" ", 1)[0], _route_pattern(key.split(" ", 1)[1])) for key in contract.ROUTES if " " in key)


def unrouted(event: Mapping[str, Any], cfg: Config) -> dict[str, Any]:
    """The answer of the API's `$default` route: 405 for a known path with another method, else 404.

    Neither repeats the caller's path or method (they are caller-controlled text).
    """
    request_path = path(event)
    allowed = sorted({m for m, pattern in ROUTE_PATHS if pattern.match(request_path)})
    if allowed:
        resp = error(event, cfg, 405, "method_not_allowed",
                     f"This path accepts only {' and '.join(allowed)} requests.")
        resp["headers"]["Allow"] = ", ".join([*allowed, "OPTIONS"])
        return resp
    return error(event, cfg, 404, "not_found", "There is no such route; see the API's documentation.")


def preflight(event: Mapping[str, Any], cfg: Config, methods: str) -> dict[str, Any]:
    """Answer a CORS preflight (normally API Gateway answers it; this is for when it reaches us)."""
    resp = respond(event, cfg, 204, None)
    if "Access-Control-Allow-Origin" in resp["headers"]:
        resp["headers"].update({
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "content-type",
            "Access-Control-Max-Age": "600",
        })
    del resp["headers"]["Content-Type"]
    return resp


def method(event: Mapping[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or event.get("httpMethod") or "GET").upper()


def path(event: Mapping[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(event.get("rawPath") or http.get("path") or "/")


def route(event: Mapping[str, Any]) -> str:
    """"METHOD /path" of the request: API Gateway's routeKey, else built from method and raw path."""
    key = event.get("routeKey")
    if key and key != "$default":
        return str(key)
    return f"{method(event)} {path(event)}"


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes (decoding base64 when API Gateway says so)."""
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            return b"\xff"  # undecodable: reported as malformed JSON
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def now_iso(clock: Callable[[], float] = time.time) -> str:
    """UTC time to the second, ISO 8601 with Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))


class LazyHandler:
    """The Lambda entry point: builds one instance from os.environ on its first call.

    Lambda imports the module once per container; building on first call (not at import)
    keeps imports cheap for the local runtime and tests, which build their own instances.
    """

    def __init__(self, make: Callable[[Mapping[str, str]], Callable[[dict, Any], dict]]) -> None:
        self.make = make
        self.instance: Callable[[dict, Any], dict] | None = None

    def __call__(self, event: dict, context: Any) -> dict:
        if self.instance is None:
            self.instance = self.make(os.environ)
        return self.instance(event, context)
