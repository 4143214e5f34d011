"""The YAML region plan, validated into immutable typed objects.

Every mistake raises PlanError with one sentence naming the file, the field
and what is wrong, so an operator can fix a plan without reading code.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from election.lambdas.contract import STATES, Ballot
from election.plan_roll import RollImport, parse_roll
from election.plan_tables import TableCapacity, check_peak, parse_tables
from election.plan_validate import PlanError, Validator, kind

AWS_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1",
    "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2", "ap-south-1", "ap-south-2",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
    "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-east-1",
    "me-south-1", "me-central-1", "af-south-1", "il-central-1", "mx-central-1",
)

TARGETS = ("aws", "local")
ARCHITECTURES = ("arm64", "x86_64")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
BREAK_GLASS_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
TAG_KEY_RE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{1,128}$")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653)


@dataclass(frozen=True)
class RegionPlan:
    name: str
    states: tuple[str, ...]


@dataclass(frozen=True)
class LambdaSettings:
    memory_mb: int = 256
    architecture: str = "arm64"
    timeout_s: int = 10
    # Concurrency only the voting API's enqueue function may use, so a queue backlog cannot take it (0: none).
    enqueue_reserved_concurrency: int = 100


@dataclass(frozen=True)
class QueueSettings:
    batch_size: int = 10
    max_receives: int = 5
    visibility_timeout_s: int = 60    # AWS: at least 6 x lambda.timeout_s (+ batching window), see plan_limits
    max_concurrency: int = 50         # per SQS mapping (process, forward): ScalingConfig.MaximumConcurrency


@dataclass(frozen=True)
class SecrecySettings:
    """How ballots are mixed before they are written (README, "Ballot secrecy").

    `min_mix` (k): an observer who knows when every voter submitted links a voter to a ballot with
    probability at most 1/k, or 1/(votes in the batch) when fewer arrive within `window_s`.
    The process mapping collects up to `batch_size` votes for up to `window_s` seconds (AWS: at
    most 300 s); the votes queue's visibility timeout is raised to at least window_s +
    lambda.timeout_s, so a vote held in a gathering batch is not delivered twice.
    Defaults: k = 100 and 300 s; a local plan without this section gets k = 10 and 1 s.
    """

    min_mix: int = 100
    window_s: int = 300

    @property
    def batch_size(self) -> int:
        """The process mapping's BatchSize: at least k, and room for a busy window's votes.

        500 keeps a full batch writable well within the function's timeout (MIX_BATCH); a larger k
        raises it (AWS allows up to 10,000 with a batching window).
        """
        return max(MIX_BATCH, self.min_mix)


# A full batch must be written well within lambda.timeout_s: bench/pipeline_cost.py measured ~5.2 s of CPU
# for 1,000 votes at 256 MB (the writes themselves run 16 at a time), so 500 keeps a 2x margin at 10 s.
MIX_BATCH = 500
MIX_BATCH_SIZE = 10000   # the largest BatchSize of an SQS event source mapping (with a batching window >= 1 s)
LOCAL_SECRECY = SecrecySettings(min_mix=10, window_s=1)   # a local plan's default: the demo stays quick


@dataclass(frozen=True)
class ResultsSettings:
    """`live`: the public GET /results shows the breakdown by candidate while the polls are open."""

    live: bool = False


@dataclass(frozen=True)
class ApiSettings:
    throttle_rate: int = 2000
    throttle_burst: int = 5000
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class CapacitySettings:
    """The election's expected size (optional): `election plan` sizes and prices the stack from it and
    `up` pre-warms the tables and sets the stage throttles (election/ops/capacity.py)."""

    voters: int
    turnout: float = 0.6
    peak_votes_per_s: int = 1000

    @property
    def votes(self) -> int:
        return round(self.voters * self.turnout)


@dataclass(frozen=True)
class AlertSettings:
    email: tuple[str, ...] = ()       # each address is subscribed to every region's alerts topic


@dataclass(frozen=True)
class Plan:
    """A validated region plan. `path` is where it came from, for messages."""

    name: str
    target: str
    regions: tuple[RegionPlan, ...]
    ballot: Ballot
    lambda_: LambdaSettings = LambdaSettings()
    queue: QueueSettings = QueueSettings()
    api: ApiSettings = ApiSettings()
    secrecy: SecrecySettings = SecrecySettings()
    results: ResultsSettings = ResultsSettings()
    alerts: AlertSettings = AlertSettings()
    capacity: CapacitySettings | None = None
    log_retention_days: int = 365
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    domain: str | None = None
    break_glass_role: str | None = None   # IAM role ARN allowed to read the peppers besides the pipeline
    roll: RollImport | None = None        # voters tables imported from S3 (election/plan_roll.py)
    ballots_capacity: TableCapacity = field(default_factory=TableCapacity)   # `tables.ballots` (election/plan_tables.py)
    path: str = "<plan>"

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    @property
    def primary_region(self) -> str:
        """Where global resources (site bucket, dashboard, zone records) are managed."""
        return self.regions[0].name

    @property
    def replicated_by_aws(self) -> bool:
        """On AWS, tables are global tables; locally the runtime replicates them."""
        return self.target == "aws"

    def home_region(self, state: str) -> str:
        return self.state_regions()[state]

    def state_regions(self) -> dict[str, str]:
        return {s: r.name for r in self.regions for s in r.states}

    def queue_batch(self, mixing: bool) -> tuple[int, int]:
        """(batch size, batching window s) of an SQS mapping (contract.Queue): the mixing one's come from
        `secrecy` (README "Ballot secrecy"), the others' from `queue`, with no window."""
        return (self.secrecy.batch_size, self.secrecy.window_s) if mixing else (self.queue.batch_size, 0)


