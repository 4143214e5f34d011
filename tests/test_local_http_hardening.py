"""The local HTTP layer against hostile clients: Transfer-Encoding, odd methods, bursts, CORS, the control token."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from stack_support import raw_exchange

from election.errors import ElectionError
from election.local import httpserve
from election.local.control import ControlServer, send
from election.local.gateway import Gateway
from election.local.router import Router
from election.local.static import StaticSite
from election.provision.model.site import page_csp

ROOT = Path(__file__).resolve().parents[1]



def responses(got: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP response in a byte stream (bodies framed by Content-Length)."""
    out = []
    while got:
        head, _, rest = got.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next((int(v) for k, _, v in (x.partition(b":") for x in lines[1:]) if k.lower() == b"content-length"),
                      0)
        out.append((status, rest[:length]))
        got = rest[length:]
    return out


@pytest.fixture
def gateway() -> Any:
    calls: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        if event["routeKey"] == "$default":
            return {"statusCode": 404, "body": json.dumps({"error": "not_found", "message": "No route."})}
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"ok":true}'}

    gw = Gateway("us-east-1", {r: handler for r in ("enqueue", "results", "receipt", "health")},
                 allowed_origins=("https://vote.example.org", "http://127.0.0.1:*", "http://localhost:*"))
    gw.start()
    yield gw, calls
    gw.stop()


@pytest.fixture
def servers(gateway: Any, tmp_path: Path) -> Any:
    """Every local server: gateway, router, static site, control endpoint."""
    gw, _ = gateway
    (tmp_path / "index.html").write_text("<!doctype html><title>vote</title>")
    router = Router({"us-east-1": gw.url}, interval_s=60)
    site = StaticSite(tmp_path, {"api": ["http://127.0.0.1:9", "http://127.0.0.1:10/"]})
    control = ControlServer(lambda r: None, lambda r: None, lambda: {"ok": True})
    for s in (router, site, control):
        s.start()
    yield {"gateway": gw.url, "router": router.url, "static": site.url.rstrip("/"), "control": control.url}
    for s in (control, site, router):
        s.stop()


SMUGGLED = (b"POST /votes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2c\r\nGET /health HTTP/1.1\r\nHost: x\r\nX-Smuggled: 1\r\n\r\n\r\n0\r\n\r\n")


@pytest.mark.parametrize("which", ["gateway", "router", "static", "control"])
def test_transfer_encoding_is_refused_and_its_chunks_are_never_a_second_request(servers: Any, gateway: Any,
                                                                               which: str) -> None:
    got = responses(raw_exchange(servers[which], SMUGGLED))
    assert [s for s, _ in got] == [411]      # one answer: the chunk bytes were not read as a request
    assert json.loads(got[0][1])["error"] == "length_required"
    # no handler ran for the refused POST nor for the smuggled GET (the router's own health checks may)
    assert not [e for e in gateway[1] if "x-smuggled" in e["headers"] or e["rawPath"] == "/votes"]


