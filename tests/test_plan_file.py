"""Every plan-validation error is one sentence naming the file and the field; both shipped plans are valid."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from election.plan import STATES, PlanError, load_plan, parse_plan

ROOT = Path(__file__).resolve().parent.parent
F = "config/aws.yaml"
BASE = yaml.safe_load((ROOT / F).read_text())
EAST = BASE["regions"]["us-east-1"]["states"]
WEST = BASE["regions"]["us-west-2"]["states"]
DROP = object()


def mutate(path: list[str], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    cur = data
    for k in path[:-1]:
        cur = cur[k]
    if value is DROP:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return data


CASES: list[tuple[str, Any, str]] = [
    ("not a mapping", [1, 2], "the plan must be a mapping of keys to values, not a list."),
    ("unknown top key", mutate(["regiosn"], {}), "regiosn: unknown key (did you mean 'regions'?)."),
    ("missing name", mutate(["name"], DROP), "name: this key is required."),
    ("bad name", mutate(["name"], "Election_2026"),
     "name: 'Election_2026' must be 3-32 lowercase letters, digits or hyphens, starting with a letter."),
    ("name not text", mutate(["name"], 42), "name: must be a non-empty string, not a number."),
    ("bad target", mutate(["target"], "gcp"), "target: 'gcp' is not one of aws, local."),
    ("regions as list", mutate(["regions"], ["us-east-1"]),
     "regions: regions must be a mapping of keys to values, not a list."),
    ("no regions", mutate(["regions"], {}), "regions: at least one region is needed."),
    ("unknown region", mutate(["regions"], {"us-east-9": {"states": EAST + WEST}}),
     "regions.us-east-9: 'us-east-9' is not an AWS region name (did you mean us-east-2?)."),
    ("region without states", mutate(["regions", "us-west-2"], {}), "regions.us-west-2.states: this key is required."),
    ("unknown state", mutate(["regions", "us-west-2", "states"], WEST + ["XX"]),
     "regions.us-west-2.states[19]: 'XX' is not a US state or DC postal code."),
    ("state homed twice", mutate(["regions", "us-west-2", "states"], WEST + ["NY"]),
     "regions.us-west-2.states[19]: NY is already homed in us-east-1; every state has exactly one home region."),
    ("state never homed", mutate(["regions", "us-west-2", "states"], [s for s in WEST if s != "TX"]),
     "regions: TX is not homed in any region; every state and DC needs exactly one home region."),
    ("states not a list", mutate(["regions", "us-west-2", "states"], "TX"),
     "regions.us-west-2.states: must be a list, not the text 'TX'."),
    ("no candidates", mutate(["ballot", "candidates"], []), "ballot.candidates: at least one candidate is needed."),
    ("candidate twice", mutate(["ballot", "candidates"], ["A", "B", "A"]), "ballot.candidates: 'A' is listed twice."),
    ("candidate too long", mutate(["ballot", "candidates"], ["x" * 65]),
     "ballot.candidates[0]: a candidate name is 1-64 printable characters."),
    ("candidate not text", mutate(["ballot", "candidates"], ["A", 3]),
     "ballot.candidates[1]: must be a non-empty string, not a number."),
    ("override unknown state", mutate(["ballot", "overrides"], {"ZZ": ["A"]}),
     "ballot.overrides.ZZ: 'ZZ' is not a US state or DC postal code."),
    ("memory too low", mutate(["lambda", "memory_mb"], 64),
     "lambda.memory_mb: 64 is out of range; it must be between 128 and 10240."),
    ("memory as text", mutate(["lambda", "memory_mb"], "big"),
     "lambda.memory_mb: must be a whole number, not the text 'big'."),
    ("unknown architecture", mutate(["lambda", "architecture"], "sparc"),
     "lambda.architecture: 'sparc' is not one of arm64, x86_64."),
    ("negative batch size", mutate(["queue", "batch_size"], -1),
     "queue.batch_size: -1 is out of range; it must be between 1 and 10."),
    ("batch size true", mutate(["queue", "batch_size"], True),
     "queue.batch_size: must be a whole number, not true/false."),
    ("visibility below 6 x timeout", mutate(["queue", "visibility_timeout_s"], 359),
     ("queue.visibility_timeout_s: 359 is below 360 s, the 6 x lambda.timeout_s (10) + batching window (300 s) AWS asks "
      "of a Lambda event source queue, so a throttled batch is not redelivered while it is still being processed.")),
    ("misspelt queue key", mutate(["queue", "max_recieves"], 3),
     "queue.max_recieves: unknown key (did you mean 'max_receives'?)."),
    ("origin without scheme", mutate(["api", "allowed_origins"], ["vote.example.org"]),
     "api.allowed_origins[0]: 'vote.example.org' is not an origin like https://vote.example.org."),
    ("zero throttle", mutate(["api", "throttle_rate"], 0),
     "api.throttle_rate: 0 is out of range; it must be between 1 and 100000."),
    ("odd retention", mutate(["logs", "retention_days"], 45),
     ("logs.retention_days: 45 is not a CloudWatch retention; use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, "
      "365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653.")),
    ("reserved tag", mutate(["tags"], {"election:plan": "x"}),
     "tags.election:plan: keys starting with election: are reserved for the tool."),
    ("aws tag", mutate(["tags"], {"aws:x": "y"}),
     "tags.aws:x: a tag key is 1-128 letters, digits, spaces or _.:/=+-@ and may not start with aws:."),
    ("tag value list", mutate(["tags"], {"k": ["list"]}), "tags.k: a tag value is a string of at most 256 characters."),
    ("too many tags", mutate(["tags"], {f"k{i}": "v" for i in range(41)}),
     "tags: 41 tags given; at most 40 are allowed (AWS allows 50 and the tool uses some)."),
    ("mix too large", {**mutate(["name"], "plan-x"), "secrecy": {"min_mix": 20000}},
     "secrecy.min_mix: 20000 is out of range; it must be between 1 and 10000."),
    ("window beyond AWS", {**mutate(["name"], "plan-x"), "secrecy": {"window_s": 600}},
     "secrecy.window_s: 600 is out of range; it must be between 1 and 300."),
    ("live not a bool", {**mutate(["name"], "plan-x"), "results": {"live": "yes"}},
     "results.live: must be true or false, not the text 'yes'."),
    ("bad domain", mutate(["domain"], "not a domain"), "domain: 'not a domain' is not a valid DNS name."),
    ("domain on local", {**mutate(["target"], "local"), "domain": "vote.example.org"},
     "domain: a domain needs Route 53 and ACM, so it is only allowed with target: aws."),
]


@pytest.mark.parametrize("data,message", [(d, m) for _, d, m in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_one_sentence_naming_file_and_field(data: Any, message: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(data, F)
    assert str(info.value) == f"{F}: {message}"
    assert "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PlanError, match=r"nope\.yaml: the plan file does not exist\.$"):
        load_plan(missing)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nregions: [unclosed\n")
    with pytest.raises(PlanError) as info:
        load_plan(bad)
    assert str(info.value) == f"{bad}: the plan is not valid YAML at line 3."


@pytest.mark.parametrize("name,target", [("aws.yaml", "aws"), ("local.yaml", "local")])
def test_shipped_plans_are_valid_and_home_every_state_once(name: str, target: str) -> None:
    plan = load_plan(ROOT / "config" / name)
    assert plan.target == target
    assert plan.replicated_by_aws is (target == "aws")
    homed = [s for r in plan.regions for s in r.states]
    assert sorted(homed) == sorted(STATES) and len(homed) == 51
    assert plan.primary_region == "us-east-1"
    assert plan.ballot.for_state("UT")[-1] == "Evan McMullin"
    assert plan.queue.visibility_timeout_s >= plan.lambda_.timeout_s


def test_secrecy_and_results_sections() -> None:
    from election.plan import LOCAL_SECRECY, SecrecySettings, load_plan
    aws = load_plan("config/aws.yaml")
    assert (aws.secrecy.min_mix, aws.secrecy.window_s, aws.results.live) == (100, 300, False)
    assert aws.secrecy.batch_size >= aws.secrecy.min_mix
    local = load_plan("config/local.yaml")
    assert local.results.live is True and local.secrecy.window_s <= 5
    assert SecrecySettings(min_mix=5000).batch_size == 5000
    assert LOCAL_SECRECY.window_s == 1
