"""Lambda functions from the deterministic zip: code updated only when its sha256 differs.

Configuration fields are updated one call for all fields that differ; the
code (and the architecture, which AWS sets with the code) only when the zip's
sha256 differs from the deployed CodeSha256.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from election.provision.kinds import awsutil as u
from election.provision.kinds.base import Actual, Change, Context, Found, Resource
from election.provision.model.names import Names

# Creating or reconfiguring right after the role was made: IAM may not have propagated it yet.
PROPAGATING = u.any_of(u.ROLE_NOT_ASSUMABLE, u.FUNCTION_BUSY)
CONFIG_FIELDS = {"runtime": "Runtime", "handler": "Handler", "role": "Role", "memory_mb": "MemorySize",
                 "timeout_s": "Timeout", "kms_key": "KMSKeyArn"}


class LambdaFunction:
    name = "lambda_function"

    def read(self, ctx: Context, res: Resource) -> Actual | None:
        lam = ctx.client("lambda", res.region)
        try:
            fn = lam.get_function(FunctionName=res.name)
        except Exception as exc:
            if u.is_code(exc, "ResourceNotFoundException"):
                return None
            raise
        cfg = fn["Configuration"]
        props = {"runtime": cfg.get("Runtime"), "handler": cfg.get("Handler"), "role": cfg.get("Role"),
                 "memory_mb": cfg.get("MemorySize"), "timeout_s": cfg.get("Timeout"),
                 "architecture": (cfg.get("Architectures") or ["x86_64"])[0],
                 "environment": (cfg.get("Environment") or {}).get("Variables") or {},
                 "kms_key": cfg.get("KMSKeyArn"), "code_sha256": cfg.get("CodeSha256"),
                 "tags": u.user_tags(fn.get("Tags") or {}),
                 # GetFunction reports reserved concurrency too: no extra read.
                 "reserved_concurrency": (fn.get("Concurrency") or {}).get("ReservedConcurrentExecutions")}
        if "logging" in res.props:
            props["logging"] = _logging(cfg, res.props["logging"])
        return Actual(props=props, outputs={"arn": cfg["FunctionArn"], "name": res.name})

    def create(self, ctx: Context, res: Resource) -> dict[str, Any]:
        lam = ctx.client("lambda", res.region)
        p = res.props

        def create() -> dict[str, Any]:
            return lam.create_function(
                FunctionName=res.name, Runtime=p["runtime"], Role=p["role"], Handler=p["handler"],
                Code={"ZipFile": p["_zip"]}, Timeout=p["timeout_s"], MemorySize=p["memory_mb"],
                Environment={"Variables": p["environment"]}, KMSKeyArn=p["kms_key"],
                Architectures=[p["architecture"]], Tags=dict(res.tags), Publish=False,
                **({"LoggingConfig": _logging_config(p["logging"])} if "logging" in p else {}))

        cfg = u.retry(create, ctx, PROPAGATING, attempts=10)
        u.wait_for(ctx, lam, "function_active", f"function {res.name} in {res.region} to become active",
                   first_delay=0.5, FunctionName=res.name)
        if p.get("reserved_concurrency"):
            _set_reserved(lam, res.name, p["reserved_concurrency"])
        return {"arn": cfg["FunctionArn"], "name": res.name}

    def update(self, ctx: Context, res: Resource, actual: Actual, changes: list[Change]) -> dict[str, Any]:
        lam = ctx.client("lambda", res.region)
        fields = {c.field: c.new for c in changes}
        config = {CONFIG_FIELDS[f]: v for f, v in fields.items() if f in CONFIG_FIELDS}
        if "environment" in fields:
            config["Environment"] = {"Variables": fields["environment"]}
        if "logging" in fields:
            config["LoggingConfig"] = _logging_config(fields["logging"])
        # An update while another is in progress is refused (ResourceConflictException): each update is
        # followed by AWS's function_updated waiter, so the next one starts on a settled function.
        if config:
            u.retry(lambda: lam.update_function_configuration(FunctionName=res.name, **config), ctx, PROPAGATING,
                    attempts=10)
            self._wait_updated(ctx, res)
        if "code_sha256" in fields or "architecture" in fields:
            u.retry(lambda: lam.update_function_code(FunctionName=res.name, ZipFile=res.props["_zip"],
                                                     Architectures=[res.props["architecture"]]), ctx, u.FUNCTION_BUSY)
            self._wait_updated(ctx, res)
        if "reserved_concurrency" in fields:
            _set_reserved(lam, res.name, fields["reserved_concurrency"])
        if "tags" in fields:
            add, remove = u.tag_delta(actual.props.get("tags"), fields["tags"])
            if add:
                lam.tag_resource(Resource=actual.outputs["arn"], Tags=add)
            if remove:
                lam.untag_resource(Resource=actual.outputs["arn"], TagKeys=remove)
        return actual.outputs

    def _wait_updated(self, ctx: Context, res: Resource) -> None:
        u.wait_for(ctx, ctx.client("lambda", res.region), "function_updated",
                   f"function {res.name} in {res.region} to finish updating", first_delay=0.5, FunctionName=res.name)

    def delete(self, ctx: Context, found: Found) -> None:
        try:
            ctx.client("lambda", found.region).delete_function(FunctionName=found.name)
        except Exception as exc:
            if not u.is_code(exc, "ResourceNotFoundException"):
                raise

    def discover(self, ctx: Context, region: str) -> list[Found]:
        lam = ctx.client("lambda", region)
        out = []
        for fn in u.paginate(lam, "list_functions", "Functions"):
            if not fn["FunctionName"].startswith(Names(ctx.plan_name).prefix):
                continue
            tags = u.tags_of(ctx, region, fn["FunctionArn"],
                             partial(_function_tags, lam, fn["FunctionArn"]))
            if u.ours(tags, ctx):
                out.append(Found(self.name, region, fn["FunctionName"], {"arn": fn["FunctionArn"]}))
        return out


def _set_reserved(lam: Any, name: str, reserved: int | None) -> None:
    """PutFunctionConcurrency, or DeleteFunctionConcurrency for None (0 would mean: never run it)."""
    if reserved:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    else:
        lam.delete_function_concurrency(FunctionName=name)


def _logging_config(wanted: dict[str, str]) -> dict[str, str]:
    """LoggingConfig of CreateFunction/UpdateFunctionConfiguration; levels need the JSON format."""
    return {"LogFormat": wanted["format"], "ApplicationLogLevel": wanted["application_level"],
            "SystemLogLevel": wanted["system_level"]}


def _logging(cfg: dict[str, Any], wanted: dict[str, str]) -> dict[str, str]:
    """The function's logging settings as the plan spells them.

    AWS always returns LoggingConfig (LogFormat Text by default). moto 5.2.5 neither stores nor
    returns it, so when it is absent the endpoint cannot tell and the wanted value is reported
    (otherwise every `up` on moto would update every function); on AWS the field is compared.
    """
    lc = cfg.get("LoggingConfig")
    if lc is None:
        return dict(wanted)
    out = {"format": lc.get("LogFormat", "Text")}
    if out["format"] == "JSON":
        out["application_level"] = lc.get("ApplicationLogLevel", "INFO")
        out["system_level"] = lc.get("SystemLogLevel", "INFO")
    return out


def _function_tags(lam: Any, arn: str) -> dict[str, str]:
    return lam.list_tags(Resource=arn).get("Tags") or {}
