"""The voting page, served locally: website/ as it is, plus a generated config.json.

config.json is what the deployer uploads next to the page on AWS: the API
base URLs (router first, then each region's own, so the page can fail over
by itself), the ballot and the state -> home region map.

Every answer carries the same Content-Security-Policy header CloudFront sends
on AWS (`page_csp`), with connect-src limited to the page itself and the API
origins in config.json.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from election.local.httpserve import HttpGuards, LoopbackServer, listen, serve_in_background, stop_serving
from election.plan import Plan
from election.provision.model.site import page_csp

PLACEHOLDER = b"""<!doctype html><html lang="en"><meta charset="utf-8"><title>election (local)</title>
<h1>The local election is running</h1><p>The voting page (website/) is not in this checkout;
the API is listed in <a href="config.json">config.json</a>.</p></html>"""


def site_config(plan: Plan, router_url: str, region_urls: Mapping[str, str]) -> dict[str, Any]:
    """The page's settings; the first healthy entry of `api` is used."""
    return {
        "plan": plan.name,
        "api": [router_url] + [region_urls[r] for r in plan.region_names if r in region_urls],
        "regions": {r: region_urls.get(r) for r in plan.region_names},
        "ballot": {"candidates": list(plan.ballot.candidates),
                   "overrides": {s: list(c) for s, c in plan.ballot.overrides.items()}},
        "states": plan.state_regions(),
    }


class StaticSite:
    """Serves `site_dir` and `/config.json` on loopback."""

    def __init__(self, site_dir: Path, config: Mapping[str, Any], port: int = 0, host: str = "127.0.0.1") -> None:
        self.site_dir = Path(site_dir)
        self.config = dict(config)
        self.host = host
        self.port = port
        self.csp = page_csp(self.config.get("api") or ())
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        handler = partial(_SiteRequest, site=self, directory=str(self.site_dir))
        self._server = listen(LoopbackServer, self.host, self.port, handler, "the voting page")
        self.port = self._server.server_address[1]
        self._thread = serve_in_background(self._server, "website")

    def stop(self) -> None:
        if self._server is not None:
            self._server.close_connections()
        stop_serving(self._server, self._thread)
        self._server, self._thread = None, None


class _SiteRequest(HttpGuards, SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,  # noqa: RUF012 - read-only, as in the base
                      ".js": "text/javascript; charset=utf-8",
                      ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
                      ".json": "application/json", ".svg": "image/svg+xml"}

    def __init__(self, *args: Any, site: StaticSite, **kwargs: Any) -> None:
        self.site = site
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", self.site.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            return self._send(200, "application/json", json.dumps(self.site.config, indent=2).encode())
        if path in ("/", "/index.html") and not (self.site.site_dir / "index.html").is_file():
            return self._send(200, "text/html; charset=utf-8", PLACEHOLDER)
        return super().do_GET()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
