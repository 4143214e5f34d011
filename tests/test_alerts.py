"""Issue 9.5: every alarm notifies its region's KMS-encrypted alerts topic (emails from the plan), the
dashboard shows what an operator watches on election day, and `down` keeps the hosted zone."""

from __future__ import annotations

from typing import Any

import boto3
from provision_support import AWS_PLAN, actions, changed, deployer, single_region, with_settings

from election.lambdas.contract import FUNCTIONS
from election.plan import AlertSettings, load_plan
from election.provision import model
from election.provision.kinds import REGISTRY
from election.provision.resources import Ref

PLAN = "election-2026"
R = "us-east-1"
EMAILS = ("ops@example.org", "chief@example.org")


def test_every_alarm_notifies_its_regions_topic_on_alarm_and_on_ok() -> None:
    plan = load_plan(AWS_PLAN)
    for region in plan.region_names:
        res = model.alarm_resources(plan, region, {})
        topic = res[0]
        assert topic.kind == "sns_topic" and topic.name == f"{PLAN}-alerts"
        assert topic.props["kms_key"] == Ref(model.key(region, "kms_key", f"alias/{PLAN}"), "arn")
        alarms = [r for r in res if r.kind == "alarm"]
        assert len(alarms) >= 6 + 2 * len(FUNCTIONS)
        for a in alarms:
            assert a.props["alarm_actions"] == a.props["ok_actions"] == [Ref(topic.key, "arn")]
            assert topic.key in a.depends_on
        assert any(a.props["dimensions"] == {"QueueName": f"{PLAN}-tally-failures"} for a in alarms)


def test_cloudwatch_may_use_the_key_only_for_this_plans_alarms() -> None:
    plan = load_plan(AWS_PLAN)
    st = next(s for s in model.key_policy(plan, R)["Statement"] if s["Sid"] == "AlarmsNotifyEncryptedTopic")
    assert st["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(st["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert st["Condition"]["StringEquals"]["aws:SourceAccount"] == model.CTX_ACCOUNT
    assert st["Condition"]["ArnLike"]["aws:SourceArn"].parts[-1] == f":alarm:{PLAN}-*"


def test_dashboard_shows_votes_queues_dead_letters_errors_and_throttles_per_region() -> None:
    plan = load_plan(AWS_PLAN)
    widgets = model.dashboard_body(plan)["widgets"]
    for region in plan.region_names:
        mine = {w["properties"]["title"]: w["properties"]["metrics"] for w in widgets
                if w["type"] == "metric" and w["properties"]["region"] == region}
        names = {m[1] for metrics in mine.values() for m in metrics}
        assert {"Queued", "Counted", "Recorded", "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible",
                "Errors", "Throttles", "IteratorAge"} <= names
        accepted = mine[f"Votes accepted, recorded and counted ({region})"]
        assert [f"Election/{PLAN}", "Queued", "Region", region, "Route", "POST /votes"] in accepted
        assert [f"Election/{PLAN}", "Counted", "Function", "tally", "Region", region] in accepted
        dead = {m[3] for m in mine[f"Dead letters and given-up tally batches ({region})"]}
        assert dead == {f"{PLAN}-votes-dlq", f"{PLAN}-handoff-dlq", f"{PLAN}-tally-failures"}
        for title in (f"Function errors ({region})", f"Function throttles ({region})"):
            assert {m[3] for m in mine[title]} == {f"{PLAN}-{r}" for r in FUNCTIONS}
    # widgets never overlap (CloudWatch lays them out on a 24-column grid)
    cells = set()
    for w in widgets:
        for x in range(w["x"], w["x"] + w["width"]):
            for y in range(w["y"], w["y"] + w["height"]):
                assert (x, y) not in cells
                cells.add((x, y))
        assert w["x"] + w["width"] <= 24


def test_up_makes_an_encrypted_tagged_topic_that_every_alarm_notifies(moto: None) -> None:
    plan = with_settings(single_region(load_plan(AWS_PLAN)), alerts=AlertSettings(email=EMAILS))
    d = deployer(plan)
    d.apply()
    sns = boto3.client("sns", region_name=R)
    arn = d.outputs[model.key(R, "sns_topic", f"{PLAN}-alerts")]["arn"]
    key_arn = d.outputs[model.key(R, "kms_key", f"alias/{PLAN}")]["arn"]
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["KmsMasterKeyId"] == key_arn
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags["election:plan"] == PLAN
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subs) == sorted(("email", e) for e in EMAILS)
    alarms = boto3.client("cloudwatch", region_name=R).describe_alarms(AlarmNamePrefix=f"{PLAN}-")["MetricAlarms"]
    assert alarms and all(a["AlarmActions"] == [arn] and a["OKActions"] == [arn] for a in alarms)
    assert actions(d.diff()) == {"noop": len(d.resources)}

    # an address leaves the plan: only the topic changes; a plan without alerts keeps the topic (alarms still fire)
    d2 = deployer(with_settings(plan, alerts=AlertSettings(email=EMAILS[:1])))
    assert changed(d2.diff()) == {model.key(R, "sns_topic", f"{PLAN}-alerts"): ["emails"]}
    d2.apply()
    assert [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]] == [EMAILS[0]]
    assert not changed(d2.diff())

    found = REGISTRY["sns_topic"].discover(d2.ctx, R)
    assert [f.name for f in found] == [f"{PLAN}-alerts"]
    d2.destroy(destroy_data=True)
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{PLAN}-alerts")]


def test_down_keeps_the_hosted_zone_unless_destroy_data(moto: None) -> None:
    plan = single_region(load_plan(AWS_PLAN))
    import dataclasses

    plan = dataclasses.replace(plan, domain="vote.example.org")
    d = deployer(plan)
    zone = next(r for r in d.resources if r.kind == "hosted_zone")
    REGISTRY["hosted_zone"].create(d.ctx, zone)
    kept_zone = [f for f in d.targets(destroy_data=False) if f.kind == "hosted_zone"]
    assert kept_zone == [] and [f.name for f in d.kept] == ["vote.example.org"]
    d.destroy(destroy_data=False)
    assert any(z["Name"] == "vote.example.org." for z in boto3.client("route53").list_hosted_zones()["HostedZones"])
    assert [f.kind for f in d.targets(destroy_data=True)] == ["hosted_zone"] and d.kept == []
    d.destroy(destroy_data=True)
    assert boto3.client("route53").list_hosted_zones()["HostedZones"] == []


def test_down_says_it_kept_the_zone(moto: None, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from election.cli import provision as cli_provision
    from election.cli.app import cli
    from election.provision.resources import Found

    class FakeDeployer:
        def __init__(self) -> None:
            self.plan = load_plan(AWS_PLAN)
            self.kept = [Found("hosted_zone", R, "vote.example.org")]

        def targets(self, destroy_data: bool) -> list[Found]:
            return []

    monkeypatch.setattr(cli_provision, "_deployer", lambda opts, *args, **kwargs: FakeDeployer())
    out = CliRunner().invoke(cli, ["down", "--plan", str(AWS_PLAN), "--yes"])
    assert "Keeping the hosted zone vote.example.org" in out.output
    assert "registrar" in out.output and "--destroy-data" in out.output
