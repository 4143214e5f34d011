"""What enforcing IAM locally costs per AWS call (election/local/iam.py), in-process moto.

The vote pipeline's own calls (BatchGetItem, GetItem, SendMessage, PutItem) made as a
function's role, timed in alternating rounds with enforcement on and off in one
process, so a shared machine's load affects both sides alike. Prints ms per call and
the ratio.

    python bench/iam_overhead.py [--calls 300] [--rounds 4]

Measured 2026-12-01 on the shared 2-core machine (load average ~20-28, so absolute times are
~10x slower than an idle machine; the ratio is the figure), 200 votes x 4 rounds, twice:
  enforced 30.09 ms/call vs 26.61 -> x1.13 (+3.5 ms);  enforced 36.24 vs 32.02 -> x1.13 (+4.2 ms).
An idle-machine prototype measured 3.7 vs 3.0 ms per GetItem (x1.25 with the signature check,
which the local IAM no longer recomputes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
from moto import mock_aws

from election.local import iam, moto_patches

POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"],
     "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/voters",
                  "arn:aws:dynamodb:us-east-1:123456789012:table/ballots"]},
    {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["arn:aws:sqs:us-east-1:123456789012:votes"]}]}
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def setup() -> tuple[Any, Any, str]:
    op = boto3.Session(**iam.operator_credentials().session_kwargs())
    ddb = op.client("dynamodb", region_name="us-east-1")
    for table in ("voters", "ballots"):
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    url = op.client("sqs", region_name="us-east-1").create_queue(QueueName="votes")["QueueUrl"]
    client = op.client("iam", region_name="us-east-1")
    arn = client.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    client.put_role_policy(RoleName="fn", PolicyName="p", PolicyDocument=json.dumps(POLICY))
    role = boto3.Session(**iam.assume_function_role(arn, "fn").session_kwargs())
    return role.client("dynamodb", region_name="us-east-1"), role.client("sqs", region_name="us-east-1"), url


def vote_calls(ddb: Any, sqs: Any, url: str, i: int) -> None:
    """One vote's calls: roll and ballot lookup, polls read, send, ballot write."""
    ddb.batch_get_item(RequestItems={"voters": {"Keys": [{"k": {"S": f"v{i}"}}]},
                                     "ballots": {"Keys": [{"k": {"S": f"b{i}"}}]}})
    ddb.get_item(TableName="voters", Key={"k": {"S": "polls"}})
    sqs.send_message(QueueUrl=url, MessageBody="x")
    ddb.put_item(TableName="ballots", Item={"k": {"S": f"b{i}"}})


def timed(n: int, fn: Callable[[int], None]) -> float:
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t) / (n * 4) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="votes (4 calls each) per round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    moto_patches.apply()   # as the local stack runs moto (without them SendMessage is O(queue length))
    with mock_aws():
        ddb, sqs, url = setup()
        on: list[float] = []
        off: list[float] = []
        for r in range(args.rounds):
            for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
                ctx = iam.enforced() if mode == "on" else contextlib.nullcontext()
                with ctx:
                    ms = timed(args.calls, lambda i: vote_calls(ddb, sqs, url, i))
                (on if mode == "on" else off).append(ms)
    print(f"IAM enforced: {statistics.median(on):.2f} ms/call (rounds {', '.join(f'{x:.2f}' for x in on)})")
    print(f"not enforced: {statistics.median(off):.2f} ms/call (rounds {', '.join(f'{x:.2f}' for x in off)})")
    print(f"cost of enforcement: x{statistics.median(on) / statistics.median(off):.2f} per call "
          f"(+{statistics.median(on) - statistics.median(off):.2f} ms)")


if __name__ == "__main__":
    main()
