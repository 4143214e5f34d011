"""A region's HTTP API, played locally: HTTP -> API Gateway v2 (payload 2.0) event -> the real handler.

Routes come from the contract (`ROUTES`); a request no route matches goes to
the `$default` route's handler with routeKey "$default", as on AWS (it answers
404/405 {"error","message"}). CORS preflights are answered by the gateway
itself (as an HTTP API with CORS configuration does) for the origins the
handlers themselves allow (`common.origin_allowed`, same list); oversized
bodies are refused from their Content-Length with 413, as API Gateway does,
and `Transfer-Encoding` is refused (httpserve.py).

Differs from AWS: methods outside API Gateway's set (GET, POST, PUT, PATCH,
DELETE, HEAD, OPTIONS) get a 405 {"error","message"} from the gateway itself.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from election.lambdas.common import origin_allowed
from election.lambdas.contract import DEFAULT_ROUTE, ROUTES
from election.local.httpserve import MAX_BODY, BodyRefused, BoundedRequest, LoopbackServer, listen, serve_in_background
from election.local.pollers import LambdaContext

log = logging.getLogger("election.local")
Handler = Callable[[Mapping[str, Any], Any], Any]
CORS_METHODS = "GET,POST,OPTIONS"
CORS_HEADERS = "content-type"
API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
JSON = {"content-type": "application/json"}


def _compile(route: str) -> tuple[str, re.Pattern[str]]:
    method, path = route.split(" ", 1)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return method, re.compile(f"^{pattern}$")


class Routes:
    """Route key -> handler; matching gives the route key and path parameters."""

    def __init__(self, handlers: Mapping[str, Handler], routes: Mapping[str, str] = ROUTES) -> None:
        self.table = [(key, *_compile(key), handlers[role], role) for key, role in routes.items()
                      if role in handlers and key != DEFAULT_ROUTE]
        role = routes.get(DEFAULT_ROUTE)
        self.default: tuple[Handler, str] | None = (handlers[role], role) if role and role in handlers else None

    def match(self, method: str, path: str) -> tuple[str, dict[str, str], Handler, str] | None:
        for key, m, pattern, handler, role in self.table:
            found = pattern.match(path)
            if found and m == method:
                return key, found.groupdict(), handler, role
        return None


def build_event(method: str, raw_path: str, headers: Mapping[str, str], body: bytes, route_key: str,
                path_params: Mapping[str, str], source_ip: str, domain: str) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0."""
    split = urlsplit(raw_path)
    now = datetime.now(UTC)
    lowered: dict[str, str] = {}
    for k, v in headers.items():
        lowered[k.lower()] = f"{lowered[k.lower()]},{v}" if k.lower() in lowered else v
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": route_key, "rawPath": split.path, "rawQueryString": split.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": domain, "domainPrefix": "local",
            "http": {"method": method, "path": split.path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": uuid.uuid4().hex, "routeKey": route_key, "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000)},
        "isBase64Encoded": False,
    }
    if split.query:
        params: dict[str, str] = {}
        for k, v in parse_qsl(split.query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    if path_params:
        event["pathParameters"] = dict(path_params)
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    if "cookie" in lowered:
        event["cookies"] = [c.strip() for c in lowered["cookie"].split(";")]
    return event


def to_http(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A handler's return value as API Gateway turns it into HTTP (payload 2.0 rules)."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(result["statusCode"]), headers, raw


class Gateway:
    """One region's API on loopback; stop() and start() take it down and up again on the same port."""

    def __init__(self, region: str, handlers: Mapping[str, Handler], port: int = 0, host: str = "127.0.0.1",
                 allowed_origins: tuple[str, ...] = (), timeout_s: float = 10.0) -> None:
        self.region = region
        self.routes = Routes(handlers)
        self.host = host
        self.port = port
        self.allowed_origins = allowed_origins
        self.timeout_s = timeout_s
        self.requests = 0
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        server = listen(LoopbackServer, self.host, self.port, _handler_class(self), f"the {self.region} API")
        self.port = server.server_address[1]
        self._server = server
        self._thread = serve_in_background(server, f"gateway-{self.region}")

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()   # open keep-alive connections too: a region that is down answers nothing
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def origin_allowed(self, origin: str) -> bool:
        """The handlers' own check on the handlers' own list (ALLOWED_ORIGINS), nothing looser."""
        return origin_allowed(origin, self.allowed_origins)

    def invoke(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes,
               source_ip: str) -> tuple[int, dict[str, str], bytes]:
        """Route one request to its handler, as API Gateway would."""
        self.requests += 1
        path = urlsplit(raw_path).path
        origin = headers.get("Origin") or headers.get("origin") or ""
        cors = {}
        if origin and self.origin_allowed(origin):
            cors = {"access-control-allow-origin": origin, "vary": "Origin"}
        if method == "OPTIONS" and origin:
            return 204, {**cors, "access-control-allow-methods": CORS_METHODS,
                         "access-control-allow-headers": CORS_HEADERS, "access-control-max-age": "600"}, b""
        if method not in API_METHODS:
            return 405, {**JSON, **cors, "allow": ", ".join(API_METHODS)}, json.dumps(
                {"error": "method_not_allowed", "message": "The API accepts GET, POST and OPTIONS requests."}).encode()
        if len(body) > MAX_BODY:
            return 413, {**JSON, **cors}, json.dumps(
                {"error": "body_too_large", "message": f"The request body is over {MAX_BODY} bytes."}).encode()
        found = self.routes.match(method, path)
        if found is not None:
            route_key, params, handler, role = found
        elif self.routes.default is not None:
            route_key, params, (handler, role) = DEFAULT_ROUTE, {}, self.routes.default
        else:
            return 404, {**JSON, **cors}, json.dumps({"error": "not_found", "message": "There is no such route."}).encode()
        event = build_event(method, raw_path, headers, body, route_key, params, source_ip, f"{self.host}:{self.port}")
        try:
            status, out_headers, out = to_http(handler(event, LambdaContext(role, self.timeout_s)))
        except Exception as exc:  # noqa: BLE001 - API Gateway answers 500 when the function fails
            # (including an answer Lambda cannot encode as UTF-8)
            log.warning("%s %s: handler %s raised %s", self.region, route_key, role, exc)
            return 500, {**JSON, **cors}, b'{"message":"Internal Server Error"}'
        for k, v in cors.items():
            out_headers.setdefault(k, v)
        return status, out_headers, out


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class GatewayRequest(BoundedRequest):
        server_version = "election-local-apigw"

        def _serve(self) -> None:
            try:
                body = self.read_body()
            except BodyRefused as refused:
                return self.refuse(refused)
            status, headers, out = gateway.invoke(self.command, self.path, dict(self.headers.items()), body,
                                                  self.client_address[0])
            kept = [(k, v) for k, v in headers.items() if k not in ("content-length", "connection")]
            self.answer(status, [*kept, ("apigw-requestid", uuid.uuid4().hex[:16])], out)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the gateway (which answers unknown ones 405 in JSON), not http.server's HTML 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

    return GatewayRequest
