"""A tiny loopback control endpoint of a running `election dev`, used by `election region down|up`.

POST /regions/<region>/down, POST /regions/<region>/up, GET /status. It
listens on 127.0.0.1 only; its URL is recorded in local.json.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from election.errors import ElectionError
from election.local.httpserve import listen, serve_in_background, stop_serving

PATH_RE = re.compile(r"^/regions/(?P<region>[a-z0-9-]+)/(?P<action>down|up)$")


class ControlServer:
    """Calls `down(region)` / `up(region)` / `status()` of the stack for HTTP requests."""

    def __init__(self, down: Callable[[str], None], up: Callable[[str], None], status: Callable[[], Any],
                 port: int = 0, host: str = "127.0.0.1") -> None:
        self.actions = {"down": down, "up": up}
        self.status = status
        self.host, self.port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._server = listen(ThreadingHTTPServer, self.host, self.port, _handler_class(self), "the control endpoint")
        self.port = self._server.server_address[1]
        self._thread = serve_in_background(self._server, "control")

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
        self._server, self._thread = None, None


def _handler_class(control: ControlServer) -> type[BaseHTTPRequestHandler]:
    class ControlRequest(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/status":
                return self._reply(200, control.status())
            self._reply(404, {"error": "not_found", "message": "Unknown control path."})

        def do_POST(self) -> None:
            found = PATH_RE.match(self.path)
            if not found:
                return self._reply(404, {"error": "not_found", "message": "Unknown control path."})
            try:
                control.actions[found["action"]](found["region"])
            except ElectionError as exc:
                return self._reply(400, {"error": "bad_region", "message": str(exc)})
            self._reply(200, control.status())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ControlRequest


def send(control_url: str, action: str, region: str) -> Any:
    """Ask a running stack to take `region` down or bring it up; raises ElectionError with its answer."""
    request = urllib.request.Request(f"{control_url.rstrip('/')}/regions/{region}/{action}", data=b"",
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except ValueError:
            message = f"HTTP {exc.code}"
        raise ElectionError(message or f"The local stack refused: HTTP {exc.code}.") from None
    except OSError:
        raise ElectionError(f"The local stack does not answer at {control_url}; is `election dev` still running?") \
            from None
