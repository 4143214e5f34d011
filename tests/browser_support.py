"""Helpers for the voting-page tests: Debian's Chromium under Playwright, and the election they talk to.

`Election` is what a browser test needs from a running system: the page URL, the API base
URLs, a way to create voters and to take a region's API down. `local_election()` gives one
backed by the real local stack (election.local.stack.LocalStack); `fake_election()` a tiny
stdlib stand-in with the same routes, used only when the local stack is not available.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from election.lambdas.contract import VOTER_ID_ALPHABET, canonical_voter_id

ROOT = Path(__file__).resolve().parent.parent
WEBSITE = ROOT / "website"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def new_voter_id() -> str:
    """A random voter ID in the contract's format."""
    raw = "".join(secrets.choice(VOTER_ID_ALPHABET) for _ in range(20))
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


@dataclass
class Election:
    """A running election as the browser tests see it."""

    url: str                                  # the voting page (index.html's folder)
    api: list[str]                            # API base URLs the page's config.json lists
    regions: dict[str, str]                   # region -> its own API base URL
    state_regions: dict[str, str]
    add_voter: Callable[[str], str]           # state -> a new voter ID homed there
    region_down: Callable[[str], None]
    region_up: Callable[[str], None]
    wait_idle: Callable[[float], None] = field(default=lambda timeout: None)
    set_polls: Callable[[bool], None] = field(default=lambda is_open: None)   # open or close the polls
    ballot: dict[str, Any] = field(default_factory=dict)


# --- the fake: same routes and error bodies as docs/api.md, state in memory ------------

class _FakeState:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.voters: dict[str, str] = {}                # canonical ID -> state
        self.ballots: dict[str, tuple[str, str]] = {}   # receipt -> (state, candidate)
        self.ballot = plan["ballot"]
        self.polls_open = True

    def candidates(self, state: str) -> list[str]:
        return list(self.ballot.get("overrides", {}).get(state, self.ballot["candidates"]))

    @staticmethod
    def receipt(voter_id: str) -> str:
        return hashlib.sha256(b"fake-ballot-pepper" + voter_id.encode()).hexdigest()[:32]


def _fake_api_handler(state: _FakeState) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"    # one request per connection, so a stopped region is really gone

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Headers", "content-type")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"error": code, "message": message})

        def do_OPTIONS(self) -> None:
            self._send(204, {})

        def _body(self) -> dict[str, Any] | None:
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n) or b"null")
            except ValueError:
                return None
            return body if isinstance(body, dict) else None

        def _voter(self, body: dict[str, Any] | None) -> str | None:
            vid = canonical_voter_id(str((body or {}).get("voter_id", "")))
            if vid is None:
                self._error(400, "invalid_voter_id", "The voter ID is not in the right format.")
                return None
            if vid not in state.voters:
                self._error(404, "unknown_voter", "No voter has this ID.")
                return None
            return vid

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/health":
                return self._send(200, {"status": "ok"})
            if url.path == "/results":
                with state.lock:
                    states = {s: {c: 0 for c in state.candidates(s)} for s in set(state.voters.values())}
                    national = {c: 0 for c in state.ballot["candidates"]}
                    for st, cand in state.ballots.values():
                        states.setdefault(st, {c: 0 for c in state.candidates(st)})[cand] += 1
                        national[cand] = national.get(cand, 0) + 1
                return self._send(200, {
                    "updated_at": "2026-11-03T12:00:00Z", "total": sum(national.values()), "candidates": national,
                    "states": {s: {"total": sum(c.values()), "candidates": c} for s, c in states.items()}})
            if url.path.startswith("/receipts/"):
                r = url.path.rsplit("/", 1)[1]
                if len(r) != 32:
                    return self._error(400, "invalid_receipt", "A receipt is 32 hex characters.")
                return self._send(200, {"status": "counted" if r in state.ballots else "unknown"})
            self._error(404, "not_found", "No such route.")

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/ballot":
                vid = self._voter(body)
                if vid:
                    st = state.voters[vid]
                    self._send(200, {"state": st, "candidates": state.candidates(st),
                                     "voted": state.receipt(vid) in state.ballots, "polls_open": state.polls_open})
                return
            if self.path == "/votes":
                vid = self._voter(body)
                if not vid:
                    return
                if not state.polls_open:
                    return self._error(403, "polls_closed", "The polls are closed.")
                st = state.voters[vid]
                cand = (body or {}).get("candidate")
                if cand not in state.candidates(st):
                    return self._error(422, "unknown_candidate", "This candidate is not on the voter's ballot.")
                with state.lock:
                    r = state.receipt(vid)
                    if r in state.ballots:
                        return self._error(409, "already_voted", "A vote is already recorded for this voter.")
                    state.ballots[r] = (st, cand)
                return self._send(202, {"receipt": r})
            self._error(404, "not_found", "No such route.")

    return Handler


