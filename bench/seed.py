"""seed-voters' loading rate into the local stack, next to raw BatchWriteItem against the same moto server.

Starts the local stack (config/local.yaml, real deployer), then:
  - seed: `seed_voters` over HTTP as the CLI runs it (HMAC per voter, home-region
    batches, checkpoint, retry of unprocessed items), 8 writers: voters/s while loading;
  - raw: the same number of prebuilt 25-item BatchWriteItem calls from 8 threads into a
    scratch table with the same key schema on the same moto server, nothing else.
Both go over HTTP to the same moto process; the stack's replicator also copies the
seeded roll to the other region meanwhile (that is part of "loading the local stack").
To separate the loader's own cost from the stack's, the same pair is also run against a
bare moto server holding only the plan's tables, queues and secrets (election.ops.sandbox).

    python3 bench/seed.py [--voters 20000] [--workers 8]

With --import: `seed-voters --import` (HMAC per voter, gzip DynamoDB JSON parts, parallel S3 PUTs) and
moto's ImportTable of those parts, next to BatchWriteItem seeding of the same voters, on one bare moto
server; voters/s of each, and the list-price cost per million voters and for a 137 M roll
(election/ops/prices.py), for the regions of config/aws.yaml:

    python3 bench/seed.py --import [--voters 1000000] [--batch-voters N] [--workers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3
import botocore.config

from election.local.stack import LocalStack
from election.ops.seed import seed_voters
from election.ops.target import Target
from election.provision.clients import ClientProvider


def raw_rate(endpoint: str, n: int, workers: int) -> float:
    """Voters/s of bare BatchWriteItem calls (25 items each) from `workers` threads."""
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing",
                       config=botocore.config.Config(max_pool_connections=32, retries={"max_attempts": 8}))
    table = f"bench-raw-{secrets.token_hex(4)}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "vk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "vk", "AttributeType": "S"}])
    batches = [[{"PutRequest": {"Item": {"vk": {"S": secrets.token_hex(32)}, "state": {"S": "CA"}}}}
                for _ in range(25)] for _ in range(n // 25)]
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda b: ddb.batch_write_item(RequestItems={table: b}), batches))
    took = time.monotonic() - started
    ddb.delete_table(TableName=table)
    return len(batches) * 25 / took


def bare_moto(n: int, workers: int, tmp: Path) -> tuple[float, float]:
    """(seed voters/s, raw voters/s) against a plain moto server: no stack, no replication."""
    from moto.server import ThreadedMotoServer

    from election.ops.sandbox import create_data_resources
    from election.plan import load_plan

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        target = Target(load_plan(ROOT / "config/local.yaml"), ClientProvider(endpoint_url=endpoint))
        create_data_resources(target)
        rep = seed_voters(target, tmp / "bare-voters.csv", n, workers=workers)
        return rep.rate, raw_rate(endpoint, n, workers)
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--voters", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--import", dest="by_import", action="store_true", help="seed-voters --import vs BatchWriteItem")
    ap.add_argument("--batch-voters", type=int, default=None, help="BatchWriteItem sample size (--import; default all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.by_import:
        from seed_import import compare

        compare(args.voters, args.batch_voters or args.voters, args.workers, args.json)
        return
    with tempfile.TemporaryDirectory() as tmp:
        with LocalStack(ROOT / "config/local.yaml", state_dir=Path(tmp) / "state") as stack:
            endpoint = stack.endpoints["endpoint_url"]
            target = Target(plan=stack.plan, provider=ClientProvider(endpoint_url=endpoint),
                            endpoints=stack.endpoints)
            rep = seed_voters(target, Path(tmp) / "voters.csv", args.voters, workers=args.workers)
            stack.wait_idle(120)      # let replication of the roll finish before the raw run
            raw = raw_rate(endpoint, args.voters, args.workers)
        bare_seed, bare_raw = bare_moto(args.voters, args.workers, Path(tmp))
    result = {"voters": args.voters, "workers": args.workers, "seed_voters_per_s": round(rep.rate, 1),
              "seed_retries": rep.retries, "raw_batchwrite_voters_per_s": round(raw, 1),
              "ratio_seed_to_raw": round(rep.rate / raw, 3), "bare_moto_seed_voters_per_s": round(bare_seed, 1),
              "bare_moto_raw_voters_per_s": round(bare_raw, 1), "bare_ratio": round(bare_seed / bare_raw, 3),
              "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"seed-voters into the local stack: {rep.rate:,.0f} voters/s ({args.voters:,} voters, "
              f"{args.workers} writers, {rep.retries} re-sends)")
        print(f"raw BatchWriteItem, same moto:    {raw:,.0f} voters/s")
        print(f"ratio seed/raw: {rep.rate / raw:.2f}")
        print(f"bare moto (no stack, no replication): seed {bare_seed:,.0f} vs raw {bare_raw:,.0f} voters/s, "
              f"ratio {bare_seed / bare_raw:.2f}   (1-min load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
