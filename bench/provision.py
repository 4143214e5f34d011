"""Benchmark the deployer: first `up`, a no-op `up`, a changing `up` and `down` of config/aws.yaml on a moto server.

Each `up` is what `election up` does: the plan (diff) it shows, then applying it. Prints AWS calls (read /
mutating), read calls per resource, wall time, and the operations that read most on the no-op `up`. Run:
    python3 bench/provision.py [--plan config/aws.yaml]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import time
from collections import Counter
from pathlib import Path

from moto.server import ThreadedMotoServer
from rich.console import Console
from rich.table import Table

from election.plan import load_plan
from election.provision.clients import ClientProvider, is_read
from election.provision.engine import Deployer

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default=str(ROOT / "config" / "aws.yaml"))
    parser.add_argument("--core-only", action="store_true", help="leave out the edge (API, alarms, site, DNS)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    # moto has no CloudFront response headers policies: the tests' client-side stand-in answers those few
    # calls (they are then not counted).
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from cloudfront_headers_fake import install

    install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        provider = ClientProvider(endpoint_url=f"http://127.0.0.1:{port}")
        plan = load_plan(args.plan)
        deployer = Deployer(plan, provider, sleep=lambda s: None, site_dir=ROOT / "website", edge=not args.core_only)
        # The changing `up`: every function's memory and every log group's retention change (two fields of
        # 2 x 8 resources), as an operator resizing the functions would.
        changed = dataclasses.replace(plan, lambda_=dataclasses.replace(plan.lambda_, memory_mb=plan.lambda_.memory_mb * 2),
                                      log_retention_days=731)
        changer = Deployer(changed, provider, sleep=lambda s: None, site_dir=ROOT / "website", edge=not args.core_only)

        def up(d: Deployer) -> None:
            d.diff()    # the plan `election up` shows ...
            d.apply()   # ... and then applies

        rows = []
        for label, work in (("first up", lambda: up(deployer)), ("no-op up", lambda: up(deployer)),
                            ("changing up", lambda: up(changer)),
                            ("down", lambda: changer.destroy(destroy_data=True))):
            provider.reset_counts()
            start = time.perf_counter()
            work()
            elapsed = time.perf_counter() - start
            reads, mutating = provider.counts()
            rows.append((label, reads, mutating, elapsed))
            if label == "no-op up":
                top = Counter({f"{s}:{op}": n for (s, op), n in provider.calls.items() if is_read(op)}).most_common(8)
    finally:
        server.stop()
    table = Table(title=f"Provisioning {Path(args.plan).name}: {len(deployer.resources)} resources, "
                        f"{len(deployer.plan.region_names)} regions (moto server over HTTP)")
    for col in ("phase", "read calls", "reads per resource", "mutating calls", "wall time (s)"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for label, reads, mutating, elapsed in rows:
        table.add_row(label, str(reads), f"{reads / len(deployer.resources):.2f}", str(mutating), f"{elapsed:.2f}")
    Console().print(table)
    Console().print("Most reads on the no-op up: " + ", ".join(f"{op} {n}" for op, n in top))


if __name__ == "__main__":
    main()
