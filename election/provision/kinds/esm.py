"""Event source mappings: queues -> process/forward (partial batch responses), ballots stream -> tally.

The SQS mappings carry ScalingConfig.MaximumConcurrency; the stream mapping bounded retries, a record age
and an on-failure destination (DestinationConfig.OnFailure): all diffed like the other fields.

A mapping has no name in AWS; it is identified by (function, source). When
the source changed (e.g. a table was recreated and got a new stream), the old
mapping is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from election.lambdas import contract
from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

# The function's role may not be usable yet right after it was created.
PROPAGATION = ("InvalidParameterValueException",)
# Settings only some mappings have (compared only when the desired resource has them): model field -> API field.
OPTIONAL = {"tumbling_window_s": "TumblingWindowInSeconds", "batching_window_s": "MaximumBatchingWindowInSeconds",
            "max_retries": "MaximumRetryAttempts", "max_record_age_s": "MaximumRecordAgeInSeconds"}
# Nested ones: model field -> (API field, key inside it[, key inside that]).
NESTED = {"max_concurrency": ("ScalingConfig", "MaximumConcurrency"),          # SQS mappings only
          "on_failure": ("DestinationConfig", "OnFailure", "Destination")}      # stream mappings only


class EventSourceMapping:
    name = "event_source_mapping"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        found = [m for m in _region_mappings(ctx, res.region)
                 if _function_of(m) == res.props["function"] and m.get("State") not in ("Deleting",)]
        if not found:
            return None
        wanted = res.props.get("source_arn")
        match = next((m for m in found if m["EventSourceArn"] == wanted), found[0])
        props: dict[str, Any] = {"function": match["FunctionArn"].rsplit(":", 1)[-1],
                                 "source_arn": match["EventSourceArn"], "batch_size": match.get("BatchSize"),
                                 "response_types": match.get("FunctionResponseTypes") or []}
        if "bisect_on_error" in res.props:
            props["bisect_on_error"] = bool(match.get("BisectBatchOnFunctionError"))
        for field, api in OPTIONAL.items():
            if field in res.props:
                props[field] = match.get(api, 0)
        for field, path in NESTED.items():
            if field in res.props:
                props[field] = _dig(match, path)
        return Actual(props=props, outputs={"uuid": match["UUID"]})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        lam = ctx.client("lambda", res.region)
        p = res.props
        args: dict[str, Any] = {"FunctionName": p["function"], "EventSourceArn": p["source_arn"],
                                "BatchSize": p["batch_size"], "FunctionResponseTypes": p["response_types"],
                                "Enabled": True}
        if "_starting_position" in p:
            args["StartingPosition"] = p["_starting_position"]
        if "bisect_on_error" in p:
            args["BisectBatchOnFunctionError"] = p["bisect_on_error"]
        args.update(_api_args(p))
        answer = u.retry(lambda: lam.create_event_source_mapping(**args), ctx, PROPAGATION, attempts=8)
        return {"uuid": answer["UUID"]}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        lam = ctx.client("lambda", res.region)
        fields = {c.field: c.new for c in changes}
        if "source_arn" in fields or "function" in fields:
            lam.delete_event_source_mapping(UUID=actual.outputs["uuid"])
            return self.create(ctx, res)
        args: dict[str, Any] = {}
        if "batch_size" in fields:
            args["BatchSize"] = fields["batch_size"]
        if "response_types" in fields:
            args["FunctionResponseTypes"] = fields["response_types"]
        if "bisect_on_error" in fields:
            args["BisectBatchOnFunctionError"] = fields["bisect_on_error"]
        args.update(_api_args(fields))
        if args:
            lam.update_event_source_mapping(UUID=actual.outputs["uuid"], **args)
        return actual.outputs

    def delete(self, ctx: Context, found: Found) -> None:
        try:
            ctx.client("lambda", found.region).delete_event_source_mapping(UUID=found.outputs["uuid"])
        except Exception as exc:
            if not u.is_code(exc, "ResourceNotFoundException"):
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        """Mappings of the plan's functions (exact names, so plan "a" never takes plan "a-b"'s mappings)."""
        prefix = Names(ctx.plan_name).prefix
        out = []
        for m in _region_mappings(ctx, region):
            fn = _function_of(m)
            role = fn[len(prefix):] if fn.startswith(prefix) else ""
            if role not in contract.FUNCTIONS:
                continue
            source = m.get("EventSourceArn", "")
            expected = contract.event_sources().get(role)
            if expected and _source_name(source).endswith(f"{prefix}{expected}"):
                name = f"{fn}-{expected}"
            else:
                name = f"{fn}-{m['UUID']}"
            out.append(Found(self.name, region, name, {"uuid": m["UUID"], "source_arn": source}))
        return out


def _api_args(fields: Mapping[str, Any]) -> dict[str, Any]:
    """CreateEventSourceMapping / UpdateEventSourceMapping arguments for the optional fields given."""
    args: dict[str, Any] = {api: fields[field] for field, api in OPTIONAL.items() if field in fields}
    for field, path in NESTED.items():
        if field in fields:
            value: Any = fields[field]
            for part in reversed(path[1:]):
                value = {part: value}
            args[path[0]] = value
    return args


def _dig(found: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = found
    for part in path:
        value = (value or {}).get(part)
    return value


def _region_mappings(ctx: Context, region: str) -> list[dict[str, Any]]:
    """Every mapping in the region: one listing per run serves each mapping's read and the discovery."""
    return u.memo(ctx, ("mappings", region), lambda: u.paginate(
        ctx.client("lambda", region), "list_event_source_mappings", "EventSourceMappings"))


def _function_of(mapping: dict[str, Any]) -> str:
    return str(mapping.get("FunctionArn", "")).rsplit(":function:", 1)[-1].split(":")[0]


def _source_name(arn: str) -> str:
    """Queue name, or table name for a stream ARN (…:table/<name>/stream/<label>)."""
    if ":table/" in arn:
        return arn.split(":table/", 1)[1].split("/", 1)[0]
    return arn.rsplit(":", 1)[-1]
