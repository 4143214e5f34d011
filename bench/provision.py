"""Benchmark the deployer: first `up`, a no-op `up` and `down` of config/aws.yaml against a moto server.

Prints AWS calls (read / mutating) and wall time for each phase. Run:
    python3 bench/provision.py [--plan config/aws.yaml]
"""

from __future__ import annotations

import argparse
import logging
import socket
import time
from pathlib import Path

from moto.server import ThreadedMotoServer
from rich.console import Console
from rich.table import Table

from election.plan import load_plan
from election.provision.clients import ClientProvider
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
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        provider = ClientProvider(endpoint_url=f"http://127.0.0.1:{port}")
        deployer = Deployer(load_plan(args.plan), provider, sleep=lambda s: None, site_dir=ROOT / "website",
                            edge=not args.core_only)
        rows = []
        for label, work in (("first up", deployer.apply), ("no-op up", deployer.apply),
                            ("down", lambda: deployer.destroy(destroy_data=True))):
            provider.reset_counts()
            start = time.perf_counter()
            work()
            elapsed = time.perf_counter() - start
            reads, mutating = provider.counts()
            rows.append((label, reads, mutating, elapsed))
    finally:
        server.stop()
    table = Table(title=f"Provisioning {Path(args.plan).name}: {len(deployer.resources)} resources, "
                        f"{len(deployer.plan.region_names)} regions (moto server over HTTP)")
    for col in ("phase", "read calls", "mutating calls", "wall time (s)"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for label, reads, mutating, elapsed in rows:
        table.add_row(label, str(reads), str(mutating), f"{elapsed:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
