"""Where an ops command points: the plan, AWS clients and, for the local stack, its endpoints.

Every ops command (seed-voters, loadtest, results, audit, recount, dlq, open,
close) resolves its target here so they all find AWS or the local stack the
same way: with an explicit --plan they talk to what that plan describes; with
no --plan and a running local stack (<state dir>/local.json) they use it. The
state dir is `election dev --state-dir`'s: --state-dir, else ELECTION_STATE_DIR,
else .election (the same default as dev).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from election.data import LOCAL_PLAN, is_builtin_plan
from election.errors import ElectionError
from election.ops.names import Names
from election.plan import Plan, load_plan, parse_plan
from election.provision.clients import ClientProvider
from election.statedir import DEFAULT_STATE_DIR, read_endpoints, state_dir_from


@dataclass
class Target:
    """A plan plus the clients to reach it; `endpoints` is set only for the local stack."""

    plan: Plan
    provider: ClientProvider
    endpoints: Mapping[str, Any] | None = None
    state_dir: Path = DEFAULT_STATE_DIR      # where local files of this target go (the loadtest ledger)
    _queue_urls: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def names(self) -> Names:
        return Names(self.plan.name)

    @property
    def is_local(self) -> bool:
        return self.endpoints is not None

    def client(self, service: str, region: str) -> Any:
        return self.provider.client(service, region)

    def queue_url(self, region: str, name: str) -> str:
        """The URL of queue `name` in `region`, looked up once (names are deterministic)."""
        key = (region, name)
        with self._lock:
            if key in self._queue_urls:
                return self._queue_urls[key]
        sqs = self.client("sqs", region)
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            raise ElectionError(f"The queue {name} does not exist in {region}; "
                                f"is the plan '{self.plan.name}' deployed (election up)?") from None
        with self._lock:
            self._queue_urls[key] = url
        return url

    def api_urls(self) -> dict[str, str]:
        """Base URL of each region's HTTP API (local stack: from local.json; AWS: discovered)."""
        if self.endpoints is not None:
            return dict(self.endpoints.get("regions") or {})
        urls = {}
        for region in self.plan.region_names:
            client = self.client("apigatewayv2", region)
            kwargs: dict[str, Any] = {}
            while region not in urls:
                page = client.get_apis(**kwargs)
                for api in page.get("Items", []):
                    # The deployer names each region's HTTP API after the plan and tags it with the plan.
                    if api.get("Name") == self.plan.name and api.get("ApiEndpoint"):
                        urls[region] = api["ApiEndpoint"]
                        break
                if not page.get("NextToken"):
                    break
                kwargs = {"NextToken": page["NextToken"]}
        return urls

    def entry_url(self) -> str:
        """Where voters' requests go: the router (local) or the first region's API (AWS, no domain)."""
        if self.endpoints is not None and self.endpoints.get("router"):
            return str(self.endpoints["router"]).rstrip("/")
        if self.plan.domain:
            return f"https://api.{self.plan.domain}"
        urls = self.api_urls()
        if not urls:
            raise ElectionError(f"No HTTP API of plan '{self.plan.name}' was found; deploy it (election up) "
                                "or pass --url.")
        return urls.get(self.plan.primary_region, next(iter(urls.values()))).rstrip("/")


def read_local_endpoints(state_dir: Path | None = None) -> dict[str, Any] | None:
    """The running local stack's endpoints (None when no stack runs: no file, or its process is gone)."""
    return read_endpoints(state_dir_from(state_dir))


def _plan_from_endpoints(endpoints: Mapping[str, Any]) -> Plan:
    plan = endpoints.get("plan")
    if isinstance(plan, Mapping):
        return parse_plan(dict(plan), "<local stack plan>")
    if isinstance(plan, str) and plan:
        return load_plan(plan)
    return load_plan(LOCAL_PLAN)


def resolve_target(opts: Any, explicit_plan: bool | None = None, state_dir: str | Path | None = None) -> Target:
    """The target of an ops command.

    `explicit_plan` (default: opts.plan_explicit, set by the CLI when --plan or ELECTION_PLAN was given).
    No --plan and a local stack running (in `state_dir`, see state_dir_from): the stack. An
    explicit local plan with the same name as the running stack: the stack too. Otherwise
    the plan, on AWS (or --endpoint-url).
    """
    explicit = bool(getattr(opts, "plan_explicit", False)) if explicit_plan is None else explicit_plan
    state_dir = state_dir_from(state_dir)
    endpoint_url = getattr(opts, "endpoint_url", None)
    profile = getattr(opts, "profile", None)
    endpoints = read_local_endpoints(state_dir)
    plan = _plan_from_endpoints(endpoints) if endpoints and not explicit else load_plan(opts.plan_path)
    if endpoints and (not explicit or (plan.target == "local" and plan.name == _plan_from_endpoints(endpoints).name)):
        url = endpoint_url or endpoints.get("endpoint_url")
        # The local stack enforces IAM: ops commands act as its operator (keys in the owner-only local.json).
        operator = endpoints.get("operator") if not endpoint_url or endpoint_url == endpoints.get("endpoint_url") \
            else None
        provider = ClientProvider(endpoint_url=url, profile=profile, credentials=operator or None)
        return Target(plan=plan, provider=provider, endpoints=endpoints,
                      state_dir=state_dir)
    if plan.target == "local" and not endpoint_url:
        where = "" if state_dir == DEFAULT_STATE_DIR else f" in {state_dir}"
        what = "The built-in local plan" if is_builtin_plan(opts.plan_path) else opts.plan_path
        raise ElectionError(f"{what} is a local plan but no local stack is running{where}; start one with "
                            "`election dev` (or pass the --state-dir it uses, or an AWS plan with "
                            "--plan config/aws.yaml).")
    return Target(plan=plan, provider=ClientProvider(endpoint_url=endpoint_url, profile=profile), state_dir=state_dir)
