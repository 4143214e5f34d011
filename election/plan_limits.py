"""AWS's documented limits that a plan can break, checked when the plan is read.

moto enforces none of these, so without this module a plan would pass every
local test and then fail at CreateFunction / CreateQueue on a real account.
Each check reports one sentence through `fail(field, message)`, naming the plan
field to change. Every number cites the AWS page it comes from.

Values known only after deployment (queue URLs, the site's origin, ARNs) are
measured at the longest expansion AWS gives them, so a plan that passes here
cannot grow past a limit once deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from election.plan import Plan

Fail = Callable[[str, str], None]

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (Function configuration):
# "Function environment variables: 4 KB, for all environment variables associated with the function,
# in aggregate". Counted as the bytes of every name plus every value (UTF-8).
ENV_LIMIT_BYTES = 4096

# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html: "set the source queue's
# visibility timeout to at least six times the configuration timeout on your function" (plus the
# mapping's MaximumBatchingWindowInSeconds, during which a received batch waits before the invoke).
VISIBILITY_FACTOR = 6

# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: the account-level throttle
# quota per Region is 10,000 RPS, and 2,500 RPS (burst 1,250) in the Regions listed there. It is a soft
# quota (national elections raise it), so the plan is not refused for exceeding it: `election preflight`
# reads the account's real quota and says what to request (election/ops/preflight.py uses these defaults).
API_ACCOUNT_RPS = 10_000
API_SMALL_REGIONS = ("af-south-1", "eu-south-1", "ap-southeast-3", "me-central-1", "ap-south-2", "ap-southeast-4",
                     "eu-south-2", "eu-central-2", "il-central-1", "ca-west-1", "ap-southeast-5", "ap-southeast-7",
                     "mx-central-1")
API_SMALL_RPS, API_SMALL_BURST = 2_500, 1_250

# Longest realistic expansions of values the deployer learns from AWS.
ACCOUNT = "1" * 12                     # an account id is 12 digits
PARTITION = "aws-us-gov"               # the longest partition name of the commercial/GovCloud partitions
CLOUDFRONT_ORIGIN = "https://d" + "x" * 13 + ".cloudfront.net"   # d + 13 characters, as CloudFront assigns


def name_limits(plan: Plan) -> list[tuple[str, str, int]]:
    """(what, name, maximum length) for the longest name of each kind the plan produces."""
    from election.lambdas import contract
    from election.provision import model

    n = model.names(plan)
    longest_region = max(plan.region_names, key=len)
    roles = list(contract.FUNCTIONS)
    out: list[tuple[str, str, int]] = [
        # Lambda CreateFunction FunctionName: "If you specify only the function name, it is limited to 64
        # characters in length." (Lambda API reference, CreateFunction)
        *[("Lambda function", n.function(r), 64) for r in roles],
        # IAM quotas (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): role name 64.
        *[("IAM role", n.role(r, longest_region), 64) for r in roles],
        # SQS CreateQueue QueueName: "A queue name can have up to 80 characters."
        *[("SQS queue", n.queue(q), 80) for q in model.QUEUES],
        # DynamoDB CreateTable TableName: 3 to 255 characters.
        *[("DynamoDB table", n.table(t), 255) for t in model.TABLES],
        # CloudWatch Logs CreateLogGroup logGroupName: 1 to 512 characters.
        *[("log group", n.log_group(r), 512) for r in roles],
        # KMS CreateAlias AliasName: 1 to 256 characters, including "alias/".
        ("KMS alias", n.alias, 256),
        # Secrets Manager CreateSecret Name: 1 to 512 characters.
        *[("secret", n.secret(w), 512) for w in ("voter", "ballot")],
        # SNS CreateTopic Name: "between 1 and 256 characters long".
        ("SNS topic", n.topic, 256),
        # CloudWatch PutMetricAlarm AlarmName and PutDashboard DashboardName: 1 to 255 characters.
        *[("alarm", a.name, 255) for a in model.alarm_resources(plan, longest_region, {})],
        ("dashboard", plan.name, 255),
        # API Gateway v2 CreateApi Name: 1 to 128 characters.
        ("HTTP API", plan.name, 128),
    ]
    return out


def check(plan: Plan, fail: Fail) -> None:
    """Every documented AWS limit the plan could break; the first broken one calls fail(field, message)."""
    _names(plan, fail)
    _visibility(plan, fail)
    _environment(plan, fail)


def _names(plan: Plan, fail: Fail) -> None:
    for what, name, limit in name_limits(plan):
        if len(name) > limit:
            fail("name", f"the {what} name '{name}' would be {len(name)} characters; AWS allows at most {limit}, "
                 "so choose a shorter plan name")


def _visibility(plan: Plan, fail: Fail) -> None:
    """Lambda refuses a queue whose visibility is below the function timeout; AWS recommends 6x plus the window."""
    from election.provision import model

    timeout = plan.lambda_.timeout_s
    window = max((w for w in model.sqs_batching_windows(plan).values()), default=0)
    if plan.target == "aws":
        need = VISIBILITY_FACTOR * timeout + window
        if plan.queue.visibility_timeout_s < need:
            fail("queue.visibility_timeout_s",
                 f"{plan.queue.visibility_timeout_s} is below {need} s, the {VISIBILITY_FACTOR} x lambda.timeout_s "
                 f"({timeout}) + batching window ({window} s) AWS asks of a Lambda event source queue, so a "
                 "throttled batch is not redelivered while it is still being processed")
    elif plan.queue.visibility_timeout_s < timeout:
        # The local pollers do not retry throttled invokes inside the visibility window, so only the rule
        # CreateEventSourceMapping itself enforces applies (tests use 1-2 s for fast redelivery).
        fail("queue.visibility_timeout_s",
             f"must be at least lambda.timeout_s ({timeout}) so a message is not redelivered while it is processed")


def _environment(plan: Plan, fail: Fail) -> None:
    """Each function's environment, Refs at their longest, must fit Lambda's 4 KB."""
    from election.lambdas import contract
    from election.provision import model

    for region in plan.region_names:
        for role in contract.FUNCTIONS:
            env = _expanded_environment(plan, region, role)
            size = _size(env)
            if size > ENV_LIMIT_BYTES:
                field, var = _biggest_field(env)
                fail(field, f"the environment of function {model.names(plan).function(role)} in {region} would be "
                     f"{size:,} bytes (largest: {var}, {len(env[var].encode()):,} bytes), over the 4 KB (4,096 bytes) "
                     "Lambda allows for all variables together; shorten it")
                return


def environment_size(plan: Plan, region: str, role: str) -> int:
    """Bytes of the function's environment (names + values) with every Ref at its longest."""
    return _size(_expanded_environment(plan, region, role))


