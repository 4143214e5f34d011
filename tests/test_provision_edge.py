"""The edge kinds (HTTP API, alarms, dashboard, site, domain) against moto in-process.

A tiny stand-in engine below resolves Refs and walks dependencies so the kinds
can be driven exactly as the real engine drives them: read -> diff -> create /
update, then delete in reverse and discover nothing.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from election.lambdas.contract import FUNCTIONS, ROUTES
from election.plan import Plan, load_plan
from election.provision.kinds.acm import AcmCertificate
from election.provision.kinds.apidomain import ApiDomain, ApiMapping
from election.provision.kinds.apigw import ApiStage, HttpApi
from election.provision.kinds.apiroutes import ApiIntegration, ApiRoute
from election.provision.kinds.cloudfront import CloudFrontDistribution, CloudFrontOac
from election.provision.kinds.cloudwatch import Alarm, Dashboard
from election.provision.kinds.headers import ResponseHeadersPolicy
from election.provision.kinds.permission import LambdaPermission
from election.provision.kinds.route53 import DnsRecord, HealthCheck, HostedZone
from election.provision.kinds.s3site import SiteBucket, SiteBucketPolicy
from election.provision.kinds.sitefiles import SiteFiles
from election.provision.kinds.sns import Topic
from election.provision.model import Names, alarm_resources, distribution_key, edge_resources
from election.provision.model.site import page_csp
from election.provision.resources import TAG_PLAN, Actual, Found, Ref, Resource, diff_props

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
KINDS = {k.name: k for k in (HttpApi(), ApiIntegration(), ApiRoute(), ApiStage(), LambdaPermission(), Alarm(),
                             Dashboard(), SiteBucket(), SiteBucketPolicy(), CloudFrontOac(), CloudFrontDistribution(),
                             SiteFiles(), HostedZone(), AcmCertificate(), ApiDomain(), ApiMapping(), HealthCheck(),
                             DnsRecord(), Topic(), ResponseHeadersPolicy())}


class FakeContext:
    """What the engine hands a kind: clients per region, the account, a sleep that only records."""

    def __init__(self, plan_name: str) -> None:
        from election.provision.clients import ClientProvider

        self.plan_name = plan_name
        self.account_id = ACCOUNT
        self.partition = "aws"
        self.provider = ClientProvider()
        self.slept: list[float] = []

    def client(self, service: str, region: str) -> Any:
        return self.provider.client(service, region)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class MiniEngine:
    """Just enough of an engine: resolve Refs, order by depends_on, read/diff/apply, delete in reverse."""

    def __init__(self, ctx: FakeContext, resources: list[Resource], outputs: dict[str, dict[str, Any]]) -> None:
        self.ctx, self.outputs = ctx, outputs
        self.resources = {r.key: r for r in resources}

    def order(self) -> list[Resource]:
        done: list[str] = []
        pending = dict(self.resources)
        while pending:
            ready = [k for k, r in pending.items()
                     if all(d in done or d not in self.resources for d in r.depends_on)]
            assert ready, f"dependency cycle among {sorted(pending)}"
            for k in ready:
                done.append(k)
                del pending[k]
        return [self.resources[k] for k in done]

    def resolve(self, res: Resource) -> Resource:
        def value(v: Any) -> Any:
            if isinstance(v, Ref):
                return self.outputs[v.key][v.attr]
            if isinstance(v, dict):
                return {k: value(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [value(x) for x in v]
            return v
        return dataclasses.replace(res, props=value(dict(res.props)))

    def up(self) -> dict[str, list[str]]:
        """Apply; returns {"create": keys, "update": keys} of what it changed."""
        acted: dict[str, list[str]] = {"create": [], "update": []}
        for res in self.order():
            kind = KINDS[res.kind]
            res = self.resolve(res)
            actual = kind.read(self.ctx, res)
            if actual is None:
                self.outputs[res.key] = kind.create(self.ctx, res)
                acted["create"].append(res.key)
            elif changes := changes_of(res, actual):
                self.outputs[res.key] = {**actual.outputs, **kind.update(self.ctx, res, actual, changes)}
                acted["update"].append(res.key)
            else:
                self.outputs[res.key] = actual.outputs
        return acted

    def read(self, key: str) -> tuple[Resource, Actual | None]:
        res = self.resolve(self.resources[key])
        return res, KINDS[res.kind].read(self.ctx, res)

    def diffs(self) -> dict[str, list[Any]]:
        out = {}
        for res in self.order():
            res, actual = self.read(res.key)
            changes = changes_of(res, actual) if actual else ["missing"]
            if changes:
                out[res.key] = changes
        return out

    def down(self) -> None:
        for res in reversed(self.order()):
            KINDS[res.kind].delete(self.ctx, Found(res.kind, res.region, res.name, self.outputs.get(res.key, {})))

    def discovered(self, regions: tuple[str, ...]) -> list[str]:
        return sorted(f.key for kind in KINDS.values() for r in regions for f in kind.discover(self.ctx, r))


def changes_of(res: Resource, actual: Actual) -> list[Any]:
    """As the engine does: tags are compared when the kind reports them."""
    return diff_props({**res.props, **({"tags": dict(res.tags)} if "tags" in actual.props else {})}, actual.props)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def make_functions(ctx: FakeContext, plan: Plan) -> dict[str, dict[str, Any]]:
    """Stand in for core's lambda_function resources: the functions the API integrates with."""
    outputs = {}
    role = ctx.client("iam", "us-east-1").create_role(
        RoleName=f"{plan.name}-edge-test", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                                                                                "Statement": []}))["Role"]["Arn"]
    for region in plan.region_names:
        for fn_role in FUNCTIONS:
            name = f"{plan.name}-{fn_role}"
            got = ctx.client("lambda", region).create_function(
                FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.handler",
                Code={"ZipFile": _zip()}, Tags={TAG_PLAN: plan.name})
            outputs[f"{region}/lambda_function/{name}"] = {"arn": got["FunctionArn"], "name": name}
        # core's KMS key: the alerts topic is encrypted with it
        key = ctx.client("kms", region).create_key(Description="edge test")["KeyMetadata"]["Arn"]
        outputs[f"{region}/kms_key/alias/{plan.name}"] = {"arn": key}
    return outputs


