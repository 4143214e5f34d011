"""The local API Gateway (payload 2.0 events, routes, CORS, errors), the static site and local.json."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from election.local.endpoints import read_endpoints, remove_endpoints, write_endpoints
from election.local.gateway import Gateway
from election.local.static import StaticSite, site_config
from election.plan import load_plan

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
            return {"statusCode": 202 if role == "enqueue" else 200, "headers": {"X-Role": role},
                    "body": json.dumps({"role": role, "context_fn": context.function_name})}
        return handler

    gw = Gateway("us-east-1", {r: record(r) for r in ("enqueue", "results", "receipt", "health")})
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
    assert request(gw.url + "/nope")[0] == 404
    assert request(gw.url + "/votes")[0] == 404           # GET /votes is not a route
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