def _expanded_environment(plan: Plan, region: str, role: str) -> dict[str, str]:
    from election.provision import model

    return {k: expand(v, plan) for k, v in model.function_environment(plan, region, role).items()}


def _size(env: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in env.items())


# Which plan field makes each variable grow (the others are fixed-size names).
_FIELD_OF = {"BALLOT": "ballot", "ALLOWED_ORIGINS": "api.allowed_origins", "STATE_REGIONS": "regions",
             "VOTES_QUEUE_URLS": "regions"}


def _biggest_field(env: Mapping[str, str]) -> tuple[str, str]:
    var = max(env, key=lambda k: len(env[k].encode()))
    return _FIELD_OF.get(var, "name"), var


def expand(value: Any, plan: Plan) -> str:
    """A model value (literal, Ref or Join) as the longest string AWS could make of it."""
    from election.provision.resources import Join, Ref

    if isinstance(value, Join):
        return value.sep.join(expand(p, plan) for p in value.parts)
    if isinstance(value, Ref):
        return _longest(value, plan)
    return str(value)


def _longest(ref: Any, plan: Plan) -> str:
    if ref.key == "@ctx":
        return {"account_id": ACCOUNT, "partition": PARTITION}[ref.attr]
    region, kind, name = ref.key.split("/", 2)
    if kind == "queue" and ref.attr == "url":
        # The legacy host form (REGION.queue.amazonaws.com) is longer than sqs.REGION.amazonaws.com.
        return f"https://{region}.queue.amazonaws.com/{ACCOUNT}/{name}"
    if kind == "cloudfront_distribution" and ref.attr == "origin":
        return max(CLOUDFRONT_ORIGIN, f"https://{plan.domain}" if plan.domain else "", key=len)
    if ref.attr in ("arn", "stream_arn"):
        # arn:PARTITION:SERVICE:REGION:ACCOUNT:TYPE/NAME, a stream adds /stream/<27-character label>.
        tail = f"/stream/{'x' * 27}" if ref.attr == "stream_arn" else ""
        return f"arn:{PARTITION}:{kind}:{region}:{ACCOUNT}:{kind}/{name}{tail}"
    return "x" * 256   # an output this module does not know: assume a long one rather than none