class _Server:
    """A ThreadingHTTPServer on a fixed loopback port that can be stopped and started again."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], port: int = 0) -> None:
        self.handler = handler
        self.port = port
        self.httpd: http.server.ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        if self.httpd is not None:
            return
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _static_handler(config: dict[str, Any]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(WEBSITE), **kw)

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/config.json":
                data = json.dumps(config).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            super().do_GET()

    return Handler


@contextlib.contextmanager
def fake_election(plan_path: Path = ROOT / "config" / "local.yaml") -> Iterator[Election]:
    """Two fake regional APIs sharing one in-memory election, plus a static server for website/."""
    plan = yaml.safe_load(plan_path.read_text())
    state = _FakeState(plan)
    servers = {r: _Server(_fake_api_handler(state)) for r in plan["regions"]}
    state_regions = {s: r for r, body in plan["regions"].items() for s in body["states"]}
    regions = {r: s.url for r, s in servers.items()}
    config = {"plan": plan["name"], "api": list(regions.values()), "ballot": plan["ballot"], "states": state_regions}
    static = _Server(_static_handler(config))

    def add_voter(st: str) -> str:
        vid = new_voter_id()
        state.voters[vid] = st
        return vid

    try:
        yield Election(url=static.url + "/", api=config["api"], regions=regions, state_regions=state_regions,
                       add_voter=add_voter, region_down=lambda r: servers[r].stop(),
                       region_up=lambda r: servers[r].start(), ballot=plan["ballot"],
                       set_polls=lambda is_open: setattr(state, "polls_open", is_open))
    finally:
        for s in [static, *servers.values()]:
            s.stop()


# --- the real local stack --------------------------------------------------------------

@contextlib.contextmanager
def local_election(state_dir: Path) -> Iterator[Election]:
    """The whole local stack (moto, handlers, pollers, router, static server) on random loopback ports."""
    from election.local.stack import LocalStack
    from election.ops.polls import close_polls, open_polls
    from election.ops.seed import read_pepper, voter_key
    from election.ops.target import Target
    from election.plan import load_plan

    plan_path = ROOT / "config" / "local.yaml"
    plan = load_plan(plan_path)
    with _started_stack(LocalStack, plan_path, state_dir) as stack:
        ep = stack.endpoints
        target = Target(plan=plan, provider=stack.provider, endpoints=ep)
        peppers = {r: read_pepper(target, r, target.names.voter_pepper) for r in plan.region_names}
        site = str(ep["website"]).rstrip("/") + "/"
        status, config = call(site, "GET", "config.json")
        assert status == 200, f"the static server did not serve config.json ({status})"

        def add_voter(state: str) -> str:
            """Put the voter's keyed hash in its home region, then wait for the replicas (global tables)."""
            vid = new_voter_id()
            home = plan.home_region(state)
            table = target.names.voters
            target.client("dynamodb", home).put_item(
                TableName=table, Item={"vk": {"S": voter_key(peppers[home], vid)}, "state": {"S": state}})
            deadline = time.monotonic() + 15
            for region in plan.region_names:
                key = {"vk": {"S": voter_key(peppers[region], vid)}}
                while "Item" not in target.client("dynamodb", region).get_item(TableName=table, Key=key):
                    assert time.monotonic() < deadline, f"voter not replicated to {region}"
                    time.sleep(0.1)
            return vid

        def set_polls(is_open: bool) -> None:
            (open_polls if is_open else close_polls)(stack.provider, plan)
            time.sleep(2.5)          # the enqueue handler caches the polls item for up to 2 s

        yield Election(url=site, api=list(config["api"]), regions=dict(ep["regions"]),
                       state_regions=plan.state_regions(), add_voter=add_voter,
                       region_down=stack.region_down, region_up=stack.region_up,
                       wait_idle=lambda timeout: stack.wait_idle(timeout), ballot=config["ballot"],
                       set_polls=set_polls)


@contextlib.contextmanager
def _started_stack(cls: Any, plan_path: Path, state_dir: Path) -> Iterator[Any]:
    """Start the stack on free ports and stop it afterwards (a failed start fails the tests: the deploy race
    this once retried is removed at its cause, election/provision/inprocess.py)."""
    stack = cls(plan_path=str(plan_path), port_base=0, state_dir=state_dir).start()
    try:
        yield stack
    finally:
        stack.stop()


def stack_available() -> bool:
    """True once the local stack is in the tree; until then the browser tests use the fake."""
    try:
        import election.local.stack  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def any_election(state_dir: Path) -> Iterator[Election]:
    """The local stack, or the fake when it is missing or ELECTION_BROWSER_FAKE=1 (quick page work)."""
    if os.environ.get("ELECTION_BROWSER_FAKE") == "1" or not stack_available():
        with fake_election() as e:
            yield e
    else:
        with local_election(state_dir) as e:
            yield e


# --- talking to the API directly (to set the scene and to check what the page did) ------

def call(base: str, method: str, path: str, body: dict[str, Any] | None = None,
         timeout: float = 10) -> tuple[int, Any]:
    """One HTTP request; returns (status, parsed JSON body or None)."""
    url = base.rstrip("/") + "/" + path.lstrip("/")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def national_count(base: str, candidate: str) -> int:
    """The candidate's national total as GET /results reports it."""
    status, body = call(base, "GET", "/results")
    assert status == 200, body
    block = body.get("national", body)          # the fake nests it; the real API puts it at the top
    return int(block["candidates"].get(candidate, 0) if "candidates" in block else block.get(candidate, 0))


# --- the browser -------------------------------------------------------------------------

def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless (Playwright's own browser download cannot work here)."""
    if not Path(CHROMIUM).exists():
        import pytest
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium for as long as the block runs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def new_context(browser: Any, timeout_ms: int, **options: Any) -> Any:
    """A fresh browser context the size and language every page test assumes (options add to it)."""
    ctx = browser.new_context(viewport={"width": 1000, "height": 800}, locale="en-US", **options)
    ctx.set_default_timeout(timeout_ms)
    return ctx


def open_page(context: Any, election: Election, route: str = "vote") -> Any:
    """A page on `#route`, with page errors collected in page.errors (a test can assert none)."""
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(f"{election.url}#{route}")
    page.wait_for_selector("body[data-ready]")
    return page


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot under artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
