"""A minimal copy of a plan's data resources (tables, queues, secrets), for tests and benchmarks.

It mirrors the contract the deployer implements (names, keys, redrive, one
copy per region, same peppers everywhere) so the ops code can be exercised on
moto without the whole deployer. It is not a deployer: no IAM, no Lambdas.
"""

from __future__ import annotations

import json
import secrets

from election.lambdas.contract import BALLOTS_KEY, RESULTS_KEY, VOTERS_KEY
from election.ops.target import Target


def create_data_resources(target: Target, max_receives: int = 5, voters_table: bool = True) -> dict[str, str]:
    """Create tables, queues, peppers and the queue key in every plan region; returns the secrets (hex) it set.

    `voters_table=False` leaves the roll out, as `up` does for a plan whose roll is imported (roll.import).
    """
    names = target.names
    peppers = {names.voter_pepper: secrets.token_hex(32), names.ballot_pepper: secrets.token_hex(32),
               names.queue_key: secrets.token_hex(32)}
    for region in target.plan.region_names:
        ddb = target.client("dynamodb", region)
        for table, key, stream in ((names.voters, VOTERS_KEY, False), (names.ballots, BALLOTS_KEY, True),
                                   (names.results, RESULTS_KEY, False)):
            if table == names.voters and not voters_table:
                continue
            kwargs = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}} if stream else {}
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], **kwargs)
        sqs = target.client("sqs", region)
        for dlq, main in names.dead_letter_queues.items():
            dlq_url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sqs.create_queue(QueueName=main, Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})})
        sqs.create_queue(QueueName=names.tally_failures)
        sm = target.client("secretsmanager", region)
        for name, value in peppers.items():
            sm.create_secret(Name=name, SecretString=value)
    return peppers
