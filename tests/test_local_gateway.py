"""The local API Gateway (payload 2.0 events, routes, CORS, errors), the static site and local.json."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from stack_support import raw_exchange

from election.local import httpserve
from election.local.gateway import Gateway
from election.local.router import Router
from election.local.static import StaticSite, site_config
from election.plan import load_plan
from election.statedir import read_endpoints, remove_endpoints, write_endpoints

ROOT = Path(__file__).resolve().parents[1]


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@pytest.fixture
def gateway() -> Any:
    events: list[dict[str, Any]] = []

    def record(role: str) -> Any:
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            events.append(event)
            if event["rawPath"] == "/results" and event.get("queryStringParameters", {}).get("state") == "boom":
                raise RuntimeError("handler crashed")
            if event["routeKey"] == "$default":   # as the real results function answers the $default route
                return {"statusCode": 404, "body": json.dumps({"error": "not_found", "message": "No route."})}
            return {"statusCode": 202 if role == "enqueue" else 200, "headers": {"X-Role": role},
                    "body": json.dumps({"role": role, "context_fn": context.function_name})}
        return handler

    gw = Gateway("us-east-1", {r: record(r) for r in ("enqueue", "results", "receipt", "health")},
                 allowed_origins=("https://vote.example.org", "http://127.0.0.1:*"))
    gw.start()
    yield gw, events
    gw.stop()


def test_requests_become_payload_2_events_for_the_right_handler(gateway: Any) -> None:
    gw, events = gateway
    status, headers, body = request(gw.url + "/votes", "POST", b'{"voter_id": "x"}',
                                    {"Content-Type": "application/json", "User-Agent": "t"})
    assert status == 202 and json.loads(body)["role"] == "enqueue" and headers["x-role"] == "enqueue"
    e = events[-1]
    assert e["version"] == "2.0" and e["routeKey"] == "POST /votes" and e["body"] == '{"voter_id": "x"}'
    assert e["headers"]["content-type"] == "application/json" and e["isBase64Encoded"] is False
    assert e["requestContext"]["http"] == {"method": "POST", "path": "/votes", "protocol": "HTTP/1.1",
                                           "sourceIp": "127.0.0.1", "userAgent": "t"}
    request(gw.url + "/receipts/abc123?x=1&x=2")
    e = events[-1]
    assert e["routeKey"] == "GET /receipts/{receipt}" and e["pathParameters"] == {"receipt": "abc123"}
    assert e["rawQueryString"] == "x=1&x=2" and e["queryStringParameters"] == {"x": "1,2"}


def test_unknown_routes_crashes_and_preflights_answer_like_api_gateway(gateway: Any) -> None:
    gw, events = gateway
    status, _, body = request(gw.url + "/nope")
    assert status == 404 and json.loads(body)["error"] == "not_found"
    assert events[-1]["routeKey"] == "$default" and events[-1]["requestContext"]["routeKey"] == "$default"
    assert request(gw.url + "/votes")[0] == 404           # GET /votes is not a route: $default answers
    status, _, body = request(gw.url + "/results?state=boom")
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    seen = len(events)
    status, headers, _ = request(gw.url + "/votes", "OPTIONS", headers={
        "Origin": "http://127.0.0.1:7702", "Access-Control-Request-Method": "POST"})
    assert status == 204 and headers["access-control-allow-origin"] == "http://127.0.0.1:7702"
    assert "POST" in headers["access-control-allow-methods"] and len(events) == seen   # no handler call
    _, headers, _ = request(gw.url + "/results", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


def test_a_stopped_gateway_refuses_and_restarts_on_the_same_port(gateway: Any) -> None:
    gw, _ = gateway
    port = gw.port
    gw.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(gw.url + "/health", timeout=2)
    gw.start()
    assert gw.port == port and request(gw.url + "/health")[0] == 200


def test_static_site_serves_the_page_and_its_config(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>vote</title>")
    plan = load_plan(ROOT / "config/local.yaml")
    config = site_config(plan, "http://127.0.0.1:1", {"us-east-1": "http://127.0.0.1:2", "us-west-2": "http://127.0.0.1:3"})
    site = StaticSite(tmp_path, config)
    site.start()
    try:
        status, headers, body = request(site.url + "config.json")
        got = json.loads(body)
        assert got["api"] == ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"]
        assert got["states"]["CA"] == "us-west-2" and "Evan McMullin" in got["ballot"]["overrides"]["UT"]
        status, headers, body = request(site.url)
        assert status == 200 and b"<title>vote</title>" in body
        assert "script-src 'self'" in headers["content-security-policy"]
        assert request(site.url + "../../etc/passwd")[0] == 404
    finally:
        site.stop()


def test_endpoints_file_is_private_and_ignored_once_its_process_is_gone(tmp_path: Path) -> None:
    path = write_endpoints({"router": "http://x", "pid": os.getpid()}, tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert read_endpoints(tmp_path) == {"router": "http://x", "pid": os.getpid()}
    write_endpoints({"router": "http://x", "pid": 2 ** 22 + 12345}, tmp_path)   # no such process
    assert read_endpoints(tmp_path) is None
    remove_endpoints(tmp_path, pid=os.getpid())        # not ours: kept
    assert path.exists()
    remove_endpoints(tmp_path, pid=2 ** 22 + 12345)
    assert not path.exists() and read_endpoints(tmp_path) is None


# --- hostile and vanishing clients (QA findings 4 and 7, page engineer's keep-alive finding) ---------------



@pytest.fixture
def router_over(gateway: Any) -> Any:
    gw, _ = gateway
    router = Router({"us-east-1": gw.url}, interval_s=60)
    router.start()
    yield router
    router.stop()


@pytest.mark.parametrize("via", ["gateway", "router"])
def test_a_promised_huge_body_is_refused_at_once_from_its_header(gateway: Any, router_over: Any, via: str) -> None:
    url = gateway[0].url if via == "gateway" else router_over.url
    started = time.monotonic()
    got = raw_exchange(url, b"POST /votes HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nx")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and json.loads(body)["error"] == "body_too_large"
    assert time.monotonic() - started < 2.5     # answered and closed, not waiting for 1 GB
    assert not [e for e in gateway[1] if e["rawPath"] == "/votes"]   # no handler ran


def test_a_body_that_stalls_gets_408_after_the_read_timeout(gateway: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(httpserve.BoundedRequest, "timeout", 0.3)
    got = raw_exchange(gateway[0].url, b"POST /votes HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"voter", 5)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["error"] == "request_timeout"
    assert raw_exchange(gateway[0].url, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n"
                        ).startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("via", ["gateway", "router"])
def test_a_client_that_hangs_up_before_its_answer_is_no_traceback(gateway: Any, router_over: Any, via: str,
                                                                   capfd: Any) -> None:
    gw, _ = gateway
    answered = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(0.3)
        answered.set()
        return {"statusCode": 200, "body": "x" * 200_000}

    gw.routes.table = [(k, m, p, handler, r) for k, m, p, _, r in gw.routes.table]
    url = gw.url if via == "gateway" else router_over.url
    split = urllib.parse.urlsplit(url)
    sock = socket.create_connection((split.hostname, split.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close = reset
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.close()
    assert answered.wait(3)
    time.sleep(0.3)
    assert "Traceback" not in capfd.readouterr().err


def test_a_stopped_gateway_cuts_open_keep_alive_connections(gateway: Any) -> None:
    gw, _ = gateway
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=3)
    conn.request("GET", "/health")
    first = conn.getresponse()
    assert first.status == 200 and first.read() and not first.will_close   # kept alive
    gw.stop()
    with pytest.raises((OSError, http.client.HTTPException)):
        conn.request("GET", "/health")
        conn.getresponse()
    conn.close()