@pytest.fixture
def site(tmp_path: Path) -> Path:
    d = tmp_path / "website"
    d.mkdir()
    (d / "index.html").write_text("<!doctype html><title>Vote</title>")
    (d / "app.js").write_text("console.log('vote');")
    (d / "style.css").write_text("body{}")
    (d / "config.json").write_text('{"stale": true}')   # generated on upload: the local one is ignored
    (d / ".hidden").write_text("x")
    return d


@pytest.fixture
def aws_plan() -> Plan:
    return load_plan(ROOT / "config" / "aws.yaml")


@pytest.fixture
def moto_ctx(aws_env: None, aws_plan: Plan) -> Iterator[FakeContext]:
    from moto import mock_aws

    with mock_aws():
        yield FakeContext(aws_plan.name)


def deployed(ctx: FakeContext, plan: Plan, site_dir: Path) -> MiniEngine:
    engine = MiniEngine(ctx, edge_resources(plan, site_dir), make_functions(ctx, plan))
    acted = engine.up()
    assert not acted["update"], acted["update"]
    return engine


# --- the whole edge: create, converge, no-op, delete ------------------------------------------------


def test_edge_lifecycle_converges_and_leaves_nothing(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    assert len(engine.up()["create"]) == 0
    assert engine.diffs() == {}

    moto_ctx.provider.reset_counts()
    assert engine.up() == {"create": [], "update": []}
    assert moto_ctx.provider.mutating_calls() == {}, "a no-op run must not change anything"

    found = engine.discovered(aws_plan.region_names)
    assert set(found) == set(engine.resources), set(found) ^ set(engine.resources)

    engine.down()
    assert engine.discovered(aws_plan.region_names) == []
    assert moto_ctx.client("s3", "us-east-1").list_buckets()["Buckets"] == []


def test_changing_one_field_updates_it_and_reads_back(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    east, p = "us-east-1", aws_plan.name
    edits = {
        f"{east}/api_stage/{p}-default": {"throttle_rate": 50.0, "throttle_burst": 100},
        f"{east}/http_api/{p}": {"extra_origins": ["https://observer.example.org"]},
        f"{east}/api_integration/{p}-health": {"timeout_ms": 5000},
        f"{east}/alarm/{p}-votes-oldest-age": {"threshold": 120.0},
        f"{east}/dashboard/{p}": {"body": {"widgets": []}},
        f"{east}/cloudfront_distribution/{p}-site": {"price_class": "PriceClass_All"},
        f"{east}/cloudfront_oac/{p}-site": {"signing_behavior": "no-override"},
        f"{east}/site_bucket/{p}-site": {"encryption": "aws:kms"},
        f"{east}/api_route/{p}-get-health": {"integration_id": Ref(f"{east}/api_integration/{p}-results",
                                                                   "integration_id")},
    }
    for key, new in edits.items():
        engine.resources[key] = dataclasses.replace(engine.resources[key], props={**engine.resources[key].props, **new})
    acted = engine.up()
    assert sorted(acted["update"]) == sorted(edits)
    assert engine.diffs() == {}
    stage = moto_ctx.client("apigatewayv2", east).get_stage(
        ApiId=engine.outputs[f"{east}/http_api/{p}"]["api_id"], StageName="$default")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50.0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100


def test_changed_plan_tags_are_applied_where_they_are_compared(moto_ctx: FakeContext, aws_plan: Plan,
                                                               site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    for key, res in engine.resources.items():
        engine.resources[key] = dataclasses.replace(res, tags={TAG_PLAN: aws_plan.name, "owner": "audit-office"})
    acted = engine.up()
    assert sorted(acted["update"]) == sorted([f"{r}/http_api/{aws_plan.name}" for r in aws_plan.region_names]
                                             + [f"us-east-1/site_bucket/{aws_plan.name}-site"])
    assert engine.diffs() == {}
    api = moto_ctx.client("apigatewayv2", "us-west-2").get_api(
        ApiId=engine.outputs[f"us-west-2/http_api/{aws_plan.name}"]["api_id"])
    assert api["Tags"] == {TAG_PLAN: aws_plan.name, "owner": "audit-office"}


# --- security and exact settings ------------------------------------------------------------------------


def test_api_cors_throttling_routes_and_permissions(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    plan = dataclasses.replace(aws_plan, api=dataclasses.replace(aws_plan.api,
                                                                 allowed_origins=("https://observer.example.org",)))
    engine = deployed(moto_ctx, plan, site)
    origin = engine.outputs[distribution_key(plan)]["origin"]
    assert origin.startswith("https://") and origin.endswith(".cloudfront.net")
    for region in plan.region_names:
        apis = moto_ctx.client("apigatewayv2", region)
        api_out = engine.outputs[f"{region}/http_api/{plan.name}"]
        api = apis.get_api(ApiId=api_out["api_id"])
        assert api["ProtocolType"] == "HTTP"
        assert api["CorsConfiguration"]["AllowOrigins"] == [origin, "https://observer.example.org"]
        assert "*" not in api["CorsConfiguration"]["AllowOrigins"]
        stage = apis.get_stage(ApiId=api_out["api_id"], StageName="$default")
        assert stage["AutoDeploy"] is True
        assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 2000.0
        assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 5000
        integrations = {i["IntegrationId"]: i for i in apis.get_integrations(ApiId=api_out["api_id"])["Items"]}
        routes = apis.get_routes(ApiId=api_out["api_id"])["Items"]
        assert sorted(r["RouteKey"] for r in routes) == sorted(ROUTES)
        for r in routes:
            integ = integrations[r["Target"].split("/")[1]]
            assert integ["IntegrationUri"].endswith(f":function:{plan.name}-{ROUTES[r['RouteKey']]}")
            assert (integ["IntegrationType"], integ["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
        for role in set(ROUTES.values()):
            policy = json.loads(moto_ctx.client("lambda", region).get_policy(FunctionName=f"{plan.name}-{role}")["Policy"])
            [st] = policy["Statement"]
            assert st["Principal"] == {"Service": "apigateway.amazonaws.com"}
            assert st["Condition"]["ArnLike"]["AWS:SourceArn"] == (
                f"arn:aws:execute-api:{region}:{ACCOUNT}:{api_out['api_id']}/*/*")
        for role in set(FUNCTIONS) - set(ROUTES.values()):   # sqs/stream functions are not reachable from the API
            with pytest.raises(ClientError, match="ResourceNotFound"):
                moto_ctx.client("lambda", region).get_policy(FunctionName=f"{plan.name}-{role}")


def test_site_bucket_is_private_and_only_the_distribution_reads_it(moto_ctx: FakeContext, aws_plan: Plan,
                                                                   site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    s3 = moto_ctx.client("s3", "us-east-1")
    bucket = Names(aws_plan.name).bucket(ACCOUNT)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {TAG_PLAN: aws_plan.name, "owner": "election-office"}

    dist = engine.outputs[distribution_key(aws_plan)]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"] == [{"Sid": "CloudFrontReadsThroughOAC", "Effect": "Allow",
                       "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*",
                       "Condition": {"StringEquals": {"AWS:SourceArn": dist["arn"],
                                                      "s3:ExistingObjectTag/election:public": "true"}}}]

    cf = moto_ctx.client("cloudfront", "us-east-1")
    cfg = cf.get_distribution_config(Id=dist["id"])["DistributionConfig"]
    assert cfg["DefaultRootObject"] == "index.html" and cfg["Enabled"] is True
    assert cfg["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert cfg["Origins"]["Items"][0]["DomainName"] == f"{bucket}.s3.us-east-1.amazonaws.com"
    oac = engine.outputs[f"us-east-1/cloudfront_oac/{aws_plan.name}-site"]["id"]
    oac_cfg = cf.get_origin_access_control(Id=oac)["OriginAccessControl"]["OriginAccessControlConfig"]
    assert (oac_cfg["SigningProtocol"], oac_cfg["SigningBehavior"], oac_cfg["OriginAccessControlOriginType"]) == (
        "sigv4", "always", "s3")
    assert engine.read(distribution_key(aws_plan))[1].props["oac_id"] == oac   # type: ignore[union-attr]


def _objects(ctx: FakeContext, bucket: str) -> dict[str, dict[str, Any]]:
    s3 = ctx.client("s3", "us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k) for k in keys}


def test_site_upload_content_types_config_and_invalidation(moto_ctx: FakeContext, aws_plan: Plan,
                                                           site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    bucket = Names(aws_plan.name).bucket(ACCOUNT)
    objs = _objects(moto_ctx, bucket)
    assert set(objs) == {"index.html", "app.js", "style.css", "config.json", ".election-manifest.json"}
    assert objs["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert objs["app.js"]["ContentType"] == "text/javascript; charset=utf-8"
    assert objs["style.css"]["ContentType"] == "text/css; charset=utf-8"
    assert objs["config.json"]["ContentType"] == "application/json"
    config = json.loads(objs["config.json"]["Body"].read())
    endpoints = [engine.outputs[f"{r}/http_api/{aws_plan.name}"]["endpoint"] for r in aws_plan.region_names]
    assert config["api"] == endpoints and all(e.startswith("https://") for e in endpoints)
    assert config["plan"] == aws_plan.name
    assert config["ballot"]["candidates"] == list(aws_plan.ballot.candidates)
    assert config["ballot"]["overrides"]["UT"][-1] == "Evan McMullin"
    assert config["states"]["CA"] == "us-west-2" and config["states"]["NY"] == "us-east-1"
    assert len(config["states"]) == 51

    cf = moto_ctx.client("cloudfront", "us-east-1")
    dist_id = engine.outputs[distribution_key(aws_plan)]["id"]
    before = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"].get("Quantity", 0)

    (site / "app.js").write_text("console.log('vote v2');")
    (site / "style.css").unlink()
    fresh = {r.key: r for r in edge_resources(aws_plan, site)}
    key = f"us-east-1/site_files/{aws_plan.name}-site"
    engine.resources[key] = fresh[key]
    moto_ctx.provider.reset_counts()
    assert engine.up() == {"create": [], "update": [key]}
    calls = moto_ctx.provider.mutating_calls()
    assert calls["s3:PutObject"] == 2, calls   # app.js and the manifest; index.html and config.json untouched
    assert calls["s3:DeleteObjects"] == 1 and calls["cloudfront:CreateInvalidation"] == 1
    objs = _objects(moto_ctx, bucket)
    assert "style.css" not in objs and objs["app.js"]["Body"].read() == b"console.log('vote v2');"
    invs = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]
    assert invs["Quantity"] == before + 1
    assert engine.diffs() == {}


def test_site_without_a_website_dir_uploads_only_the_config(moto_ctx: FakeContext, aws_plan: Plan,
                                                             tmp_path: Path) -> None:
    deployed(moto_ctx, aws_plan, tmp_path / "missing")
    objs = _objects(moto_ctx, Names(aws_plan.name).bucket(ACCOUNT))
    assert set(objs) == {"config.json", ".election-manifest.json"}


def test_a_file_deleted_behind_our_back_is_put_back(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    bucket = Names(aws_plan.name).bucket(ACCOUNT)
    moto_ctx.client("s3", "us-east-1").delete_object(Bucket=bucket, Key="index.html")
    moto_ctx.client("s3", "us-east-1").put_object(Bucket=bucket, Key="stray.txt", Body=b"x")
    key = f"us-east-1/site_files/{aws_plan.name}-site"
    assert [c.field for c in engine.diffs()[key]] == ["files"]
    engine.up()
    assert set(_objects(moto_ctx, bucket)) == {"index.html", "app.js", "style.css", "config.json",
                                               ".election-manifest.json"}


def test_alarms_watch_dead_letters_age_errors_throttles_and_tally_lag(moto_ctx: FakeContext, aws_plan: Plan,
                                                                       site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    p = aws_plan.name
    for region in aws_plan.region_names:
        alarms = {a["AlarmName"]: a for a in moto_ctx.client("cloudwatch", region).describe_alarms()["MetricAlarms"]}
        dlq = alarms[f"{p}-votes-dlq-visible"]
        assert (dlq["Namespace"], dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", 0.0, "GreaterThanThreshold")
        assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": f"{p}-votes-dlq"}]
        assert alarms[f"{p}-handoff-dlq-visible"]["Dimensions"][0]["Value"] == f"{p}-handoff-dlq"
        assert alarms[f"{p}-votes-oldest-age"]["MetricName"] == "ApproximateAgeOfOldestMessage"
        parked = alarms[f"{p}-handoff-oldest-age"]   # votes parked for a region that is down
        assert (parked["MetricName"], parked["Dimensions"]) == (
            "ApproximateAgeOfOldestMessage", [{"Name": "QueueName", "Value": f"{p}-handoff"}])
        lag = alarms[f"{p}-tally-lag"]
        assert (lag["MetricName"], lag["Dimensions"][0]["Value"]) == ("IteratorAge", f"{p}-tally")
        for role in FUNCTIONS:
            assert alarms[f"{p}-{role}-errors"]["MetricName"] == "Errors"
            assert alarms[f"{p}-{role}-throttles"]["Dimensions"] == [{"Name": "FunctionName", "Value": f"{p}-{role}"}]
        failures = alarms[f"{p}-tally-failures-visible"]   # a stream batch the tally gave up on
        assert failures["Dimensions"] == [{"Name": "QueueName", "Value": f"{p}-tally-failures"}]
        # every alarm the model has, and nothing else (dead letters, ages, lag, failures, errors, throttles...)
        assert set(alarms) == {r.name for r in alarm_resources(aws_plan, region, {}) if r.kind == "alarm"}
        assert len(alarms) >= 6 + 2 * len(FUNCTIONS)
        topic = engine.outputs[f"{region}/sns_topic/{p}-alerts"]["arn"]
        assert all(a["AlarmActions"] == [topic] == a["OKActions"] for a in alarms.values())
    board = moto_ctx.client("cloudwatch", "us-east-1").get_dashboard(DashboardName=p)
    regions = {w["properties"].get("region") for w in json.loads(board["DashboardBody"])["widgets"]}
    assert regions == {None, *aws_plan.region_names}
    with pytest.raises(ClientError, match="ResourceNotFound"):   # global: only in the primary region
        moto_ctx.client("cloudwatch", "us-west-2").get_dashboard(DashboardName=p)


def test_a_removed_route_is_discovered_for_deletion(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    api_id = engine.outputs[f"us-east-1/http_api/{aws_plan.name}"]["api_id"]
    moto_ctx.client("apigatewayv2", "us-east-1").create_route(ApiId=api_id, RouteKey="GET /old")
    extra = set(engine.discovered(aws_plan.region_names)) - set(engine.resources)
    assert extra == {f"us-east-1/api_route/{aws_plan.name}-get-old"}
    [found] = [f for f in ApiRoute().discover(moto_ctx, "us-east-1") if f.key in extra]
    ApiRoute().delete(moto_ctx, found)
    assert set(engine.discovered(aws_plan.region_names)) == set(engine.resources)


def test_another_plans_resources_are_not_discovered(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    deployed(moto_ctx, aws_plan, site)
    other = FakeContext("other-plan")
    assert MiniEngine(other, [], {}).discovered(aws_plan.region_names) == []


# --- the domain ----------------------------------------------------------------------------------------------


def test_domain_zone_certificates_latency_records_and_health_checks(moto_ctx: FakeContext, aws_plan: Plan,
                                                                   site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings

    monkeypatch.setattr(settings, "ACM_VALIDATION_WAIT", 0)
    plan = dataclasses.replace(aws_plan, domain="vote.example.org")
    engine = deployed(moto_ctx, plan, site)
    assert engine.diffs() == {}
    moto_ctx.provider.reset_counts()
    assert engine.up() == {"create": [], "update": []}
    assert moto_ctx.provider.mutating_calls() == {}

    r53 = moto_ctx.client("route53", "us-east-1")
    zone_id = engine.outputs["us-east-1/hosted_zone/vote.example.org"]["zone_id"]
    records = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    latency = [r for r in records if r["Name"] == "api.vote.example.org." and r["Type"] == "A"]
    assert sorted(r["Region"] for r in latency) == sorted(plan.region_names)
    checks = {h["Id"]: h["HealthCheckConfig"] for h in r53.list_health_checks()["HealthChecks"]}
    for r in latency:
        hc = checks[r["HealthCheckId"]]
        api_host = engine.outputs[f"{r['Region']}/http_api/{plan.name}"]["host"]
        assert (hc["Type"], hc["FullyQualifiedDomainName"], hc["ResourcePath"], hc["Port"]) == (
            "HTTPS", api_host, "/health", 443)
        assert r["AliasTarget"]["EvaluateTargetHealth"] is True
    site_alias = next(r for r in records if r["Name"] == "vote.example.org." and r["Type"] == "A")
    assert site_alias["AliasTarget"]["DNSName"].rstrip(".") == engine.outputs[distribution_key(plan)]["domain"]
    assert len([r for r in records if r["Type"] == "CNAME"]) == 2   # the two validation records
    assert engine.outputs[distribution_key(plan)]["origin"] == "https://vote.example.org"
    config = json.loads(_objects(moto_ctx, Names(plan.name).bucket(ACCOUNT))["config.json"]["Body"].read())
    assert config["api"] == ["https://api.vote.example.org"]
    for region in plan.region_names:
        mapping = moto_ctx.client("apigatewayv2", region).get_api_mappings(DomainName="api.vote.example.org")["Items"]
        assert [m["ApiId"] for m in mapping] == [engine.outputs[f"{region}/http_api/{plan.name}"]["api_id"]]

    found = set(engine.discovered(plan.region_names))
    assert found == set(engine.resources), found ^ set(engine.resources)

    edits = {f"us-west-2/health_check/{plan.name}-us-west-2": {"failure_threshold": 2, "path": "/health?deep=1"},
             "us-east-1/dns_record/acm-validation.vote.example.org": {"ttl": 60},
             "us-east-1/hosted_zone/vote.example.org": {"comment": Names(plan.name).managed_from("us-east-1") + " (v2)"}}
    for key, new in edits.items():
        engine.resources[key] = dataclasses.replace(engine.resources[key], props={**engine.resources[key].props, **new})
    assert sorted(engine.up()["update"]) == sorted(edits)
    assert engine.diffs() == {}
    hc = r53.get_health_check(HealthCheckId=engine.outputs[f"us-west-2/health_check/{plan.name}-us-west-2"]["id"])
    assert hc["HealthCheck"]["HealthCheckConfig"]["FailureThreshold"] == 2
    engine.down()
    assert engine.discovered(plan.region_names) == []
    assert r53.list_health_checks()["HealthChecks"] == []

    # `up` right after `down` (within ACM's one-hour idempotency window) gets new certificates, not the deleted ones.
    assert not engine.up()["update"]   # the same token fixed per plan made ACM answer with a deleted certificate
    assert engine.diffs() == {}
    for region in plan.region_names:
        certs = moto_ctx.client("acm", region).list_certificates()["CertificateSummaryList"]
        assert certs and {moto_ctx.client("acm", region).describe_certificate(CertificateArn=c["CertificateArn"])[
            "Certificate"]["Status"] for c in certs} == {"ISSUED"}


def test_certificate_wait_is_bounded_and_uses_the_injected_sleep(moto_ctx: FakeContext) -> None:
    from election.errors import ElectionError
    from election.provision.kinds.lookups import wait_issued

    arn = moto_ctx.client("acm", "us-east-1").request_certificate(
        DomainName="api.vote.example.org", ValidationMethod="DNS")["CertificateArn"]
    with pytest.raises(ElectionError, match="not issued"):
        wait_issued(moto_ctx, "us-east-1", arn, bound_s=100)
    assert moto_ctx.slept and sum(moto_ctx.slept[:-1]) < 100 <= sum(moto_ctx.slept)
    assert moto_ctx.slept == sorted(moto_ctx.slept)   # backoff grows


# --- with core's engine: the whole of config/aws.yaml ----------------------------------------------------------


def test_engine_lifecycle_with_edge_kinds_is_a_no_op_the_second_time(moto_ctx: FakeContext, aws_plan: Plan,
                                                                      site: Path) -> None:
    from election.provision.clients import ClientProvider
    from election.provision.engine import Deployer

    provider = ClientProvider()

    def deployer(plan: Plan) -> Deployer:
        return Deployer(plan, provider, sleep=lambda s: None, site_dir=site)

    first = deployer(aws_plan).diff()
    assert provider.counts()[1] == 0, "planning changes nothing"
    edge_kinds = {r.kind for r in edge_resources(aws_plan, site)}
    assert {s.kind for s in first.steps} >= edge_kinds and first.count("create") == len(first.steps)

    out = deployer(aws_plan).apply()
    assert out["site_url"].endswith(".cloudfront.net")
    assert all(r["api_url"].startswith("https://") for r in out["regions"].values())
    provider.reset_counts()
    again = deployer(aws_plan)
    assert again.diff().count("noop") == len(again.resources)
    again.apply()
    assert provider.mutating_calls() == {}

    faster = dataclasses.replace(aws_plan, api=dataclasses.replace(aws_plan.api, throttle_rate=1500))
    (site / "app.js").write_text("console.log('v2');")
    changed = {s.key: [c.field for c in s.changes] for s in deployer(faster).diff().steps if s.action != "noop"}
    assert changed == {**{f"{r}/api_stage/{aws_plan.name}-default": ["throttle_rate"] for r in aws_plan.region_names},
                       f"us-east-1/site_files/{aws_plan.name}-site": ["files"]}
    deployer(faster).apply()
    assert all(s.action == "noop" for s in deployer(faster).diff().steps)

    gone = deployer(faster)
    gone.destroy(destroy_data=True)
    assert gone.targets(destroy_data=True) == []


def test_a_region_removed_from_the_plan_loses_its_edge(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    from election.plan import STATES, RegionPlan
    from election.provision.clients import ClientProvider
    from election.provision.engine import Deployer

    provider = ClientProvider()
    Deployer(aws_plan, provider, sleep=lambda s: None, site_dir=site).apply()
    east_only = dataclasses.replace(aws_plan, regions=(RegionPlan("us-east-1", STATES),))
    shrink = Deployer(east_only, provider, sleep=lambda s: None, site_dir=site)
    deletions = {s.key for s in shrink.diff().steps if s.action == "delete"}
    west_edge = {r.key for r in edge_resources(aws_plan, site) if r.region == "us-west-2"}
    assert west_edge <= deletions, west_edge - deletions
    shrink.apply()
    assert not [f for kind in KINDS.values() for f in kind.discover(moto_ctx, "us-west-2")]
    assert moto_ctx.client("apigatewayv2", "us-west-2").get_apis()["Items"] == []
    left = [(s.key, s.action, s.changes) for s in Deployer(east_only, provider, sleep=lambda s: None,
                                                           site_dir=site).diff().steps if s.action != "noop"]
    assert left == []


def test_an_interrupted_up_resumes_without_duplicates(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    from election.errors import ElectionError
    from election.provision.clients import ClientProvider
    from election.provision.engine import Deployer
    from election.provision.kinds import REGISTRY

    class FailingPolicy(SiteBucketPolicy):
        def create(self, ctx: Any, res: Resource) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "PutBucketPolicy")

    provider = ClientProvider()
    broken = {**REGISTRY, "site_bucket_policy": FailingPolicy()}
    with pytest.raises(ElectionError, match="site_bucket_policy"):
        Deployer(aws_plan, provider, sleep=lambda s: None, site_dir=site, registry=broken).apply()
    Deployer(aws_plan, provider, sleep=lambda s: None, site_dir=site).apply()
    again = Deployer(aws_plan, provider, sleep=lambda s: None, site_dir=site).diff()
    assert again.count("noop") == len(again.steps)
    cf = moto_ctx.client("cloudfront", "us-east-1")
    assert cf.list_distributions()["DistributionList"]["Quantity"] == 1
    assert cf.list_origin_access_controls()["OriginAccessControlList"]["Quantity"] == 1
    for region in aws_plan.region_names:
        assert len(moto_ctx.client("apigatewayv2", region).get_apis()["Items"]) == 1


def test_the_local_plan_gets_the_edge_without_a_domain(aws_env: None) -> None:
    from election.provision.clients import ClientProvider
    from election.provision.engine import Deployer

    plan = load_plan(ROOT / "config" / "local.yaml")
    deployer = Deployer(plan, ClientProvider(), sleep=lambda s: None, site_dir=ROOT / "website")  # checks every Ref
    kinds = {r.kind for r in deployer.resources}
    assert {"http_api", "api_stage", "alarm", "dashboard", "site_files", "cloudfront_distribution"} <= kinds
    assert not kinds & {"hosted_zone", "acm_certificate", "api_domain", "dns_record", "health_check"}
    files = next(r for r in deployer.resources if r.kind == "site_files")
    assert [v.key for k, v in files.props.items() if k.startswith("api_endpoint:")] == [
        f"{r}/http_api/{plan.name}" for r in plan.region_names]


# --- the manifest is not served (issue 10 point 6) -------------------------------------------------------


def _cloudfront_may_read(policy: dict[str, Any], dist_arn: str, tags: dict[str, str]) -> bool:
    """Would S3 let the distribution read an object with these tags? (the policy's only grant, evaluated)"""
    for st in policy["Statement"]:
        if st["Effect"] != "Allow" or st["Principal"] != {"Service": "cloudfront.amazonaws.com"}:
            continue
        cond = st["Condition"]["StringEquals"]
        if cond.pop("AWS:SourceArn") != dist_arn:
            continue
        if all(k.startswith("s3:ExistingObjectTag/") and tags.get(k.split("/", 1)[1]) == v for k, v in cond.items()):
            return True
    return False


def test_cloudfront_may_read_the_page_but_not_the_manifest(moto_ctx: FakeContext, aws_plan: Plan, site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    s3 = moto_ctx.client("s3", "us-east-1")
    bucket = Names(aws_plan.name).bucket(ACCOUNT)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    dist_arn = engine.outputs[distribution_key(aws_plan)]["arn"]
    readable = {}
    for key in _objects(moto_ctx, bucket):
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
        readable[key] = _cloudfront_may_read(json.loads(json.dumps(policy)), dist_arn, tags)
    assert readable == {"index.html": True, "app.js": True, "style.css": True, "config.json": True,
                        ".election-manifest.json": False}
    manifest = s3.get_object(Bucket=bucket, Key=".election-manifest.json")["Body"].read().decode()
    assert engine.outputs[distribution_key(aws_plan)]["id"] in manifest   # what must not be public


def test_a_site_uploaded_before_tagging_is_retagged_on_the_next_up(moto_ctx: FakeContext, aws_plan: Plan,
                                                                   site: Path) -> None:
    engine = deployed(moto_ctx, aws_plan, site)
    s3 = moto_ctx.client("s3", "us-east-1")
    bucket = Names(aws_plan.name).bucket(ACCOUNT)
    for key in ("index.html", "app.js", "style.css", "config.json"):   # as an older version left them
        s3.delete_object_tagging(Bucket=bucket, Key=key)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=".election-manifest.json")["Body"].read())
    del manifest["props"]["public_tag"]
    s3.put_object(Bucket=bucket, Key=".election-manifest.json", Body=json.dumps(manifest).encode())
    key = f"us-east-1/site_files/{aws_plan.name}-site"
    assert [c.field for c in engine.diffs()[key]] == ["public_tag"]
    engine.up()
    for obj in ("index.html", "app.js", "style.css", "config.json"):
        assert s3.get_object_tagging(Bucket=bucket, Key=obj)["TagSet"] == [{"Key": "election:public", "Value": "true"}]
    assert engine.diffs() == {}


def test_cloudfront_sends_the_pages_csp_with_connect_src_limited_to_the_apis(moto_ctx: FakeContext, aws_plan: Plan,
                                                                            site: Path) -> None:
    import dataclasses as dc

    engine = deployed(moto_ctx, aws_plan, site)
    cf = moto_ctx.client("cloudfront", "us-east-1")
    name = f"{aws_plan.name}-site"
    policy_id = engine.outputs[f"us-east-1/cloudfront_headers_policy/{name}"]["id"]
    dist = engine.outputs[distribution_key(aws_plan)]["id"]
    behavior = cf.get_distribution_config(Id=dist)["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["ResponseHeadersPolicyId"] == policy_id
    sec = cf.get_response_headers_policy(Id=policy_id)["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]
    csp = sec["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src")).split()[1:]
    assert connect == ["'self'", *(f"https://*.execute-api.{r}.amazonaws.com" for r in aws_plan.region_names)]
    assert "https:" not in connect and "frame-ancestors 'none'" in csp
    assert sec["FrameOptions"]["FrameOption"] == "DENY" and sec["StrictTransportSecurity"]["IncludeSubdomains"]
    # with a domain, exactly the API's own origin; an edited policy is put back by the next up
    with_domain = dc.replace(aws_plan, domain="vote.example.org")
    res = next(r for r in edge_resources(with_domain, site) if r.kind == "cloudfront_headers_policy")
    assert res.props["csp"] == page_csp(["https://api.vote.example.org/"])
    got = cf.get_response_headers_policy(Id=policy_id)
    config = got["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]
    config["SecurityHeadersConfig"]["FrameOptions"]["FrameOption"] = "SAMEORIGIN"
    cf.update_response_headers_policy(Id=policy_id, IfMatch=got["ETag"], ResponseHeadersPolicyConfig=config)
    assert [c.field for c in engine.diffs()[f"us-east-1/cloudfront_headers_policy/{name}"]] == ["csp"]
    engine.up()
    assert engine.diffs() == {}
