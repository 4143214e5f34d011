"""The data plane of a region: its KMS key, the secrets, the three tables and the queues."""

from __future__ import annotations

from typing import Any

from election.lambdas import contract
from election.ops import capacity
from election.plan import Plan
from election.provision.model.common import names, plan_tags
from election.provision.model.names import FAILURE_QUEUE, QUEUES, key  # noqa: F401  (QUEUES re-exported)
from election.provision.model.policies import key_policy
from election.provision.resources import TAG_REGIONS, Ref, Resource

DLQ_RETENTION_S = 14 * 24 * 3600     # the longest SQS allows: time to inspect and redrive
# A hand-off waits for its home region to come back, so it must outlast an outage rather than
# plan.queue.max_receives visibility timeouts (5 x 60 s): SQS's maximum, ~17 hours at 60 s, then the DLQ.
HANDOFF_MAX_RECEIVES = 1000
QUEUE_RETENTION_S = 14 * 24 * 3600   # an outage of the processor must not drop votes either
TABLES = {"voters": contract.VOTERS_KEY, "ballots": contract.BALLOTS_KEY, "results": contract.RESULTS_KEY}


def kms_key_ref(plan: Plan, region: str) -> str:
    return key(region, "kms_key", names(plan).alias)


def data_resources(plan: Plan, region: str) -> list[Resource]:
    """Key first; secrets, tables and queues are encrypted with it."""
    return [_kms_key(plan, region), *_secrets(plan, region), *_tables(plan, region), *_queues(plan, region)]


def _kms_key(plan: Plan, region: str) -> Resource:
    return Resource(
        "kms_key", region, names(plan).alias,
        {"description": f"election {plan.name}: tables, queues, logs and secrets in {region}",
         "rotation": True, "policy": key_policy(plan, region)},
        tags={**plan_tags(plan), TAG_REGIONS: ",".join(plan.region_names)})


def _secrets(plan: Plan, region: str) -> list[Resource]:
    """The two peppers and the queue key; a secondary region's copy comes after the primary's."""
    n, primary, kms = names(plan), plan.primary_region, kms_key_ref(plan, region)
    out = []
    for name, description, guard in (
            (n.secret("voter"), f"voter pepper of election {plan.name}", {}),
            (n.secret("ballot"), f"ballot pepper of election {plan.name}",
             {r: n.table("ballots") for r in plan.region_names}),
            (n.queue_key, f"vote message and ballot tag key of election {plan.name}", {})):
        deps = (kms,) if region == primary else (kms, key(primary, "secret", name))
        out.append(Resource("secret", region, name,
                            {"kms_key_id": Ref(kms, "arn"), "description": description,
                             "_primary": primary, "_regions": plan.region_names, "_guard_tables": guard},
                            depends_on=deps, tags=plan_tags(plan)))
    return out


def _tables(plan: Plan, region: str) -> list[Resource]:
    n, primary, kms = names(plan), plan.primary_region, kms_key_ref(plan, region)
    warm = capacity.warm_throughput(plan)
    cap = plan.ballots_capacity
    out = []
    for which, key_attr in TABLES.items():
        provisioned = which == "ballots" and cap.provisioned
        props: dict[str, Any] = {"status": "ACTIVE", "key": key_attr,
                                 "billing_mode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
                                 "sse_key": Ref(kms, "arn"),
                                 "pitr": True, "deletion_protection": True, "stream": "NEW_AND_OLD_IMAGES"}
        if provisioned:   # what CreateTable / the switch asks for; auto scaling moves it after (not diffed)
            props["_provisioned"] = {"read": cap.read_min, "write": cap.write_min}
        deps: tuple[str, ...] = (kms,)
        if plan.replicated_by_aws and region != primary:
            props["_replica_of"] = primary
            deps = (kms, key(primary, "table", n.table(which)))
            if provisioned:
                # A provisioned global table must have write auto scaling (Amazon DynamoDB Developer Guide,
                # "Best practices and requirements for managing global tables"): the source's is set first.
                # Order only (`_after`): a replica that exists stays when the source's scaling is new.
                props["_after"] = (key(primary, "table_scaling", n.table(which)),)
                deps += props["_after"]
        elif which in warm:   # a global table's warm throughput is set once and applies to every replica
            props["warm_throughput"] = warm[which]
        if which == "voters" and plan.roll is not None:   # made by ImportTable from seed-voters --import
            props["_import"] = {"bucket": plan.roll.bucket, "parts": plan.roll.parts_prefix,
                                "manifest": plan.roll.manifest_key, "pepper_secret": n.secret("voter"),
                                "imports": "_replica_of" not in props}
        out.append(Resource("table", region, n.table(which), props, depends_on=deps, tags=plan_tags(plan)))
        if provisioned:
            out.append(table_scaling(plan, region, n.table(which)))
    return out


def table_scaling(plan: Plan, region: str, table: str) -> Resource:
    """Auto scaling of a provisioned table in one region: the same minimum, maximum and target in every
    region (a global table's replicas share their write capacity settings)."""
    cap = plan.ballots_capacity
    return Resource("table_scaling", region, table, {
        "write": {"min": cap.write_min, "max": cap.write_max, "target": cap.target_percent},
        "read": {"min": cap.read_min, "max": cap.read_max, "target": cap.target_percent}},
        depends_on=(key(region, "table", table),))


def votes_visibility(plan: Plan) -> int:
    """The votes queue's visibility timeout: a vote gathered into a mixing batch stays hidden for the
    whole window plus the function's run, so it is not delivered twice (plan queue.visibility_timeout_s
    if larger)."""
    return max(plan.queue.visibility_timeout_s, plan.secrecy.window_s + plan.lambda_.timeout_s)


def _queues(plan: Plan, region: str) -> list[Resource]:
    """Votes and hand-off queues, each after its dead-letter queue; the tally's failure queue."""
    n, tags = names(plan), plan_tags(plan)
    kms_arn = Ref(kms_key_ref(plan, region), "arn")
    kms = (kms_key_ref(plan, region),)

    def dead_letters(which: str) -> Resource:
        return Resource("queue", region, n.queue(which),
                        {"kms_key": kms_arn, "retention_s": DLQ_RETENTION_S,
                         "visibility_timeout_s": plan.queue.visibility_timeout_s, "redrive": None},
                        depends_on=kms, tags=tags)

    out = []
    for main in ("votes", "handoff"):
        dlq = f"{main}_dlq"
        out.append(dead_letters(dlq))
        out.append(Resource("queue", region, n.queue(main),
                            {"kms_key": kms_arn, "retention_s": QUEUE_RETENTION_S,
                             "visibility_timeout_s": votes_visibility(plan) if main == "votes"
                             else plan.queue.visibility_timeout_s,
                             "redrive": {"deadLetterTargetArn": Ref(key(region, "queue", n.queue(dlq)), "arn"),
                                         "maxReceiveCount": HANDOFF_MAX_RECEIVES if main == "handoff"
                                         else plan.queue.max_receives}},
                            depends_on=kms, tags=tags))
    out.append(dead_letters(FAILURE_QUEUE))
    return out