@pytest.mark.parametrize("which", ["gateway", "router", "static", "control"])
@pytest.mark.parametrize("method", ["TRACE", "FOO", "CONNECT"])
def test_unknown_methods_and_trace_get_405_in_json(servers: Any, which: str, method: str) -> None:
    got = responses(raw_exchange(servers[which], f"{method} /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()))
    assert got[0][0] == 405
    assert set(json.loads(got[0][1])) == {"error", "message"}


@pytest.mark.parametrize("which", ["gateway", "router", "static", "control"])
def test_malformed_requests_get_4xx_json_never_5xx(servers: Any, which: str) -> None:
    for bad in (b"GET / HTTP/2.0\r\n\r\n", b"\x00\xff garbage\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n"):
        got = responses(raw_exchange(servers[which], bad))
        assert got and 400 <= got[0][0] < 500, (bad[:30], got)
        assert json.loads(got[0][1])["error"]


def test_unknown_paths_go_to_the_default_route_in_the_api_shape(gateway: Any) -> None:
    gw, calls = gateway
    got = responses(raw_exchange(gw.url, b"DELETE /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert got[0][0] == 404 and json.loads(got[0][1]) == {"error": "not_found", "message": "No route."}
    assert calls[-1]["routeKey"] == "$default" and calls[-1]["requestContext"]["http"]["method"] == "DELETE"


@pytest.mark.parametrize("origin,allowed", [
    ("http://127.0.0.1:7702", True), ("http://localhost:8080", True), ("https://vote.example.org", True),
    ("file://localhost", False), ("null", False), ("http://localhost.evil.example", False),
    ("https://127.0.0.1:7702", False), ("http://127.0.0.1:7702.evil.example", False),
])
def test_the_gateway_allows_exactly_the_origins_the_handlers_allow(gateway: Any, origin: str, allowed: bool) -> None:
    from election.lambdas.common import origin_allowed

    gw, _ = gateway
    assert origin_allowed(origin, gw.allowed_origins) is allowed
    req = urllib.request.Request(gw.url + "/votes", method="OPTIONS",
                                 headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert (r.headers.get("access-control-allow-origin") == origin) is allowed


def test_a_burst_of_connections_is_queued_not_refused() -> None:
    """300 clients connect while the server is not accepting yet: the backlog must hold them all."""
    from election.local.httpserve import BoundedRequest, LoopbackServer, listen, serve_in_background

    class Ok(BoundedRequest):
        def do_GET(self) -> None:
            self.answer(200, [], b"ok")

    server = listen(LoopbackServer, "127.0.0.1", 0, Ok, "test")
    port = server.server_address[1]
    socks = []
    try:
        for _ in range(300):
            s = socket.socket()
            s.settimeout(1.0)
            s.connect(("127.0.0.1", port))   # completes in the kernel's accept queue, or times out
            socks.append(s)
        thread = serve_in_background(server, "burst")
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answered = sum(1 for s in socks if s.recv(64).startswith(b"HTTP/1.1 200"))
        assert answered == 300
    finally:
        for s in socks:
            s.close()
        server.stop()
    thread.join(5)
    assert httpserve.LoopbackServer.request_queue_size >= 128


def test_64_concurrent_ballots_through_the_router_5_rounds_are_all_answered(gateway: Any) -> None:
    gw, _ = gateway
    router = Router({"us-east-1": gw.url}, interval_s=60)
    router.start()
    try:
        def ballot(_: int) -> int:
            req = urllib.request.Request(router.url + "/ballot", data=b'{"voter_id":"x"}', method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        with ThreadPoolExecutor(64) as pool:
            for _ in range(5):
                assert list(pool.map(ballot, range(64))) == [200] * 64
    finally:
        router.stop()


# --- the control endpoint ---------------------------------------------------------------------------


@pytest.fixture
def control() -> Any:
    taken: list[str] = []
    c = ControlServer(taken.append, taken.append, lambda: {"us-east-1": "down" if taken else "up"})
    c.start()
    yield c, taken
    c.stop()


def post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_control_endpoint_needs_its_token_and_refuses_web_pages(control: Any) -> None:
    c, taken = control
    url = c.url + "/regions/us-east-1/down"
    assert post(url, {})[0] == 401
    assert post(url, {"Authorization": "Bearer wrong"})[0] == 401
    status, body = post(url, {"Authorization": f"Bearer {c.token}", "Origin": "https://evil.example"})
    assert (status, body["error"]) == (403, "cross_origin")
    # what a cross-site form post from any page looks like: no token, an Origin
    assert post(url, {"Origin": "null", "Content-Type": "text/plain"})[0] == 403
    assert taken == []
    assert send(c.url, "down", "us-east-1", c.token) == {"us-east-1": "down"} and taken == ["us-east-1"]
    with pytest.raises(ElectionError, match="token"):
        send(c.url, "up", "us-east-1", "nope")


def test_tokens_differ_per_stack_and_are_long() -> None:
    a, b = (ControlServer(lambda r: None, lambda r: None, dict) for _ in range(2))
    assert a.token != b.token and len(a.token) >= 40


# --- the page's CSP ------------------------------------------------------------------------------------


def meta_csp() -> dict[str, list[str]]:
    import re

    html = (ROOT / "website" / "index.html").read_text()
    content = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert content
    return directives(content[1])


def directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}


def covered(source: str, allowed: list[str]) -> bool:
    """Is `source` (a connect-src entry of the header) allowed by the meta tag's list too?"""
    from fnmatch import fnmatch

    return source in allowed or any(a.endswith(":") and source.startswith(a) or fnmatch(source, a) for a in allowed)


def test_static_site_sends_the_csp_cloudfront_sends_and_it_agrees_with_the_page(servers: Any) -> None:
    with urllib.request.urlopen(servers["static"] + "/", timeout=5) as r:
        header = r.headers["content-security-policy"]
    assert header == page_csp(["http://127.0.0.1:9", "http://127.0.0.1:10/"])
    got = directives(header)
    assert got["connect-src"] == ["'self'", "http://127.0.0.1:9", "http://127.0.0.1:10"]   # not https: (any host)
    assert got["frame-ancestors"] == ["'none'"]
    meta = meta_csp()
    for name, values in got.items():
        if name == "frame-ancestors":
            continue                       # not allowed in a <meta> CSP: only the header can say it
        if name == "connect-src":
            assert all(covered(v, meta[name]) for v in values), (values, meta[name])
        else:
            assert values == meta[name], name
    aws = directives(page_csp(["https://api.vote.example.org", "https://*.execute-api.us-east-1.amazonaws.com"]))
    assert all(covered(v, meta["connect-src"]) for v in aws["connect-src"])


def test_unknown_static_paths_are_json_404(servers: Any) -> None:
    got = responses(raw_exchange(servers["static"], b"GET /nope.js HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert got[0][0] == 404 and json.loads(got[0][1])["error"] == "not_found"


def test_threads_are_not_left_running(servers: Any) -> None:
    assert threading.active_count() < 200
