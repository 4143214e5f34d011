"""How an ops command finds its target: the running local stack by itself, or the plan given."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from election.errors import ElectionError
from election.ops.target import resolve_target

ROOT = Path(__file__).resolve().parents[1]


class Opts:
    def __init__(self, plan: str, endpoint_url: str | None = None) -> None:
        self.plan_path, self.endpoint_url, self.profile, self.debug = plan, endpoint_url, None, False


def write_stack(state_dir: Path, pid: int) -> dict:
    endpoints = {"endpoint_url": "http://127.0.0.1:7700", "router": "http://127.0.0.1:7701",
                 "regions": {"us-east-1": "http://127.0.0.1:7710", "us-west-2": "http://127.0.0.1:7711"},
                 "plan": str(ROOT / "config/local.yaml"), "pid": pid}
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "local.json").write_text(json.dumps(endpoints))
    return endpoints


def test_no_plan_given_and_a_stack_running_uses_the_stack(tmp_path: Path, aws_env: None) -> None:
    write_stack(tmp_path, os.getpid())
    t = resolve_target(Opts("config/local.yaml"), explicit_plan=False, state_dir=tmp_path)
    assert t.is_local and t.plan.name == "election-local"
    assert t.provider.endpoint_url == "http://127.0.0.1:7700"
    assert t.entry_url() == "http://127.0.0.1:7701"
    assert t.api_urls()["us-west-2"] == "http://127.0.0.1:7711"


def test_an_explicit_aws_plan_wins_over_a_running_stack(tmp_path: Path, aws_env: None) -> None:
    write_stack(tmp_path, os.getpid())
    t = resolve_target(Opts(str(ROOT / "config/aws.yaml")), explicit_plan=True, state_dir=tmp_path)
    assert not t.is_local and t.plan.name == "election-2026" and t.provider.endpoint_url is None


def test_a_dead_stack_is_ignored_and_a_local_plan_alone_is_a_clear_error(tmp_path: Path, aws_env: None) -> None:
    write_stack(tmp_path, 2 ** 22 + 12345)       # no such process
    with pytest.raises(ElectionError, match=r"no local stack is running in \S+; start one with `election dev`"):
        resolve_target(Opts(str(ROOT / "config/local.yaml")), explicit_plan=False, state_dir=tmp_path)


def test_an_explicit_endpoint_url_reaches_a_local_plan_without_a_stack(tmp_path: Path, aws_env: None) -> None:
    t = resolve_target(Opts(str(ROOT / "config/local.yaml"), "http://127.0.0.1:5000"), explicit_plan=True,
                       state_dir=tmp_path)
    assert not t.is_local and t.provider.endpoint_url == "http://127.0.0.1:5000"


def test_on_aws_the_entry_url_is_the_primary_regions_http_api(tmp_path: Path, aws_env: None) -> None:
    from moto import mock_aws

    with mock_aws():
        t = resolve_target(Opts(str(ROOT / "config/aws.yaml")), explicit_plan=True, state_dir=tmp_path)
        for region in t.plan.region_names:
            api = t.client("apigatewayv2", region)
            api.create_api(Name="someone-else", ProtocolType="HTTP")
            api.create_api(Name=t.plan.name, ProtocolType="HTTP", Tags={"election:plan": t.plan.name})
        urls = t.api_urls()
        assert set(urls) == set(t.plan.region_names)
        assert t.entry_url() == urls[t.plan.primary_region].rstrip("/")
        assert "us-east-1" in t.entry_url()
