"""Helpers for the deployer tests: a Deployer on moto in-process with a sleep that only records."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from election.plan import Plan, load_plan, parse_plan
from election.provision.clients import ClientProvider
from election.provision.engine import Deployer, PlanResult

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "election" / "lambdas"
AWS_PLAN = ROOT / "config" / "aws.yaml"
LOCAL_PLAN = ROOT / "config" / "local.yaml"


class Sleeps(list):
    """A fake sleep: records the delays, never waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def deployer(plan: Plan | Path = AWS_PLAN, lambdas_dir: Path | None = None, **kw: Any) -> Deployer:
    if isinstance(plan, Path):
        plan = load_plan(plan)
    kw.setdefault("sleep", Sleeps())
    return Deployer(plan, ClientProvider(), site_dir=ROOT / "website", lambdas_dir=lambdas_dir, **kw)


def lambdas_copy(tmp_path: Path) -> Path:
    """A private copy of election/lambdas so a test can change a handler file."""
    dest = tmp_path / "lambdas"
    shutil.copytree(LAMBDAS, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def actions(result: PlanResult) -> dict[str, int]:
    return {a: result.count(a) for a in ("create", "update", "delete", "noop") if result.count(a)}


def changed(result: PlanResult) -> dict[str, list[str]]:
    """key -> changed field names, for every step that is not a no-op."""
    return {s.key: [c.field for c in s.changes] for s in result.steps if s.action != "noop"}


def with_settings(plan: Plan, **sections: Any) -> Plan:
    """The plan with some settings replaced, e.g. with_settings(plan, lambda_={"memory_mb": 512})."""
    changes = {}
    for name, fields in sections.items():
        current = getattr(plan, name)
        changes[name] = dataclasses.replace(current, **fields) if isinstance(fields, dict) else fields
    return dataclasses.replace(plan, **changes)


def single_region(plan: Plan, region: str = "us-east-1") -> Plan:
    """The same plan with every state homed in one region."""
    import yaml

    data = yaml.safe_load(Path(plan.path).read_text())
    states = [s for r in data["regions"].values() for s in r["states"]]
    data["regions"] = {region: {"states": states}}
    return parse_plan(data, plan.path)
