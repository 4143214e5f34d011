"""A newcomer's first hour, as the README tells it, from a directory outside the repository.

These run `election` as a user does (a subprocess started in a fresh temporary directory), so the
built-in plan, the bundled data and the voting page must all be found without the checkout as cwd.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_support import call

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:.*ServiceUnavailable does not match")]
ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTION_")}
    return env | {"PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def election(*args: str, cwd: Path, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from election.cli import main; main()", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), **kwargs)


def test_demo_exit_works_outside_the_repository_and_leaves_unused_voters(tmp_path: Path) -> None:
    assert ROOT not in tmp_path.parents
    proc = election("demo", "--exit", "--voters", "20", "--port-base", "0", cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "Seeded 20 voters" in out
    assert "16 × 202" in out                               # 80 % of the voters by default
    assert "Audit: clean" in out
    unused = re.search(r"4 voters did not vote \(e\.g\. ([A-Z0-9-]{23}), ([A-Z]{2})\)", out)
    assert unused, out
    roll = (tmp_path / ".election/demo-voters.csv").read_text()
    assert f"{unused[1]},{unused[2]}" in roll


def test_demo_offers_an_unused_id_that_can_vote_on_the_page_it_names(tmp_path: Path) -> None:
    proc = election("demo", "--voters", "10", "--port-base", "0", cwd=tmp_path, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Try it:"):
                break
        text = "".join(lines)
        found = re.search(r"Try it: open (http://\S+) and vote with the unused ID ([A-Z0-9-]{23}) \(([A-Z]{2})\)",
                          text)
        assert found, text
        page_url, voter_id, state = found.groups()
        status, config = call(page_url, "GET", "/config.json")
        assert status == 200
        api = config["api"][0]
        status, ballot = call(api, "POST", "/ballot", {"voter_id": voter_id})
        assert status == 200 and ballot["voted"] is False and ballot["state"] == state
        before = call(api, "GET", "/results")[1]["total"]
        _vote_by_hand_and_see_it_on_the_map(page_url, voter_id, state, ballot["candidates"][0], before)
        assert call(api, "GET", "/results")[1]["total"] == before + 1
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def _vote_by_hand_and_see_it_on_the_map(url: str, voter_id: str, state: str, candidate: str, before: int) -> None:
    """What the README tells a newcomer to do on the page, in headless Chromium (HTTP if there is none)."""
    from browser_support import CHROMIUM, chromium, new_context

    if not Path(CHROMIUM).exists():
        api = call(url, "GET", "/config.json")[1]["api"][0]
        assert call(api, "POST", "/votes", {"voter_id": voter_id, "candidate": candidate})[0] == 202
        for _ in range(100):
            if call(api, "GET", "/results")[1]["total"] == before + 1:
                return
            time.sleep(0.2)
        return
    from playwright.sync_api import expect

    with chromium() as browser:
        ctx = new_context(browser, 20000)
        page = ctx.new_page()
        page.goto(url + "#vote")
        page.wait_for_selector("body[data-ready]")
        page.fill("#voter-id", voter_id)
        page.click("#id-form button[type=submit]")
        page.get_by_label(candidate, exact=True).check()
        page.click("#ballot-form button[type=submit]")
        page.click("#confirm")
        expect(page.locator("#receipt-code .group")).to_have_count(8)
        page.click("a[data-route=results]")
        expect(page.locator("#national-total")).to_have_text(f"{before + 1} votes", timeout=30000)
        tile = page.locator(f"#map button[data-state={state}]")
        expect(tile).to_have_attribute("data-kind", re.compile("leader|tie"))
        ctx.close()
