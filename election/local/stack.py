"""The whole election on one machine: moto, the real deployer and handlers, and the pieces AWS would run.

`LocalStack` starts, in this order: moto (in-process, also served over HTTP),
the real deployer against it, then per region the API gateway and the
pollers (votes -> process, hand-off -> forward, ballots stream -> tally), the
replicator (global tables), the router (Route 53), the voting page and a
control endpoint; then it writes local.json. `stop()` undoes it all.

Handlers are built with the environment the deployer set on each function
(read back with GetFunctionConfiguration), minus AWS_ENDPOINT_URL: they run in
this process, where moto answers them in-process 2-3x faster than over HTTP.

IAM is enforced (election/local/iam.py): the deployer and `stack.provider` (what
ops commands use) act as the operator; each handler, and the event source mapping
feeding it, with STS credentials of its function's role; the replicator, router
and the runtime's own reads with an internal identity that plays AWS itself.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from election.data import LOCAL_PLAN, SITE_DIR
from election.errors import ElectionError
from election.lambdas import contract
from election.lambdas.common import parse_origins
from election.local import iam, moto_patches
from election.local.control import TOKEN_FIELD as CONTROL_TOKEN_FIELD
from election.local.control import ControlServer
from election.local.gateway import Gateway, Handler
from election.local.lambdalogs import LambdaLogs
from election.local.mappings import RegionSources, region_pollers
from election.local.motoserver import InProcessProvider, MotoRuntime
from election.local.pollers import Poller
from election.local.replicator import Replicator
from election.local.router import Router
from election.local.static import StaticSite, site_config
from election.local.streampoller import StreamPoller
from election.plan import Plan, load_plan
from election.statedir import read_endpoints, remove_endpoints, write_endpoints

log = logging.getLogger("election.local")
HTTP_ROLES = tuple(role for role, _ in contract.triggered_by(contract.Http))
Deploy = Callable[[Plan, Any, Path, Any], Mapping[str, Any]]
HandlerFactory = Callable[[str, Mapping[str, str]], Handler]


def real_deploy(plan: Plan, provider: Any, site_dir: Path, progress: Any) -> Mapping[str, Any]:
    """Provision the plan with the project's deployer; returns its outputs."""
    try:
        from election.provision import Deployer  # type: ignore[attr-defined]
    except ImportError:
        try:
            from election.provision.engine import Deployer  # type: ignore[no-redef]
        except ImportError:
            raise ElectionError("The deployer (election.provision.Deployer) is not available in this checkout; "
                                "the local stack needs it to provision the plan.") from None
    deployer = Deployer(plan, provider, sleep=lambda s: time.sleep(min(s, 0.05)), site_dir=site_dir)
    return deployer.apply(progress)


def real_handler(role: str, env: Mapping[str, str]) -> Handler:
    """The handler the Lambda runtime would run: election.lambdas.<role>.make_handler(env)."""
    try:
        module = importlib.import_module(f"election.lambdas.{role}")
    except ImportError as exc:
        raise ElectionError(f"The handler election/lambdas/{role}.py cannot be imported ({exc}).") from None
    return module.make_handler(env)


@dataclass
class RegionRuntime:
    """What plays AWS for one region: its gateway and its pollers."""

    name: str
    gateway: Gateway
    pollers: list[Poller] = field(default_factory=list)
    queues: dict[str, str] = field(default_factory=dict)
    up: bool = True


