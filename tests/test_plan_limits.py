"""AWS's documented limits are refused when the plan is read (moto enforces none of them), one sentence each."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from election import plan_limits
from election.lambdas import contract
from election.plan import STATES, PlanError, parse_plan
from election.provision import model
from election.provision.resources import Ref

ROOT = Path(__file__).resolve().parent.parent
F = "config/aws.yaml"
BASE = yaml.safe_load((ROOT / F).read_text())
ALL = BASE["regions"]["us-east-1"]["states"] + BASE["regions"]["us-west-2"]["states"]
# A 2016-like state ballot: the four national candidates plus the ones on only some states' ballots.
NAMES = ["Hillary Clinton", "Donald Trump", "Gary Johnson", "Jill Stein", "Evan McMullin", "Darrell Castle",
         "Rocky De La Fuente"]


def plan_data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        cur = data
        for k in path:
            cur = cur.setdefault(k, {})
        cur[last] = value
    return data


def error(data: dict[str, Any]) -> str:
    with pytest.raises(PlanError) as info:
        parse_plan(data, F)
    text = str(info.value)
    assert text.startswith(f"{F}: ") and text.endswith(".") and "\n" not in text
    return text[len(F) + 2:]


def overrides(n: int) -> dict[str, list[str]]:
    return {s: NAMES[: 5 + i % 3] for i, s in enumerate(STATES[:n])}


# --- environment: 4 KB per function ------------------------------------------------------------


def test_thirty_ballot_overrides_fail_at_plan_time_naming_the_ballot() -> None:
    message = error(plan_data(ballot__overrides=overrides(30)))
    assert message.startswith("ballot: the environment of function election-2026-")
    assert "over the 4 KB (4,096 bytes) Lambda allows for all variables together" in message
    assert "largest: BALLOT" in message


def test_the_limit_is_exactly_4096_bytes_of_the_longest_expansion() -> None:
    """Growing the ballot one override at a time: the first plan refused is the first one measured over 4,096."""
    for n in range(len(STATES) + 1):
        data = plan_data(ballot__overrides=overrides(n))
        plan = parse_plan({**data, "ballot": {"candidates": data["ballot"]["candidates"]}}, F)
        plan = dataclasses.replace(plan, ballot=dataclasses.replace(
            plan.ballot, overrides={s: tuple(c) for s, c in overrides(n).items()}))
        size = max(plan_limits.environment_size(plan, r, role) for r in plan.region_names
                   for role in contract.FUNCTIONS)
        if size > plan_limits.ENV_LIMIT_BYTES:
            assert "ballot: the environment" in error(data)
            assert n > 5   # the shipped ballot is far from it
            return
        parse_plan(data, F)
    pytest.fail("no number of overrides reached 4 KB")


def test_refs_are_measured_at_their_longest_aws_form() -> None:
    plan = parse_plan(plan_data(), F)
    url = plan_limits.expand(Ref("us-west-2/queue/election-2026-votes", "url"), plan)
    assert url == "https://us-west-2.queue.amazonaws.com/111111111111/election-2026-votes"
    origin = plan_limits.expand(Ref(model.key("us-east-1", "cloudfront_distribution", "x"), "origin"), plan)
    assert len(origin) >= len("https://d111111abcdef8.cloudfront.net")
    with_domain = dataclasses.replace(plan, domain="vote." + "a" * 60 + ".example.org")
    assert plan_limits.expand(Ref(model.key("us-east-1", "cloudfront_distribution", "x"), "origin"),
                              with_domain) == "https://" + with_domain.domain


def test_long_allowed_origins_are_blamed_on_api_allowed_origins() -> None:
    origins = [f"https://{'o' * 60}{i}.example.org" for i in range(60)]
    assert error(plan_data(api__allowed_origins=origins)).startswith("api.allowed_origins: the environment")


# --- SQS visibility: 6 x function timeout + batching window -----------------------------------


def test_visibility_must_cover_six_timeouts_on_aws() -> None:
    # secrecy.window_s is the process mapping's batching window (the mixing window).
    assert error(plan_data(lambda__timeout_s=20, queue__visibility_timeout_s=100, secrecy__window_s=1)).startswith(
        "queue.visibility_timeout_s: 100 is below 121 s, the 6 x lambda.timeout_s (20)")
    parse_plan(plan_data(lambda__timeout_s=20, queue__visibility_timeout_s=121, secrecy__window_s=1), F)


def test_visibility_adds_the_batching_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "sqs_batching_windows", lambda plan: {"election-2026-process-votes": 5})
    assert "below 65 s" in error(plan_data(queue__visibility_timeout_s=64))
    parse_plan(plan_data(queue__visibility_timeout_s=65), F)


def test_local_plans_only_need_visibility_above_the_timeout() -> None:
    """The local pollers never retry a throttled invoke inside the window: tests keep fast redelivery."""
    local = {"target": "local", "tables": {"ballots": {"mode": "on_demand"}}}   # local tables are on demand
    parse_plan(plan_data(**local, lambda__timeout_s=1, queue__visibility_timeout_s=2), F)
    assert error(plan_data(**local, lambda__timeout_s=5, queue__visibility_timeout_s=4)) == (
        "queue.visibility_timeout_s: must be at least lambda.timeout_s (5) so a message is not redelivered "
        "while it is processed.")


# --- name lengths ---------------------------------------------------------------------------------


def test_longest_names_of_the_longest_plan_name_fit() -> None:
    data = plan_data(name="a" * 32, regions={"ap-northeast-3": {"states": ALL}})
    plan = parse_plan(data, F)
    limits = plan_limits.name_limits(plan)
    assert {what for what, _, _ in limits} >= {"Lambda function", "IAM role", "SQS queue", "DynamoDB table",
                                                "log group", "KMS alias", "secret", "SNS topic", "alarm"}
    role = max((n for w, n, _ in limits if w == "IAM role"), key=len)
    assert role.endswith("-ap-northeast-3") and len(role) <= 64


def test_a_name_over_a_limit_is_refused_naming_the_plan_name() -> None:
    plan = dataclasses.replace(parse_plan(plan_data(), F), name="n" * 50)
    seen: list[tuple[str, str]] = []
    plan_limits.check(plan, lambda f, m: seen.append((f, m)))
    assert seen and seen[0][0] == "name"
    assert "IAM role name" in seen[0][1] and "AWS allows at most 64" in seen[0][1]


# --- API throttles: a soft quota, checked by preflight against the account's real one ---------------


def test_throttles_above_the_default_quota_are_accepted_for_preflight_to_check() -> None:
    """10,000 requests/s (2,500 in the smaller regions) is only a default: accounts raise it."""
    parse_plan(plan_data(api__throttle_rate=50_000, api__throttle_burst=25_000), F)
    parse_plan(plan_data(regions={"eu-south-1": {"states": ALL}}, api__throttle_rate=5000), F)
    assert error(plan_data(api__throttle_rate=100_001)) == (
        "api.throttle_rate: 100001 is out of range; it must be between 1 and 100000.")


# --- ranges from the API references ------------------------------------------------------------------


@pytest.mark.parametrize("field,value,message", [
    ("lambda__timeout_s", 901, "lambda.timeout_s: 901 is out of range; it must be between 1 and 900."),
    ("lambda__memory_mb", 10241, "lambda.memory_mb: 10241 is out of range; it must be between 128 and 10240."),
    ("queue__max_receives", 1001, "queue.max_receives: 1001 is out of range; it must be between 1 and 1000."),
    ("queue__visibility_timeout_s", 43201,
     "queue.visibility_timeout_s: 43201 is out of range; it must be between 0 and 43200."),
    ("queue__max_concurrency", 1, "queue.max_concurrency: 1 is out of range; it must be between 2 and 1000."),
    ("queue__max_concurrency", 1001, "queue.max_concurrency: 1001 is out of range; it must be between 2 and 1000."),
    ("lambda__enqueue_reserved_concurrency", 901,
     "lambda.enqueue_reserved_concurrency: 901 is out of range; it must be between 0 and 900."),
])
def test_aws_ranges(field: str, value: int, message: str) -> None:
    assert error(plan_data(**{field: value})) == message


def test_new_fields_have_defaults_and_are_read() -> None:
    plan = parse_plan(plan_data(), F)
    assert plan.queue.max_concurrency == 50 and plan.lambda_.enqueue_reserved_concurrency == 100
    assert plan.alerts.email == ()
    plan = parse_plan(plan_data(queue__max_concurrency=5, lambda__enqueue_reserved_concurrency=0,
                                alerts={"email": ["ops@example.org", "a.b+c@vote.example.org"]}), F)
    assert plan.queue.max_concurrency == 5 and plan.lambda_.enqueue_reserved_concurrency == 0
    assert plan.alerts.email == ("ops@example.org", "a.b+c@vote.example.org")


# --- alerts.email ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alerts,message", [
    ({"email": ["not-an-address"]}, "alerts.email[0]: 'not-an-address' is not an email address."),
    ({"email": ["a@example.org", "A@example.org"]}, "alerts.email: an address is listed twice."),
    ({"email": "a@example.org"}, "alerts.email: must be a list, not the text 'a@example.org'."),
    ({"emails": []}, "alerts.emails: unknown key (did you mean 'email'?)."),
])
def test_alert_addresses(alerts: Any, message: str) -> None:
    assert error(plan_data(alerts=alerts)) == message


def test_the_cli_refuses_such_a_plan_in_one_sentence_before_any_aws_call(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    bad = tmp_path / "big.yaml"
    bad.write_text(yaml.safe_dump(plan_data(ballot__overrides=overrides(30))))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELECTION_", "AWS_"))}
    env.update(PYTHONPATH=str(ROOT), AWS_ACCESS_KEY_ID="none", AWS_SECRET_ACCESS_KEY="none",
               AWS_ENDPOINT_URL="http://127.0.0.1:9")   # any AWS call would fail with another message
    done = subprocess.run([sys.executable, "-c", "from election.cli import main; main()", "plan", "--plan", str(bad)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    said = " ".join(done.stderr.split())
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert said.count("Error:") == 1 and f"{bad}: ballot: the environment of function" in said
