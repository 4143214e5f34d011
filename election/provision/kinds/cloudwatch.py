"""CloudWatch alarms (per region) and the election dashboard (primary region).

Alarms are compared field by field in the shape CloudWatch echoes back
(dimensions as a mapping, threshold as a float), so an unchanged plan makes no
PutMetricAlarm call. Dashboards cannot be tagged everywhere (moto refuses),
so the dashboard is found by its deterministic name, the plan name; dashboards
are global in AWS, so its title widget names the region that manages it and
only that region reports it (else every other region would delete it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names


class Alarm:
    """One metric alarm; `put_metric_alarm` both creates and replaces it."""

    name = "alarm"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        listed = _plan_alarms(ctx, res.region)
        if res.name in listed:
            found = listed[res.name]
        else:   # not under the plan's prefix, or put during this run: ask for it alone
            alarms = ctx.client("cloudwatch", res.region).describe_alarms(
                AlarmNames=[res.name], AlarmTypes=["MetricAlarm"]).get("MetricAlarms", [])
            if not alarms:
                return None
            found = alarms[0]
        return Actual(self._props(found), {"arn": found.get("AlarmArn"), "name": res.name})

    @staticmethod
    def _props(a: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": a.get("AlarmDescription", ""),
            "namespace": a.get("Namespace"),
            "metric": a.get("MetricName"),
            "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
            "statistic": a.get("Statistic"),
            "period": a.get("Period"),
            "evaluation_periods": a.get("EvaluationPeriods"),
            "datapoints_to_alarm": a.get("DatapointsToAlarm", a.get("EvaluationPeriods")),
            "threshold": float(a["Threshold"]) if a.get("Threshold") is not None else None,
            "comparison": a.get("ComparisonOperator"),
            "treat_missing_data": a.get("TreatMissingData", "missing"),
            "alarm_actions": list(a.get("AlarmActions") or []),
            "ok_actions": list(a.get("OKActions") or []),
        }

    def _put(self, ctx: Context, res: Resource) -> dict[str, Any]:
        p = res.props
        client = ctx.client("cloudwatch", res.region)
        client.put_metric_alarm(
            AlarmName=res.name, AlarmDescription=p["description"], ActionsEnabled=True,
            Namespace=p["namespace"], MetricName=p["metric"],
            Dimensions=[{"Name": k, "Value": v} for k, v in sorted(p["dimensions"].items())],
            Statistic=p["statistic"], Period=int(p["period"]), EvaluationPeriods=int(p["evaluation_periods"]),
            DatapointsToAlarm=int(p["datapoints_to_alarm"]), Threshold=float(p["threshold"]),
            ComparisonOperator=p["comparison"], TreatMissingData=p["treat_missing_data"],
            AlarmActions=list(p.get("alarm_actions") or []), OKActions=list(p.get("ok_actions") or []),
            Tags=[{"Key": k, "Value": v} for k, v in res.tags.items()])
        arn = f"arn:{ctx.partition}:cloudwatch:{res.region}:{ctx.account_id}:alarm:{res.name}"
        return {"arn": arn, "name": res.name}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        return self._put(ctx, res)

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        return self._put(ctx, res)

    def delete(self, ctx: Context, found: Found) -> None:
        ctx.client("cloudwatch", found.region).delete_alarms(AlarmNames=[found.name])

    def discover(self, ctx: Context, region: str) -> list[Found]:
        marker = Names(ctx.plan_name).marker
        return [Found(self.name, region, a["AlarmName"], {"arn": a.get("AlarmArn"), "name": a["AlarmName"]})
                for a in _plan_alarms(ctx, region).values()
                if str(a.get("AlarmDescription", "")).startswith(marker)]


def _dashboard(ctx: Context, region: str, name: str) -> dict[str, Any] | None:
    """GetDashboard once per run (read and discover both need the body); None when there is none."""
    def fetch() -> dict[str, Any] | None:
        try:
            got: dict[str, Any] = ctx.client("cloudwatch", region).get_dashboard(DashboardName=name)
            return got
        except ClientError as exc:
            if u.is_code(exc, "ResourceNotFound", "ResourceNotFoundException"):
                return None
            raise
    return u.memo(ctx, ("dashboard", region, name), fetch)


def _plan_alarms(ctx: Context, region: str) -> dict[str, dict[str, Any]]:
    """Every alarm named for the plan in a region, by name: one DescribeAlarms (a page per 100) per run."""
    def fetch() -> dict[str, dict[str, Any]]:
        pages = ctx.client("cloudwatch", region).get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=Names(ctx.plan_name).prefix, AlarmTypes=["MetricAlarm"], PaginationConfig={"PageSize": 100})
        return {a["AlarmName"]: a for page in pages for a in page.get("MetricAlarms", [])}
    return u.memo(ctx, ("alarms", region), fetch)


class Dashboard:
    """The plan's dashboard; props hold the body as parsed JSON so key order never causes a diff."""

    name = "dashboard"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        got = _dashboard(ctx, res.region, res.name)
        if got is None:
            return None
        return Actual({"body": json.loads(got["DashboardBody"])}, {"arn": got.get("DashboardArn"), "name": res.name})

    def _put(self, ctx: Context, res: Resource) -> dict[str, Any]:
        ctx.client("cloudwatch", res.region).put_dashboard(
            DashboardName=res.name, DashboardBody=json.dumps(res.props["body"], sort_keys=True))
        return {"arn": f"arn:{ctx.partition}:cloudwatch::{ctx.account_id}:dashboard/{res.name}", "name": res.name}

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        return self._put(ctx, res)

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        return self._put(ctx, res)

    def delete(self, ctx: Context, found: Found) -> None:
        with u.gone_ok("ResourceNotFound", "ResourceNotFoundException"):
            ctx.client("cloudwatch", found.region).delete_dashboards(DashboardNames=[found.name])

    def discover(self, ctx: Context, region: str) -> list[Found]:
        pages = ctx.client("cloudwatch", region).get_paginator("list_dashboards").paginate(
            DashboardNamePrefix=ctx.plan_name)
        names = [d["DashboardName"] for page in pages for d in page.get("DashboardEntries", [])
                 if d["DashboardName"] == ctx.plan_name]
        out = []
        for name in names:
            got = _dashboard(ctx, region, name)
            if got is not None and managing_region(json.loads(got["DashboardBody"])) == region:
                out.append(Found(self.name, region, name, {"name": name}))
        return out


def managing_region(body: dict[str, Any]) -> str | None:
    for widget in body.get("widgets", [])[:1]:
        found = re.search(r"from ([a-z]{2}(?:-[a-z]+)+-\d)\.", str(widget.get("properties", {}).get("markdown", "")))
        if found:
            return found.group(1)
    return None
