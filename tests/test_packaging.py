"""A non-editable install (a wheel) carries everything the commands need: the local plan, the data, the page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_built_wheel_serves_the_voting_page_and_the_local_plan_from_any_directory(tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                           check=False, capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "No matching distribution" in built.stderr:
        pytest.skip("no package index to fetch the build backend from")
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("election-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    probe = ("import json; from election.data import SITE_DIR, LOCAL_PLAN; import election, sys; "
             "print(election.__file__); print(json.dumps(sorted(p.name for p in SITE_DIR.iterdir()))); print(LOCAL_PLAN.is_file())")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out[0].startswith(str(site))                              # the installed copy, not the checkout
    assert json.loads(out[1]) == sorted(p.name for p in (ROOT / "website").iterdir())
    assert out[2] == "True"
