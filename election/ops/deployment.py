"""The deployer of an ops target, with the endpoint checks that make a wrong --endpoint-url one sentence.

`plan`, `up`, `down` and `status` find their target the way every ops command does (ops.target:
with no --plan and a running `election dev`, its plan and moto endpoint); then, against an
explicit endpoint, they check in a second that it listens and that it speaks AWS, rather than
failing after every retry of every thread.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from botocore.parsers import ResponseParserError

from election.data import SITE_DIR
from election.errors import ElectionError
from election.ops.target import Target, resolve_target


def target_and_deployer(opts: Any, fleet: bool = False, removing: bool = False) -> tuple[Target, Any]:
    """The target of `opts` and the deployer of its plan, its endpoint checked.

    `fleet`: the deployer of the plan's load fleet instead (ops/fleet.py); `removing`: for its `down`.
    """
    from election.provision.engine import Deployer  # boto3-heavy: only for the commands that deploy

    target = resolve_target(opts, state_dir=getattr(opts, "state_dir", None))
    endpoint = target.provider.endpoint_url
    if endpoint:
        check_reachable(endpoint)
    if fleet:
        from election.ops.fleet import fleet_deployer

        deployer = fleet_deployer(target, removing=removing)
    else:
        deployer = Deployer(target.plan, target.provider, site_dir=SITE_DIR)
    if endpoint:
        check_speaks_aws(deployer, endpoint)
    return target, deployer


def check_speaks_aws(deployer: Any, url: str) -> None:
    """One STS call (the deployer needs the account anyway): a web server that is not AWS fails here, clearly."""
    try:
        _ = deployer.ctx.account_id
    except ResponseParserError:
        raise ElectionError(f"The endpoint {url} answers, but not like AWS; is --endpoint-url the moto server's "
                            "URL?") from None


def check_reachable(url: str) -> None:
    """Fail in a second, not after every retry of every thread, when --endpoint-url is not listening."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "localhost", port), timeout=3).close()
    except OSError:
        raise ElectionError(f"Cannot reach the AWS endpoint {url}; is it running and is the URL right?") from None


def health_api_urls(target: Target, region_names: tuple[str, ...] | list[str],
                    summary: dict[str, Any]) -> dict[str, str | None]:
    """Which URL `status` asks for each region's health: the local stack's own regional APIs; none on an
    emulator (its API hostnames resolve nowhere); else the deployed API's."""
    if target.endpoints:
        return {r: target.endpoints.get("regions", {}).get(r) for r in region_names}
    if target.provider.endpoint_url:
        return {r: None for r in region_names}
    return {r: summary["regions"][r]["api_url"] for r in region_names}
