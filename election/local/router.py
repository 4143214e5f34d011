"""Route 53, played locally: health checks on each region's /health and failover between regions.

Preference is the plan's region order (the first region is "nearest"), or the
region a caller names in the `X-Election-Region` header. A region is taken out
after one failed check (Route 53 would wait for a threshold; locally we want
fast drills) and back in after one good one. A request whose region refuses
the connection is retried on the next healthy region at once, as a client
re-resolving DNS would: nothing was accepted, so nothing can be doubled.

Route 53 only answers DNS: the voter's request reaches the regional API in
one hop. So when the regional gateways live in this process (`local`), the
router hands the request to the gateway directly instead of making a second
HTTP request (a stopped gateway counts as a refused connection).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from election.local.httpserve import BodyRefused, BoundedRequest, LoopbackServer, listen, serve_in_background

log = logging.getLogger("election.local")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


class Router:
    """Forwards HTTP requests to the preferred healthy region's API."""

    def __init__(self, regions: Mapping[str, str], port: int = 0, host: str = "127.0.0.1",
                 interval_s: float = 2.0, check_timeout_s: float = 1.5, local: Mapping[str, Any] | None = None) -> None:
        self.regions = dict(regions)          # region -> base URL, in preference order
        self.local = dict(local or {})        # region -> in-process Gateway (optional)
        self.health: dict[str, bool] = {r: True for r in regions}
        self.detail: dict[str, str] = {r: "not checked yet" for r in regions}
        self.routed: dict[str, int] = {r: 0 for r in regions}
        self.host = host
        self.port = port
        self.interval_s = interval_s
        self.check_timeout_s = check_timeout_s
        self._server: LoopbackServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._checked = threading.Condition()
        self.checks = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._server = listen(LoopbackServer, self.host, self.port, _handler_class(self), "the router")
        self.port = self._server.server_address[1]
        self._stop.clear()
        self.check_all()
        serving = serve_in_background(self._server, "router")
        health = threading.Thread(target=self._check_loop, name="router-health", daemon=True)
        health.start()
        self._threads = [serving, health]

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        for t in self._threads:
            t.join(5)
        self._threads = []

    # --- health ----------------------------------------------------------------------

    def _check_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_all()

    def check_all(self) -> None:
        for region, url in self.regions.items():
            ok, detail = self._check(url)
            if ok != self.health[region]:
                log.info("router: %s is now %s (%s)", region, "healthy" if ok else "unhealthy", detail)
            self.health[region], self.detail[region] = ok, detail
        with self._checked:
            self.checks += 1
            self._checked.notify_all()

    def wait_checked(self, timeout: float | None = None) -> None:
        """Block until a full round of health checks has *started and ended* after this call.

        (The round in progress when called may have checked a region before the change, so wait for two.)
        """
        with self._checked:
            target = self.checks + 2
            self._checked.wait_for(lambda: self.checks >= target, timeout)

    def _check(self, url: str) -> tuple[bool, str]:
        split = urlsplit(url)
        conn = http.client.HTTPConnection(split.hostname, split.port, timeout=self.check_timeout_s)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read(2000)
            if response.status == 200:
                return True, "ok"
            return False, f"/health answered {response.status} {body[:200].decode('utf-8', 'replace')}"
        except OSError as exc:
            return False, f"unreachable ({exc.__class__.__name__})"
        finally:
            conn.close()

    def order(self, preferred: str | None = None) -> list[str]:
        """Healthy regions in preference order (a named region first)."""
        names = list(self.regions)
        if preferred in self.regions:
            names.remove(preferred)
            names.insert(0, preferred)
        return [r for r in names if self.health[r]]

    # --- forwarding ------------------------------------------------------------------

    def forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        preferred = next((v for k, v in headers.items() if k.lower() == "x-election-region"), None)
        source_ip = headers.get("X-Forwarded-For", "127.0.0.1")
        for region in self.order(preferred):
            gateway = self.local.get(region)
            if gateway is not None:
                if not gateway.running:
                    self.health[region], self.detail[region] = False, "refused a request"
                    continue
                status, got, data = gateway.invoke(method, path, headers, body, source_ip)
                self.routed[region] += 1
                kept = [(k, v) for k, v in got.items() if k.lower() not in HOP_HEADERS]
                return status, [*kept, ("x-election-region", region)], data
            split = urlsplit(self.regions[region])
            conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
            try:
                out_headers = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
                conn.request(method, path, body=body or None, headers=out_headers)
                response = conn.getresponse()
                data = response.read()
            except ConnectionRefusedError:
                self.health[region], self.detail[region] = False, "refused a request"
                continue
            finally:
                conn.close()
            self.routed[region] += 1
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
            return response.status, kept + [("x-election-region", region)], data
        body_out = json.dumps({"error": "no_healthy_region",
                               "message": "No region is healthy right now; try again shortly."}).encode()
        return 503, [("content-type", "application/json")], body_out

    def status(self) -> dict[str, Any]:
        return {r: {"healthy": self.health[r], "detail": self.detail[r], "url": self.regions[r],
                    "routed": self.routed[r]} for r in self.regions}


def _handler_class(router: Router) -> type[BaseHTTPRequestHandler]:
    class RouterRequest(BoundedRequest):
        server_version = "election-local-route53"

        def _serve(self) -> None:
            try:
                body = self.read_body()
            except BodyRefused as refused:
                return self.refuse(refused)
            headers_in = dict(self.headers.items())
            headers_in.setdefault("X-Forwarded-For", self.client_address[0])
            status, headers, out = router.forward(self.command, self.path, headers_in, body)
            self.answer(status, headers, out)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

    return RouterRequest