class LocalStack:
    """The local election. Use as a context manager, or start()/stop()."""

    def __init__(self, plan_path: str | Path = LOCAL_PLAN, port_base: int = 0,
                 state_dir: Path = Path(".election"), *, deploy: Deploy = real_deploy,
                 handler_factory: HandlerFactory = real_handler, site_dir: Path = SITE_DIR,
                 health_interval_s: float = 2.0, progress: Any = None,
                 on_step: Callable[[str], None] | None = None, patches: bool | tuple[str, ...] = True) -> None:
        self.plan_path = str(plan_path)
        self.plan: Plan = load_plan(plan_path)
        if self.plan.target != "local":
            raise ElectionError(f"{plan_path}: target is '{self.plan.target}'; the local stack runs only plans "
                                "with target: local (try config/local.yaml, a copy of the built-in one).")
        self.port_base = port_base
        self.state_dir = Path(state_dir)
        self.deploy = deploy
        self.handler_factory = handler_factory
        self.site_dir = Path(site_dir)
        self.health_interval_s = health_interval_s
        self.progress = progress
        self.on_step = on_step or (lambda _msg: None)
        self.patches = patches
        self.moto: MotoRuntime | None = None
        self.provider: Any = None        # the operator: deployer and ops commands
        self.aws: Any = None             # the runtime's parts that play AWS itself
        self.operator: iam.Credentials | None = None
        self.role_credentials: dict[tuple[str, str], iam.Credentials] = {}   # (region, role) -> STS keys
        self._enforcement: Any = None
        self.outputs: Mapping[str, Any] = {}
        self.regions: dict[str, RegionRuntime] = {}
        self.replicator: Replicator | None = None
        self.router: Router | None = None
        self.site: StaticSite | None = None
        self.control: ControlServer | None = None
        self._origins: dict[str, tuple[str, ...]] = {}
        self.endpoints: dict[str, Any] = {}
        self.handlers: dict[str, dict[str, Handler]] = {}
        self.logs = LambdaLogs(self.state_dir / "lambda.log")
        self._lock = threading.Lock()
        self._started = False

    # --- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> LocalStack:  # noqa: PYI034 - start() returns self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _port(self, offset: int) -> int:
        return self.port_base + offset if self.port_base else 0

    def start(self) -> LocalStack:
        running = read_endpoints(self.state_dir)
        if running is not None:
            raise ElectionError(f"A local stack is already running (pid {running.get('pid')}, API "
                                f"{running.get('router')}); stop it with Ctrl-C first, or use another state "
                                "directory.")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.on_step("starting moto")
        self.logs.start()
        self.moto = MotoRuntime(port=self._port(0), patches=self.patches).start()
        self.operator = iam.operator_credentials()
        self.provider = InProcessProvider(credentials=self.operator)
        self.aws = InProcessProvider(credentials=iam.service_credentials())
        self._enforcement = iam.enforced()
        self._enforcement.__enter__()
        self.on_step("provisioning the plan with the deployer")
        self.outputs = self.deploy(self.plan, self.provider, self.site_dir, self.progress)
        self.on_step("starting the regions")
        table_streams: dict[str, dict[str, tuple[str, str]]] = {}
        for i, region in enumerate(self.plan.region_names):
            out = self.outputs["regions"][region]
            handlers = self._build_handlers(region, out["functions"])
            self.handlers[region] = handlers
            gateway = Gateway(region, {r: handlers[r] for r in HTTP_ROLES if r in handlers}, port=self._port(10 + i),
                              allowed_origins=self._origins.get(region, ()), timeout_s=self.plan.lambda_.timeout_s)
            runtime = RegionRuntime(region, gateway, queues=dict(out["queues"]))
            sources = RegionSources(region, out, self.aws, partial(self._as_role, region),
                                    partial(self._stream_arn, region))
            runtime.pollers = region_pollers(self.plan, sources, handlers)
            self.regions[region] = runtime
            for logical, table in out["tables"].items():
                table_streams.setdefault(logical, {})[region] = (table, self._stream_arn(region, table))
        self.replicator = Replicator(self.aws, table_streams)
        self.replicator.start()
        for runtime in self.regions.values():
            runtime.gateway.start()
            for p in runtime.pollers:
                p.start()
        self.router = Router({r: rt.gateway.url for r, rt in self.regions.items()}, port=self._port(1),
                             interval_s=self.health_interval_s,
                             local={r: rt.gateway for r, rt in self.regions.items()})
        self.router.start()
        region_urls = {r: rt.gateway.url for r, rt in self.regions.items()}
        self.site = StaticSite(self.site_dir, site_config(self.plan, self.router.url, region_urls), port=self._port(2))
        self.site.start()
        self.control = ControlServer(lambda r: self._drill(self.region_down, r), lambda r: self._drill(self.region_up, r),
                                     self.health, port=self._port(3))
        self.control.start()
        self.endpoints = {"endpoint_url": self.moto.url, "router": self.router.url, "regions": region_urls,
                          "website": self.site.url, "plan": os.path.abspath(self.plan_path),
                          "control": self.control.url, CONTROL_TOKEN_FIELD: self.control.token,
                          "pid": os.getpid(), "started_at": int(time.time()),
                          "operator": self.operator.session_kwargs()}
        write_endpoints(self.endpoints, self.state_dir)
        self._started = True
        self.on_step("ready")

    def stop(self) -> None:
        """Stop everything that was started, newest first; safe to call twice."""
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.site is not None:
            self.site.stop()
            self.site = None
        if self.router is not None:
            self.router.stop()
            self.router = None
        everyone = [p for rt in self.regions.values() for p in rt.pollers]
        everyone += self.replicator.pollers if self.replicator is not None else []
        for p in everyone:
            p.signal_stop()
        for runtime in self.regions.values():
            runtime.gateway.stop()
        for p in everyone:
            p.stop()
        if self.replicator is not None:
            self.replicator = None
        for region in self.regions:
            moto_patches.DOWN_REGIONS.discard(region)
        self.regions = {}
        if self._enforcement is not None:
            self._enforcement.__exit__(None, None, None)
            self._enforcement = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self.logs.stop()
        if self._started:
            remove_endpoints(self.state_dir, os.getpid())
            self._started = False

    # --- wiring ----------------------------------------------------------------------

    def _build_handlers(self, region: str, functions: Mapping[str, str]) -> dict[str, Handler]:
        lam = self.aws.client("lambda", region)
        handlers = {}
        for role, function_name in functions.items():
            config = lam.get_function_configuration(FunctionName=function_name)
            env = dict((config.get("Environment") or {}).get("Variables") or {})
            env.pop(contract.ENV_ENDPOINT_URL, None)   # in-process: moto's mock answers without HTTP
            creds = iam.assume_function_role(config["Role"], function_name)
            self.role_credentials[(region, role)] = creds
            env.update(creds.env())   # as the Lambda runtime does: the handler acts as its role
            if role in HTTP_ROLES:   # the gateway's CORS check uses the HTTP handlers' list (the API's on AWS)
                self._origins[region] = parse_origins(env.get(contract.ENV_ALLOWED_ORIGINS, ""))
            handlers[role] = self.handler_factory(role, env)
        return handlers

    def _as_role(self, region: str, role: str, service: str) -> Any:
        """A client acting as a function's role: an event source mapping reads its source with it, as on AWS."""
        return InProcessProvider(credentials=self.role_credentials[(region, role)]).client(service, region)

    def _stream_arn(self, region: str, table: str) -> str:
        ddb = self.aws.client("dynamodb", region)
        desc = ddb.describe_table(TableName=table)["Table"]
        arn = desc.get("LatestStreamArn")
        if not arn or not (desc.get("StreamSpecification") or {}).get("StreamEnabled"):
            # Global tables need a stream of new and old images; the local runtime replicates through it.
            ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True,
                                                                   "StreamViewType": "NEW_AND_OLD_IMAGES"})
            arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        return arn

    # --- drills and health -----------------------------------------------------------

    def _region(self, region: str) -> RegionRuntime:
        if region not in self.regions:
            raise ElectionError(f"'{region}' is not a region of the plan {self.plan.name} "
                                f"({', '.join(self.plan.region_names)}).")
        return self.regions[region]

    def region_down(self, region: str) -> None:
        """Take a region's API and pollers down and make its queues refuse messages (an outage drill)."""
        with self._lock:
            runtime = self._region(region)
            moto_patches.DOWN_REGIONS.add(region)
            runtime.gateway.stop()
            for p in runtime.pollers:
                p.signal_stop()
            for p in runtime.pollers:
                p.stop()
            runtime.up = False

    def region_up(self, region: str) -> None:
        """Bring a region back: queues accept again, the API listens on its old port, pollers resume."""
        with self._lock:
            runtime = self._region(region)
            moto_patches.DOWN_REGIONS.discard(region)
            runtime.gateway.start()
            for p in runtime.pollers:
                p.start()
            runtime.up = True

    def _drill(self, action: Callable[[str], None], region: str) -> None:
        """Run a drill for the control endpoint, then let the router's health checks notice it."""
        action(region)
        if self.router is not None:
            # the router flips a region after failure_threshold consecutive checks, as Route 53 does
            self.router.wait_checked(timeout=(self.router.failure_threshold + 2) * (self.health_interval_s + 1) + 3)

    def health(self) -> dict[str, Any]:
        """Per region: up or down (drill), the router's last health check, the API URL."""
        router = self.router.status() if self.router else {}
        return {r: {"up": rt.up, "healthy": router.get(r, {}).get("healthy", False),
                    "detail": router.get(r, {}).get("detail", "router not running"), "api": rt.gateway.url,
                    "requests": rt.gateway.requests}
                for r, rt in self.regions.items()}

    # --- idleness --------------------------------------------------------------------

    def _all_pollers(self) -> list[Poller]:
        found = [p for rt in self.regions.values() if rt.up for p in rt.pollers]
        if self.replicator is not None:
            found += self.replicator.pollers
        return found

    def queue_depth(self, include_handoff: bool = True) -> int:
        """Messages waiting or in flight in the up regions' work queues."""
        total = 0
        for region, rt in self.regions.items():
            if not rt.up:
                continue
            sqs = self.aws.client("sqs", region)
            for which in ("votes", "handoff") if include_handoff else ("votes",):
                attrs = sqs.get_queue_attributes(QueueUrl=rt.queues[which], AttributeNames=[
                    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                total += int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
        return total

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until the work queues are empty and every poller (tally, replication) has caught up.

        While a region is down, hand-off queues are not waited for: their
        votes cannot move until the region is back.
        """
        deadline = time.monotonic() + timeout
        last_total = -1
        while time.monotonic() < deadline:
            pollers = self._all_pollers()
            # Stream readers prove they caught up with two empty reads; SQS pollers long-poll, so for
            # them "not busy" plus an empty queue (in-flight messages count) is the proof.
            streams = [p for p in pollers if isinstance(p, StreamPoller)]
            marks = {id(p): p.empty_polls for p in streams}
            while time.monotonic() < deadline:
                if all(p.empty_polls > marks[id(p)] + 1 or not p.running for p in streams) and \
                        not any(p.busy for p in pollers):
                    break
                time.sleep(0.02)
            else:
                return False
            all_up = all(rt.up for rt in self.regions.values())
            total = sum(p.processed for p in pollers)
            if self.queue_depth(include_handoff=all_up) == 0 and total == last_total:
                return True
            last_total = total
        return False
