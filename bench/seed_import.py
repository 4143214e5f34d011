"""`bench/seed.py --import`: seed-voters --import + ImportTable next to BatchWriteItem seeding, and their cost.

One bare moto server (election.ops.sandbox: tables, queues and peppers only) in this process:
  - parts: seed_import over HTTP as the CLI runs it (HMAC per voter, gzip DynamoDB JSON parts of
    100,000 voters, parallel S3 PUTs, checkpoint, listing, manifest);
  - import: moto's ImportTable of those parts into one region's new table, until COMPLETED (moto reads
    S3 and puts every item in a thread of this process; AWS publishes no import rate, so only the
    client's part is a figure for AWS);
  - batch: seed_voters (BatchWriteItem, 8 writers, retries, checkpoint) of the same voters into a
    plan of another name on the same server (a sample of them with --batch-voters).
Cost per million voters at list prices (election/ops/prices.py) for the regions of config/aws.yaml:
  - BatchWriteItem: one write request unit per voter (items are ~80 bytes, under 1 KB) in every region
    (replicated writes cost the same on-demand);
  - import: $0.15 per GB of uncompressed source in the importing region; every other region is added as
    a replica afterwards, which AWS bills "as if it were a table restore, based on the GB size of the
    table" (AWS Prescriptive Guidance, global tables FAQ) at RESTORE_GB; plus the parts' S3 PUTs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from election.lambdas.contract import VOTERS_KEY
from election.ops import prices
from election.ops.rollimport import PART_VOTERS, item_line, seed_import
from election.ops.sandbox import create_data_resources
from election.ops.seed import seed_voters
from election.ops.target import Target
from election.ops.voterfile import generate_voters, write_credentials
from election.plan import load_plan
from election.plan_roll import RollImport
from election.provision.clients import ClientProvider

ROOT = Path(__file__).resolve().parents[1]
RESTORE_GB = 0.15          # DynamoDB restore from backup, us-east-1, per GB (on-demand pricing page)
ITEM_OVERHEAD = 100        # bytes DynamoDB adds per item when it sizes a table (developer guide, item sizes)
NATIONAL = 137_000_000     # ballots cast in 2016, the roll the issue sizes for


def _import_on_moto(target: Target, roll: RollImport, region: str) -> tuple[float, int]:
    """(seconds, items) of moto's ImportTable of the parts into a new table in `region`."""
    ddb = target.client("dynamodb", region)
    started = time.monotonic()
    arn = ddb.import_table(
        S3BucketSource={"S3Bucket": roll.bucket, "S3KeyPrefix": roll.parts_prefix},
        InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
        TableCreationParameters={"TableName": target.names.voters, "BillingMode": "PAY_PER_REQUEST",
                                 "AttributeDefinitions": [{"AttributeName": VOTERS_KEY, "AttributeType": "S"}],
                                 "KeySchema": [{"AttributeName": VOTERS_KEY, "KeyType": "HASH"}]},
    )["ImportTableDescription"]["ImportArn"]
    while True:
        desc = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        if desc["ImportStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.2)
    if desc["ImportStatus"] != "COMPLETED":
        raise SystemExit(f"moto's import ended {desc['ImportStatus']}: {desc.get('FailureMessage')}")
    return time.monotonic() - started, int(desc["ImportedItemCount"])


def costs(voters: int, regions: int, parts: int) -> dict[str, float]:
    """USD of loading `voters` into a `regions`-region global table, each way, at list prices."""
    line = len(item_line("0" * 64, "CA"))                        # bytes of one import line, uncompressed
    item = len(VOTERS_KEY) + 64 + len("state") + 2 + ITEM_OVERHEAD  # bytes of one stored item
    batch = voters * regions * prices.per_request("dynamodb_wru")
    imported = (voters * line / prices.GB * prices.DYNAMODB_IMPORT_GB
                + (regions - 1) * voters * item / prices.GB * RESTORE_GB
                + parts * prices.per_request("s3_put"))
    return {"batch_usd": batch, "import_usd": imported}


def compare(n: int, batch_n: int, workers: int, as_json: bool) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        base = load_plan(ROOT / "config/local.yaml")
        roll = RollImport("bench-roll", "national/")
        target = Target(dataclasses.replace(base, roll=roll), ClientProvider(endpoint_url=endpoint))
        create_data_resources(target, voters_table=False)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "voters.csv"
            voters = generate_voters(n)
            write_credentials(out, voters)
            rep = seed_import(target, out, voters, workers=workers)
            import_s, imported = _import_on_moto(target, roll, base.primary_region)
            batch_target = Target(dataclasses.replace(base, name="bench-batch"), ClientProvider(endpoint_url=endpoint))
            create_data_resources(batch_target)
            batch = seed_voters(batch_target, Path(tmp) / "batch.csv", None, workers=workers,
                                replication_timeout=0, voters=voters[:batch_n])
    finally:
        server.stop()
    regions = len(load_plan(ROOT / "config/aws.yaml").region_names)
    per_m = costs(1_000_000, regions, -(-1_000_000 // PART_VOTERS))
    national = costs(NATIONAL, regions, -(-NATIONAL // PART_VOTERS))
    result: dict[str, Any] = {
        "voters": n, "batch_voters": batch_n, "workers": workers, "parts": rep.parts,
        "parts_voters_per_s": round(rep.rate, 1), "parts_seconds": round(rep.seconds, 1),
        "gzip_mb": round(rep.gzip_bytes / 1e6, 1), "source_mb": round(rep.bytes / 1e6, 1),
        "moto_import_voters_per_s": round(imported / import_s, 1), "moto_import_seconds": round(import_s, 1),
        "batchwrite_voters_per_s": round(batch.rate, 1), "batchwrite_seconds": round(batch.seconds, 1),
        "batchwrite_retries": batch.retries, "aws_regions": regions,
        "usd_per_million": {k: round(v, 4) for k, v in per_m.items()},
        "usd_137m": {k: round(v, 2) for k, v in national.items()},
        "hours_137m_client": {"parts": round(NATIONAL / rep.rate / 3600, 2),
                              "batchwrite": round(NATIONAL / batch.rate / 3600, 2)},
        "load_average": os.getloadavg()[0],
    }
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(f"seed-voters --import: {n:,} voters in {rep.parts} parts, {rep.seconds:.1f} s, {rep.rate:,.0f} voters/s "
          f"({rep.bytes / 1e6:,.1f} MB source, {rep.gzip_bytes / 1e6:,.1f} MB gzip)")
    print(f"moto ImportTable:     {imported:,} voters in {import_s:.1f} s, {imported / import_s:,.0f} voters/s "
          "(moto's, not AWS's: AWS publishes no rate)")
    print(f"BatchWriteItem seed:  {batch_n:,} voters in {batch.seconds:.1f} s, {batch.rate:,.0f} voters/s "
          f"({batch.retries} re-sends)")
    print(f"cost per million voters, {regions} regions: BatchWriteItem ${per_m['batch_usd']:.3f}, "
          f"import ${per_m['import_usd']:.3f} (x{per_m['batch_usd'] / per_m['import_usd']:.0f} less)")
    print(f"137 M voters: BatchWriteItem ${national['batch_usd']:,.2f} and {NATIONAL / batch.rate / 3600:,.1f} h of "
          f"writing at this rate; import ${national['import_usd']:,.2f} and {NATIONAL / rep.rate / 3600:,.1f} h "
          f"of parts at this rate, then AWS's import   (1-min load average {os.getloadavg()[0]:.1f})")
