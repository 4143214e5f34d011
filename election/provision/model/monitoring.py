"""Monitoring of a plan: per region an alerts topic and the alarms that notify it; one dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from election.lambdas.contract import FUNCTIONS
from election.plan import Plan
from election.provision.model.common import names, res
from election.provision.model.names import key
from election.provision.resources import Ref, Resource

OLDEST_VOTE_AGE_S = 300          # alarm when a vote has waited this long in the queue
TALLY_LAG_MS = 60_000            # alarm when the tally is this far behind the ballots stream


def dashboard_title(plan: str, region: str) -> str:
    """Markdown of the dashboard's first widget; the dashboard kind reads the managing region back from it."""
    return f"# Election {plan}\nManaged by `election` from {region}."


def topic_key(plan: Plan, region: str) -> str:
    return key(region, "sns_topic", names(plan).topic)


def alerts_topic(plan: Plan, region: str, tags: Mapping[str, str]) -> Resource:
    """The region's alerts topic, encrypted with the region's key; `alerts.email` addresses subscribed."""
    return res("sns_topic", region, names(plan).topic, {
        "kms_key": Ref(key(region, "kms_key", names(plan).alias), "arn"),
        "emails": sorted(plan.alerts.email),
    }, tags)


def _alarm(plan: Plan, region: str, tags: Mapping[str, str], name: str, what: str, namespace: str, metric: str,
           dimensions: dict[str, str], statistic: str, threshold: float, periods: int = 1) -> Resource:
    topic = Ref(topic_key(plan, region), "arn")
    return res("alarm", region, names(plan).alarm(name), {
        "description": f"{names(plan).marker} {what}",
        "namespace": namespace, "metric": metric, "dimensions": dimensions, "statistic": statistic,
        "period": 60, "evaluation_periods": periods, "datapoints_to_alarm": periods,
        "threshold": float(threshold), "comparison": "GreaterThanThreshold", "treat_missing_data": "notBreaching",
        # Into the region's topic when it fires, and again when it is back to OK (so nobody waits on a fixed one).
        "alarm_actions": [topic], "ok_actions": [topic],
    }, tags)


def alarm_resources(plan: Plan, region: str, tags: Mapping[str, str]) -> list[Resource]:
    """The region's alerts topic, then its alarms (every one notifies that topic)."""
    n = names(plan)
    out = [
        alerts_topic(plan, region, tags),
        _alarm(plan, region, tags, "votes-dlq-visible", "Votes were dead-lettered: inspect with `election dlq`.",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": n.votes_dlq}, "Maximum", 0),
        _alarm(plan, region, tags, "handoff-dlq-visible", "Hand-off messages were dead-lettered.",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": n.handoff_dlq}, "Maximum", 0),
        _alarm(plan, region, tags, "tally-failures-visible",
               "The tally gave up on a stream batch: see `election dlq list`, then `election recount`.",
               "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": n.tally_failures}, "Maximum", 0),
        # A vote waits up to the mixing window (secrecy.window_s) by design before it is written.
        _alarm(plan, region, tags, "votes-oldest-age",
               f"A vote has waited over {OLDEST_VOTE_AGE_S + plan.secrecy.window_s} s in the queue.",
               "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": n.votes_queue}, "Maximum",
               OLDEST_VOTE_AGE_S + plan.secrecy.window_s, periods=5),
        # Only the pipeline can tag a vote: a refused message is forged, off-ballot or in the wrong region.
        _alarm(plan, region, tags, "process-refused",
               "The process function refused a vote message (bad tag, off-ballot, or state not homed here).",
               n.metrics_namespace, "Refused", {"Region": region, "Function": "process"}, "Sum", 0),
        # Hand-offs wait out the home region's outage (1,000 receives): say when votes are parked there.
        _alarm(plan, region, tags, "handoff-oldest-age",
               f"A vote for another region has waited over {OLDEST_VOTE_AGE_S} s in the hand-off queue.",
               "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": n.handoff_queue}, "Maximum",
               OLDEST_VOTE_AGE_S, periods=5),
        _alarm(plan, region, tags, "tally-lag", f"The tally is over {TALLY_LAG_MS // 1000} s behind the ballots.",
               "AWS/Lambda", "IteratorAge", {"FunctionName": n.function("tally")}, "Maximum", TALLY_LAG_MS, periods=3),
    ]
    for role in FUNCTIONS:
        fn = {"FunctionName": n.function(role)}
        out.append(_alarm(plan, region, tags, f"{role}-errors", f"The {role} function reports errors.",
                          "AWS/Lambda", "Errors", fn, "Sum", 0))
        out.append(_alarm(plan, region, tags, f"{role}-throttles", f"The {role} function is throttled.",
                          "AWS/Lambda", "Throttles", fn, "Sum", 0))
    return out


def dashboard_body(plan: Plan) -> dict[str, Any]:
    """Three rows per region, for the operator on election day.

    Votes accepted (enqueue's Queued + HandedOff on POST /votes), recorded (process) and counted (tally);
    the oldest vote's age in each queue; dead letters and given-up tally batches; errors and throttles of
    every function; tally lag; API traffic and latency. The API ids are Refs; the engine resolves them.
    """
    n = names(plan)
    ns = n.metrics_namespace
    widgets: list[dict[str, Any]] = [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
                                      "properties": {"markdown": dashboard_title(plan.name, plan.primary_region)}}]

    def metric(x: int, y: int, title: str, region: str, stat: str, metrics: list[list[Any]],
               width: int = 8) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": {
            "title": f"{title} ({region})", "region": region, "stat": stat, "period": 60, "view": "timeSeries",
            "metrics": metrics}}

    for i, region in enumerate(plan.region_names):
        y = 2 + 18 * i
        api = ["ApiId", Ref(key(region, "http_api", n.api), "api_id"), "Stage", "$default"]
        votes = ["Region", region, "Route", "POST /votes"]
        widgets += [
            metric(0, y, "Votes accepted, recorded and counted", region, "Sum", [
                [ns, "Queued", *votes], [ns, "HandedOff", *votes],
                [ns, "Recorded", "Function", "process", "Region", region],
                [ns, "Counted", "Function", "tally", "Region", region]]),
            metric(8, y, "Oldest vote waiting (s)", region, "Maximum", [
                ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q] for q in n.work_queues]),
            metric(16, y, "Dead letters and given-up tally batches", region, "Maximum", [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]
                for q in (*n.dead_letter_queues, n.tally_failures)]),
            metric(0, y + 6, "Function errors", region, "Sum", [
                ["AWS/Lambda", "Errors", "FunctionName", n.function(role)] for role in FUNCTIONS]),
            metric(8, y + 6, "Function throttles", region, "Sum", [
                ["AWS/Lambda", "Throttles", "FunctionName", n.function(role)] for role in FUNCTIONS]),
            metric(16, y + 6, "Tally lag (ms)", region, "Maximum", [
                ["AWS/Lambda", "IteratorAge", "FunctionName", n.function("tally")]]),
            metric(0, y + 12, "API requests and errors", region, "Sum", [
                ["AWS/ApiGateway", m, *api] for m in ("Count", "4xx", "5xx")], width=12),
            metric(12, y + 12, "API latency (p99, ms)", region, "p99", [["AWS/ApiGateway", "Latency", *api]], width=12),
        ]
    return {"widgets": widgets}


def dashboard(plan: Plan, tags: Mapping[str, str]) -> Resource:
    return res("dashboard", plan.primary_region, names(plan).dashboard, {"body": dashboard_body(plan)}, tags)
