"""Route 53, played locally: health checks on each region's /health and failover between regions.

Preference is the plan's region order (the first region is "nearest"), or the
region a caller names in the `X-Election-Region` header. As Route 53 does
(Developer Guide, "How Amazon Route 53 determines whether a health check is
healthy" and "How Amazon Route 53 chooses records when health checking is
configured"):
- a check passes when the TCP connection is made within 4 s and a 2xx/3xx
  status comes within 2 s after it;
- a region changes state only after `failure_threshold` consecutive checks say
  so (HealthCheckConfig.FailureThreshold, default 3), in both directions, so one
  slow answer under load does not take a region out;
- when every region is unhealthy, all of them are treated as healthy (fail
  open): requests still go to the preferred region instead of a 503.
A request whose region refuses the connection is retried on the next region at
once, as a client re-resolving DNS would: nothing was accepted, so nothing can
be doubled.

Where the local stand-in differs: the regional APIs run in this one Python
process, so a health check can time out only because the interpreter is busy
with the load (issue 14); on AWS the health function has its own container. A
check that times out while the same region's in-process gateway keeps taking
other requests is therefore recorded as "slow" and not counted as a failure.

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
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from election.local.httpserve import BodyRefused, BoundedRequest, LoopbackServer, listen, serve_in_background

log = logging.getLogger("election.local")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}
CONNECT_TIMEOUT_S = 4.0     # Route 53: the TCP connection within four seconds
RESPONSE_TIMEOUT_S = 2.0    # ... and a 2xx/3xx status within two seconds after connecting
FAILURE_THRESHOLD = 3       # HealthCheckConfig.FailureThreshold default


class Router:
    """Forwards HTTP requests to the preferred healthy region's API."""

    def __init__(self, regions: Mapping[str, str], port: int = 0, host: str = "127.0.0.1",
                 interval_s: float = 2.0, local: Mapping[str, Any] | None = None,
                 failure_threshold: int = FAILURE_THRESHOLD, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 response_timeout_s: float = RESPONSE_TIMEOUT_S) -> None:
        self.regions = dict(regions)          # region -> base URL, in preference order
        self.local = dict(local or {})        # region -> in-process Gateway (optional)
        self.health: dict[str, bool] = {r: True for r in regions}   # Route 53: healthy until shown otherwise
        self.detail: dict[str, str] = {r: "not checked yet" for r in regions}
        self.streak: dict[str, int] = {r: 0 for r in regions}        # consecutive checks against the state
        self.routed: dict[str, int] = {r: 0 for r in regions}
        self.failed_open = 0                  # requests sent while no region was healthy
        self.slow_checks = 0                  # timeouts excused because the region was busy serving (see above)
        self.host = host
        self.port = port
        self.interval_s = interval_s
        self.failure_threshold = max(1, failure_threshold)
        self.connect_timeout_s = connect_timeout_s
        self.response_timeout_s = response_timeout_s

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
        """One round: every region checked at the same time (Route 53's checkers do not wait for each other)."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.regions)), thread_name_prefix="router-check") as pool:
            results = list(pool.map(self._check_region, self.regions))
        for region, (ok, detail) in zip(self.regions, results):
            self._record(region, ok, detail)
        with self._checked:
            self.checks += 1
            self._checked.notify_all()

    def _record(self, region: str, ok: bool | None, detail: str) -> None:
        """Apply one check's result: the state flips after failure_threshold consecutive results against it."""
        if ok is None:                        # slow while busy: neither a pass nor a failure
            self.detail[region] = detail
            return
        if ok == self.health[region]:
            self.streak[region] = 0
            self.detail[region] = detail
            return
        self.streak[region] += 1
        if self.streak[region] < self.failure_threshold:
            self.detail[region] = (f"{detail} ({self.streak[region]} of {self.failure_threshold} checks before it is "
                                   f"marked {'healthy' if ok else 'unhealthy'})")
            return
        log.info("router: %s is now %s (%s)", region, "healthy" if ok else "unhealthy", detail)
        self.health[region], self.detail[region], self.streak[region] = ok, detail, 0

    def wait_checked(self, timeout: float | None = None) -> None:
        """Block until the health checks have had time to act on a change made before this call.

        The round in progress may have checked a region before the change, and a state flips only after
        failure_threshold consecutive checks: wait for that many full rounds after the current one.
        """
        with self._checked:
            target = self.checks + self.failure_threshold + 1
            self._checked.wait_for(lambda: self.checks >= target, timeout)

    def _check_region(self, region: str) -> tuple[bool | None, str]:
        gateway = self.local.get(region)
        served_before = getattr(gateway, "requests", 0)
        ok, detail = self._check(self.regions[region])
        if detail.startswith("timed out") and gateway is not None and getattr(gateway, "running", False) \
                and getattr(gateway, "requests", 0) - served_before > 1:
            self.slow_checks += 1
            return None, f"slow ({detail}) while serving other requests: the interpreter is busy, not the region"
        return ok, detail

    def _check(self, url: str) -> tuple[bool, str]:
        """GET /health with Route 53's budget: connect within connect_timeout_s, a status within response_timeout_s."""
        split = urlsplit(url)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=self.connect_timeout_s)
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(self.response_timeout_s)
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read(2000)
            if 200 <= response.status < 400:
                return True, "ok"
            return False, f"/health answered {response.status} {body[:200].decode('utf-8', 'replace')}"
        except TimeoutError:
            return False, "timed out"
        except OSError as exc:
            return False, f"unreachable ({exc.__class__.__name__})"
        finally:
            conn.close()

    def order(self, preferred: str | None = None) -> list[str]:
        """Healthy regions in preference order (a named region first); every region when none is healthy.

        Route 53 answers from all records when all are unhealthy ("fails open") rather than answering nothing.
        """
        names = list(self.regions)
        if preferred in self.regions:
            names.remove(preferred)
            names.insert(0, preferred)
        healthy = [r for r in names if self.health[r]]
        return healthy or names

    # --- forwarding ------------------------------------------------------------------

    def forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        preferred = next((v for k, v in headers.items() if k.lower() == "x-election-region"), None)
        source_ip = headers.get("X-Forwarded-For", "127.0.0.1")
        if not any(self.health.values()):
            self.failed_open += 1
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
            conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
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
        body_out = json.dumps({"error": "no_healthy_region",      # every region refused the connection
                               "message": "No region is reachable right now; try again shortly."}).encode()
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
