"""One module per AWS resource kind; REGISTRY maps a kind name to its implementation.

A kind module imports only the shared helpers (awsutil, lookups, s3util, apigwutil), never
another kind. Registration order is dependency order: `down` deletes on the plan's dependency
graph, and what is no longer in the plan walking this table backwards, so a kind is registered
after every kind it may depend on.
"""

from __future__ import annotations

from election.provision.kinds.acm import AcmCertificate
from election.provision.kinds.apidomain import ApiDomain, ApiMapping
from election.provision.kinds.apigw import ApiStage, HttpApi
from election.provision.kinds.apiroutes import ApiIntegration, ApiRoute
from election.provision.kinds.autoscaling import TableScaling
from election.provision.kinds.base import Kind
from election.provision.kinds.cloudfront import CloudFrontDistribution, CloudFrontOac
from election.provision.kinds.cloudwatch import Alarm, Dashboard
from election.provision.kinds.dynamodb import Table
from election.provision.kinds.esm import EventSourceMapping
from election.provision.kinds.headers import ResponseHeadersPolicy
from election.provision.kinds.iam import IamRole
from election.provision.kinds.kms import KmsKey
from election.provision.kinds.lambda_ import LambdaFunction
from election.provision.kinds.logs import LogGroup
from election.provision.kinds.permission import LambdaPermission
from election.provision.kinds.resource_policy import ResourcePolicy
from election.provision.kinds.route53 import DnsRecord, HealthCheck, HostedZone
from election.provision.kinds.s3site import SiteBucket, SiteBucketPolicy
from election.provision.kinds.secrets import Secret
from election.provision.kinds.sitefiles import SiteFiles
from election.provision.kinds.sns import Topic
from election.provision.kinds.sqs import Queue

REGISTRY: dict[str, Kind] = {
    "kms_key": KmsKey(),
    "secret": Secret(),
    "table": Table(),
    "table_scaling": TableScaling(),   # after its table; before a replica of a provisioned table
    "queue": Queue(),
    "log_group": LogGroup(),
    "iam_role": IamRole(),
    "lambda_function": LambdaFunction(),
    "event_source_mapping": EventSourceMapping(),
    "resource_policy": ResourcePolicy(),
    # --- edge kinds (added by the edge engineer) ---
    "hosted_zone": HostedZone(),
    "acm_certificate": AcmCertificate(),
    "cloudfront_oac": CloudFrontOac(),
    "site_bucket": SiteBucket(),
    "cloudfront_headers_policy": ResponseHeadersPolicy(),
    "cloudfront_distribution": CloudFrontDistribution(),
    "site_bucket_policy": SiteBucketPolicy(),
    "http_api": HttpApi(),
    "api_integration": ApiIntegration(),
    "lambda_permission": LambdaPermission(),
    "api_route": ApiRoute(),
    "api_stage": ApiStage(),
    "site_files": SiteFiles(),
    "api_domain": ApiDomain(),
    "api_mapping": ApiMapping(),
    "health_check": HealthCheck(),
    "dns_record": DnsRecord(),
    "sns_topic": Topic(),   # before the alarms that notify it (deleted after them)
    "alarm": Alarm(),
    "dashboard": Dashboard(),
}