# --- loading --------------------------------------------------------------------

def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; raises PlanError naming file and field."""
    p = Path(path)
    where = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{where}: the plan file does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{where}: the plan file cannot be read ({exc}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise PlanError(f"{where}: the plan is not valid YAML{at}.") from None
    return parse_plan(data, where)


def parse_plan(data: Any, where: str = "<plan>") -> Plan:
    """Validate already-parsed YAML data into a Plan."""
    v = Validator(where)
    top = v.mapping(data, "", required={"name", "regions", "ballot"},
                    optional={"target", "lambda", "queue", "api", "logs", "tags", "domain", "break_glass_role",
                              "secrecy", "results", "alerts", "capacity", "roll", "tables"})
    name = v.string(top["name"], "name")
    if not NAME_RE.match(name):
        v.fail("name", f"'{name}' must be 3-32 lowercase letters, digits or hyphens, starting with a letter")
    target = v.choice(top.get("target", "aws"), "target", TARGETS)
    regions = _regions(v, top["regions"], target)
    ballot = _ballot(v, top["ballot"])
    # Ranges are AWS's own (the API references of CreateFunction, CreateQueue / SetQueueAttributes,
    # CreateEventSourceMapping, PutFunctionConcurrency); the cross-field limits are in plan_limits.
    lam = _section(v, top.get("lambda"), "lambda", LambdaSettings, {
        "memory_mb": (128, 10240), "timeout_s": (1, 900), "enqueue_reserved_concurrency": (0, 900)},
        choices={"architecture": ARCHITECTURES})
    queue = _section(v, top.get("queue"), "queue", QueueSettings, {
        "batch_size": (1, 10), "max_receives": (1, 1000), "visibility_timeout_s": (0, 43200),
        "max_concurrency": (2, 1000)})
    api = _api(v, top.get("api"))
    secrecy = _section(v, top.get("secrecy") or {}, "secrecy", SecrecySettings, {
        "min_mix": (1, MIX_BATCH_SIZE), "window_s": (1, 300)})
    if target == "local" and top.get("secrecy") is None:
        secrecy = LOCAL_SECRECY
    results = ResultsSettings(live=_results_live(v, top.get("results")))
    retention = 365
    if top.get("logs") is not None:
        logs = v.mapping(top["logs"], "logs", optional={"retention_days"})
        if "retention_days" in logs:
            retention = v.integer(logs["retention_days"], "logs.retention_days", 1, 3653)
            if retention not in LOG_RETENTION_DAYS:
                v.fail("logs.retention_days", f"{retention} is not a CloudWatch retention; use one of "
                       + ", ".join(map(str, LOG_RETENTION_DAYS)))
    tags = _tags(v, top.get("tags"))
    domain = None
    if top.get("domain") is not None:
        domain = v.string(top["domain"], "domain").lower().rstrip(".")
        if not DOMAIN_RE.match(domain):
            v.fail("domain", f"'{domain}' is not a valid DNS name")
        if target == "local":
            v.fail("domain", "a domain needs Route 53 and ACM, so it is only allowed with target: aws")
    alerts = _alerts(v, top.get("alerts"))
    capacity = _capacity(v, top.get("capacity"))
    break_glass = None
    if top.get("break_glass_role") is not None:   # iam: the one role besides the pipeline that may read a pepper
        break_glass = v.string(top["break_glass_role"], "break_glass_role")
        if not BREAK_GLASS_RE.match(break_glass):
            v.fail("break_glass_role", f"'{break_glass}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    roll = parse_roll(top.get("roll"), v.fail)
    ballots_capacity = parse_tables(top.get("tables"), v.fail, target)
    plan = Plan(name=name, target=target, regions=regions, ballot=ballot, lambda_=lam, queue=queue,
                api=api, secrecy=secrecy, results=results, alerts=alerts, log_retention_days=retention, tags=tags,
                domain=domain, capacity=capacity, break_glass_role=break_glass, roll=roll,
                ballots_capacity=ballots_capacity, path=where)
    from election import plan_limits  # imports the model, which imports this module
    from election.ops.capacity import region_shares

    plan_limits.check(plan, v.fail)
    if capacity is not None:
        check_peak(ballots_capacity, capacity.peak_votes_per_s, max(region_shares(plan).values()), v.fail)
    return plan


EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


def _alerts(v: Validator, raw: Any) -> AlertSettings:
    if raw is None:
        return AlertSettings()
    sec = v.mapping(raw, "alerts", optional={"email"})
    emails = v.string_list(sec.get("email") or [], "alerts.email")
    for i, e in enumerate(emails):
        if not EMAIL_RE.match(e):
            v.fail(f"alerts.email[{i}]", f"'{e}' is not an email address")
    if len({e.lower() for e in emails}) != len(emails):
        v.fail("alerts.email", "an address is listed twice")
    return AlertSettings(email=tuple(emails))


def _regions(v: Validator, raw: Any, target: str) -> tuple[RegionPlan, ...]:
    regions = v.mapping(raw, "regions")
    if not regions:
        v.fail("regions", "at least one region is needed")
    homed: dict[str, str] = {}
    out = []
    for rname, body in regions.items():
        f = f"regions.{rname}"
        if not isinstance(rname, str) or rname not in AWS_REGIONS:
            hint = difflib.get_close_matches(str(rname), AWS_REGIONS, n=1)
            v.fail(f, f"'{rname}' is not an AWS region name" + (f" (did you mean {hint[0]}?)" if hint else ""))
        section = v.mapping(body, f, required={"states"})
        states = v.string_list(section["states"], f"{f}.states")
        for i, s in enumerate(states):
            if s not in STATES:
                v.fail(f"{f}.states[{i}]", f"'{s}' is not a US state or DC postal code")
            if s in homed:
                v.fail(f"{f}.states[{i}]", f"{s} is already homed in {homed[s]}; every state has exactly one home region")
            homed[s] = rname
        out.append(RegionPlan(name=rname, states=tuple(states)))
    missing = [s for s in STATES if s not in homed]
    if missing:
        v.fail("regions", f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not homed in any region; "
               "every state and DC needs exactly one home region")
    return tuple(out)


def _ballot(v: Validator, raw: Any) -> Ballot:
    b = v.mapping(raw, "ballot", required={"candidates"}, optional={"overrides"})
    candidates = _candidates(v, b["candidates"], "ballot.candidates")
    overrides = {}
    if b.get("overrides") is not None:
        for state, names in v.mapping(b["overrides"], "ballot.overrides").items():
            if state not in STATES:
                v.fail(f"ballot.overrides.{state}", f"'{state}' is not a US state or DC postal code")
            overrides[state] = tuple(_candidates(v, names, f"ballot.overrides.{state}"))
    return Ballot(candidates=tuple(candidates), overrides=MappingProxyType(overrides))


def _candidates(v: Validator, raw: Any, f: str) -> list[str]:
    names = v.string_list(raw, f)
    if not names:
        v.fail(f, "at least one candidate is needed")
    for i, n in enumerate(names):
        if not (1 <= len(n) <= 64) or not n.isprintable():
            v.fail(f"{f}[{i}]", "a candidate name is 1-64 printable characters")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        v.fail(f, f"'{dup}' is listed twice")
    return names


def _section(v: Validator, raw: Any, name: str, cls: type, ranges: dict[str, tuple[int, int]],
             choices: dict[str, tuple[str, ...]] | None = None) -> Any:
    choices = choices or {}
    if raw is None:
        return cls()
    sec = v.mapping(raw, name, optional=set(ranges) | set(choices))
    kwargs: dict[str, Any] = {}
    for key, (lo, hi) in ranges.items():
        if key in sec:
            kwargs[key] = v.integer(sec[key], f"{name}.{key}", lo, hi)
    for key, allowed in choices.items():
        if key in sec:
            kwargs[key] = v.choice(sec[key], f"{name}.{key}", allowed)
    return cls(**kwargs)


def _api(v: Validator, raw: Any) -> ApiSettings:
    base = _section(v, None if raw is None else {k: x for k, x in v.mapping(
        raw, "api", optional={"throttle_rate", "throttle_burst", "allowed_origins"}).items()
        if k != "allowed_origins"}, "api", ApiSettings,
        {"throttle_rate": (1, 100000), "throttle_burst": (1, 100000)})
    origins: tuple[str, ...] = ()
    if raw is not None and raw.get("allowed_origins") is not None:
        lst = v.string_list(raw["allowed_origins"], "api.allowed_origins")
        for i, o in enumerate(lst):
            if not ORIGIN_RE.match(o):
                v.fail(f"api.allowed_origins[{i}]", f"'{o}' is not an origin like https://vote.example.org")
        origins = tuple(lst)
    return ApiSettings(throttle_rate=base.throttle_rate, throttle_burst=base.throttle_burst,
                       allowed_origins=origins)


def _capacity(v: Validator, raw: Any) -> CapacitySettings | None:
    if raw is None:
        return None
    sec = v.mapping(raw, "capacity", required={"voters"}, optional={"turnout", "peak_votes_per_s"})
    voters = v.integer(sec["voters"], "capacity.voters", 1, 1_000_000_000)
    turnout = sec.get("turnout", 0.6)
    if isinstance(turnout, bool) or not isinstance(turnout, (int, float)) or not 0 < turnout <= 1:
        v.fail("capacity.turnout", f"must be a fraction of the voters above 0 and at most 1 (like 0.6), not {kind(turnout)}"
               if not isinstance(turnout, (int, float)) or isinstance(turnout, bool)
               else f"{turnout} is out of range; it is a fraction above 0 and at most 1, like 0.6")
    peak = v.integer(sec.get("peak_votes_per_s", 1000), "capacity.peak_votes_per_s", 1, 10_000_000)
    return CapacitySettings(voters=voters, turnout=float(turnout), peak_votes_per_s=peak)


def _results_live(v: Validator, raw: Any) -> bool:
    if raw is None:
        return False
    sec = v.mapping(raw, "results", optional={"live"})
    live = sec.get("live", False)
    if not isinstance(live, bool):
        v.fail("results.live", f"must be true or false, not {kind(live)}")
    return live


def _tags(v: Validator, raw: Any) -> Mapping[str, str]:
    if raw is None:
        return MappingProxyType({})
    tags = v.mapping(raw, "tags")
    out = {}
    for k, val in tags.items():
        if not isinstance(k, str) or not TAG_KEY_RE.match(k) or k.lower().startswith("aws:"):
            v.fail(f"tags.{k}", "a tag key is 1-128 letters, digits, spaces or _.:/=+-@ and may not start with aws:")
        if k.startswith("election:"):
            v.fail(f"tags.{k}", "keys starting with election: are reserved for the tool")
        if isinstance(val, bool) or not isinstance(val, (str, int, float)) or len(str(val)) > 256:
            v.fail(f"tags.{k}", "a tag value is a string of at most 256 characters")
        out[k] = str(val)
    if len(out) > 40:
        v.fail("tags", f"{len(out)} tags given; at most 40 are allowed (AWS allows 50 and the tool uses some)")
    return MappingProxyType(out)
