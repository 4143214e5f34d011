"""The functions of a region: log groups, roles, Lambda functions, their environment and event sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from election.lambdas import contract
from election.ops import capacity
from election.plan import Plan
from election.provision import package
from election.provision.model.common import TAG_REGION, interleave, json_join, names, plan_tags
from election.provision.model.data import kms_key_ref
from election.provision.model.names import key
from election.provision.model.policies import LAMBDA_TRUST, function_policy
from election.provision.resources import Join, Ref, Resource

RUNTIME = "python3.12"
# Lambda's advanced logging controls: JSON format drops the runtime's START/END/REPORT lines below
# WARN (system logs: "start" and "report" are INFO), ~350 bytes per invocation, ~$0.17 per million votes
# (bench/pipeline_cost.py). Application logs stay at INFO: the handlers' metric lines are printed
# without a level, which Lambda files as INFO, and must reach CloudWatch (embedded metric format).
LOGGING = {"format": "JSON", "application_level": "INFO", "system_level": "WARN"}
LOCAL_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*")


def distribution_key(plan: Plan) -> str:
    """The voting page's distribution: the functions' ALLOWED_ORIGINS read Ref(distribution_key(plan), "origin")."""
    return key(plan.primary_region, "cloudfront_distribution", names(plan).site)


def function_key(plan: Plan, region: str, role: str) -> str:
    return key(region, "lambda_function", names(plan).function(role))


def compute_resources(plan: Plan, region: str, lambdas_dir: Path, edge: bool) -> list[Resource]:
    """Per function: its log group, its role (with its policy), the function; then the event sources."""
    n, tags = names(plan), plan_tags(plan)
    kms = kms_key_ref(plan, region)
    env = _environment(plan, region, edge)
    out: list[Resource] = []
    for role, fn in contract.FUNCTIONS.items():
        lg = key(region, "log_group", n.log_group(role))
        out.append(Resource("log_group", region, n.log_group(role),
                            {"retention_days": plan.log_retention_days, "kms_key": Ref(kms, "arn")},
                            depends_on=(kms,), tags=tags))
        iam = key(region, "iam_role", n.role(role, region))
        out.append(Resource("iam_role", region, n.role(role, region),
                            {"assume_role_policy": LAMBDA_TRUST, "policy": function_policy(plan, region, role)},
                            tags={**tags, TAG_REGION: region}))
        pkg = package.build(role, lambdas_dir)
        out.append(Resource("lambda_function", region, n.function(role),
                            {"runtime": RUNTIME, "handler": package.handler_string(role),
                             "role": Ref(iam, "arn"), "memory_mb": plan.lambda_.memory_mb,
                             "timeout_s": plan.lambda_.timeout_s, "architecture": plan.lambda_.architecture,
                             "environment": _keys_of(env, fn), "kms_key": Ref(kms, "arn"),
                             "code_sha256": pkg.sha256_b64,
                             "logging": LOGGING,
                             "_zip": pkg.data, **_reserved_concurrency(plan, role, region)},
                            depends_on=(lg,), tags=tags))
    return out + mapping_resources(plan, region)


def mapping_resources(plan: Plan, region: str) -> list[Resource]:
    """The region's event source mappings, one per queue- or stream-triggered function of the contract."""
    n = names(plan)
    out: list[Resource] = []
    for role, queue in contract.triggered_by(contract.Queue):
        batch_size, window_s = plan.queue_batch(queue.mixing)
        # MaximumConcurrency bounds each queue's consumers, so draining a backlog cannot take the account's
        # concurrency from the voting API (which also has its own reserve: _reserved_concurrency).
        props: dict[str, Any] = {"function": n.function(role),
                                 "source_arn": Ref(key(region, "queue", n.queue(queue.queue)), "arn"),
                                 "batch_size": batch_size, "response_types": ["ReportBatchItemFailures"],
                                 "max_concurrency": plan.queue.max_concurrency}
        if queue.mixing:   # README "Ballot secrecy": gather up to secrecy.batch_size votes for up to window_s
            props["batching_window_s"] = window_s
        out.append(Resource("event_source_mapping", region, n.esm(role), props,
                            depends_on=(function_key(plan, region, role),)))
    for role, stream in contract.triggered_by(contract.Stream):
        failures = key(region, "queue", n.queue(stream.on_failure))
        out.append(Resource("event_source_mapping", region, n.esm(role), {
            "function": n.function(role), "source_arn": Ref(key(region, "table", n.table(stream.table)), "stream_arn"),
            "batch_size": stream.batch_size, "response_types": ["ReportBatchItemFailures"],
            "bisect_on_error": True, "tumbling_window_s": stream.tumbling_window_s,
            "batching_window_s": stream.batching_window_s, "_starting_position": "TRIM_HORIZON",
            "max_retries": stream.max_retries, "max_record_age_s": stream.max_record_age_s,
            "on_failure": Ref(failures, "arn")}, depends_on=(function_key(plan, region, role), failures)))
    return out


