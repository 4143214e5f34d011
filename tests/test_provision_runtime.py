"""`status`'s live probes: the deep health check answer, read the way an operator needs it."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from election.provision.runtime import probe_health


@pytest.fixture
def api() -> Iterator[tuple[str, dict[str, object]]]:
    """A loopback API whose /health answer a test sets: (url, {"code": int, "body": dict})."""
    answer: dict[str, object] = {"code": 200, "body": {"status": "ok"}}

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(answer["body"]).encode() if self.path == "/health" else b"{}"
            self.send_response(int(answer["code"]) if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", answer
    server.shutdown()
    server.server_close()


def test_a_healthy_region_is_ok(api: tuple[str, dict[str, object]]) -> None:
    assert probe_health(api[0]) == "ok"


def test_a_region_whose_health_check_fails_says_how(api: tuple[str, dict[str, object]]) -> None:
    url, answer = api
    answer.update(code=503, body={"status": "degraded"})
    assert probe_health(url) == "failing (HTTP 503)"
    answer.update(code=200, body={"status": "degraded"})
    assert probe_health(url) == "failing (degraded)"


def test_no_api_or_nothing_listening() -> None:
    assert probe_health(None) == "-"
    assert probe_health("http://127.0.0.1:9") == "unreachable"
