"""A tiny loopback control endpoint of a running `election dev`, used by `election region down|up`.

POST /regions/<region>/down, POST /regions/<region>/up, GET /status. It
listens on 127.0.0.1 only; its URL and a random token are recorded in
local.json (owner-only). Loopback is not a security boundary: any web page the
operator opens can send requests to 127.0.0.1, so every request must carry
`Authorization: Bearer <token>` (a page cannot read local.json), and a request
with an `Origin` header (which browsers add to cross-site POSTs and fetches) is
refused whatever it carries.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from election.errors import ElectionError
from election.local.httpserve import BoundedRequest, LoopbackServer, listen, serve_in_background, stop_serving

PATH_RE = re.compile(r"^/regions/(?P<region>[a-z0-9-]+)/(?P<action>down|up)$")
TOKEN_FIELD = "control_token"   # the local.json field holding the token


class ControlServer:
    """Calls `down(region)` / `up(region)` / `status()` of the stack for authenticated HTTP requests."""

    def __init__(self, down: Callable[[str], None], up: Callable[[str], None], status: Callable[[], Any],
                 port: int = 0, host: str = "127.0.0.1", token: str | None = None) -> None:
        self.actions = {"down": down, "up": up}
        self.status = status
        self.host, self.port = host, port
        self.token = token or secrets.token_urlsafe(32)
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._server = listen(LoopbackServer, self.host, self.port, _handler_class(self), "the control endpoint")
        self.port = self._server.server_address[1]
        self._thread = serve_in_background(self._server, "control")

    def stop(self) -> None:
        if self._server is not None:
            self._server.close_connections()
        stop_serving(self._server, self._thread)
        self._server, self._thread = None, None

    def refusal(self, headers: Any) -> tuple[int, str, str] | None:
        """(status, code, message) when a request may not use the endpoint, else None."""
        if headers.get("Origin") is not None:
            return 403, "cross_origin", "The control endpoint refuses requests from web pages (Origin header)."
        given = headers.get("Authorization") or ""
        expected = f"Bearer {self.token}"
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            return 401, "unauthorized", f"The control endpoint needs the token from local.json ({TOKEN_FIELD})."
        return None


def _handler_class(control: ControlServer) -> type[BoundedRequest]:
    class ControlRequest(BoundedRequest):
        server_version = "election-local-control"

        def _reply(self, status: int, payload: Any) -> None:
            self.answer(status, [("content-type", "application/json"), ("cache-control", "no-store")],
                        json.dumps(payload).encode())

        def _guard(self) -> bool:
            refused = control.refusal(self.headers)
            if refused is not None:
                status, code, message = refused
                self.close_connection = True
                self._reply(status, {"error": code, "message": message})
                return False
            return True

        def do_GET(self) -> None:
            if not self._guard():
                return
            if self.path == "/status":
                return self._reply(200, control.status())
            self._reply(404, {"error": "not_found", "message": "Unknown control path."})

        def do_POST(self) -> None:
            if not self._guard():
                return
            found = PATH_RE.match(self.path)
            if not found:
                return self._reply(404, {"error": "not_found", "message": "Unknown control path."})
            try:
                control.actions[found["action"]](found["region"])
            except ElectionError as exc:
                return self._reply(400, {"error": "bad_region", "message": str(exc)})
            self._reply(200, control.status())

    return ControlRequest


def send(control_url: str, action: str, region: str, token: str | None = None) -> Any:
    """Ask a running stack to take `region` down or bring it up; raises ElectionError with its answer."""
    request = urllib.request.Request(f"{control_url.rstrip('/')}/regions/{region}/{action}", data=b"",
                                     method="POST", headers={"Authorization": f"Bearer {token or ''}"})
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