def _reserved_concurrency(plan: Plan, role: str, region: str) -> dict[str, Any]:
    """Only the enqueue function (the voting API's writes) gets a reserve; None means no reservation.

    A reserve is also the function's ceiling, so with a `capacity` section it is raised to what the
    region's peak needs (capacity.needs), never left below it.
    """
    if role != "enqueue":
        return {}
    reserve = plan.lambda_.enqueue_reserved_concurrency
    if reserve:
        need = next((n.concurrency.get("enqueue", 0) for n in capacity.needs(plan) if n.region == region), 0)
        reserve = max(reserve, need)
    return {"reserved_concurrency": reserve or None}


def mix_defer_rounds(plan: Plan) -> int:
    """How often process may hold back a vote of a state short of k: at most 2, and always leaving two
    receives for real retries before the dead-letter queue (queue.max_receives)."""
    return max(0, min(2, plan.queue.max_receives - 3))


def function_environment(plan: Plan, region: str, role: str, edge: bool = True) -> dict[str, Any]:
    """The environment `role`'s function gets in `region` (Refs unresolved); plan_limits measures it."""
    return _keys_of(_environment(plan, region, edge), contract.FUNCTIONS[role])


def _keys_of(env: dict[str, Any], fn: contract.Function) -> dict[str, Any]:
    """Only the keys the function's handler reads (contract.Function.env): no function learns, e.g., the
    name of a secret it may not read."""
    return {k: v for k, v in env.items() if k in fn.env}


def sqs_batching_windows(plan: Plan) -> dict[str, int]:
    """Batching window (s) of each SQS mapping, by mapping name: the queue's visibility must cover it."""
    return {r.name: int(r.props.get("batching_window_s", 0)) for region in plan.region_names
            for r in mapping_resources(plan, region) if "_starting_position" not in r.props}


def _environment(plan: Plan, region: str, edge: bool) -> dict[str, Any]:
    """Every contract key's value in this region; each function gets its own keys of it (_keys_of)."""
    n = names(plan)
    origins: list[Any] = list(plan.api.allowed_origins)
    if plan.target == "local":
        origins.extend(LOCAL_ORIGINS)
    if edge:   # the voting page's origin, once its distribution exists
        origins.insert(0, Ref(distribution_key(plan), "origin"))
    queue_urls = {r: Ref(key(r, "queue", n.queue("votes")), "url") for r in plan.region_names}
    ballot = {"candidates": list(plan.ballot.candidates),
              "overrides": {s: list(c) for s, c in plan.ballot.overrides.items()}}
    return {
        contract.ENV_PLAN: plan.name,
        contract.ENV_REGION: region,
        contract.ENV_VOTERS_TABLE: n.voters,
        contract.ENV_BALLOTS_TABLE: n.ballots,
        contract.ENV_RESULTS_TABLE: n.results,
        contract.ENV_VOTES_QUEUE_URLS: json_join(queue_urls),
        contract.ENV_HANDOFF_QUEUE_URL: Ref(key(region, "queue", n.queue("handoff")), "url"),
        contract.ENV_STATE_REGIONS: json.dumps(plan.state_regions(), separators=(",", ":"), sort_keys=True),
        contract.ENV_BALLOT: json.dumps(ballot, separators=(",", ":")),
        contract.ENV_VOTER_PEPPER_SECRET: n.voter_pepper,
        contract.ENV_BALLOT_PEPPER_SECRET: n.ballot_pepper,
        contract.ENV_ALLOWED_ORIGINS: Join(tuple(interleave(origins, ",")))
        if any(isinstance(o, Ref) for o in origins) else ",".join(origins),
        contract.ENV_METRICS_NAMESPACE: n.metrics_namespace,
        contract.ENV_RESULTS_LIVE: "true" if plan.results.live else "false",
        contract.ENV_QUEUE_KEY_SECRET: n.queue_key,
        contract.ENV_MIX_MIN: str(plan.secrecy.min_mix),
        contract.ENV_MIX_WINDOW: str(plan.secrecy.window_s),
        contract.ENV_MIX_DEFER: str(mix_defer_rounds(plan)),
    }
