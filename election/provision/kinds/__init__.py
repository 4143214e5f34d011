"""One module per AWS resource kind; REGISTRY maps a kind name to its implementation.

Registration order is dependency order: resources that left the plan (and
everything on `down`) are deleted walking this table backwards, so a kind is
registered after every kind it may depend on.
"""

from __future__ import annotations

from election.provision.kinds.base import Kind
from election.provision.kinds.dynamodb import Table
from election.provision.kinds.esm import EventSourceMapping
from election.provision.kinds.iam import IamRole
from election.provision.kinds.kms import KmsKey
from election.provision.kinds.lambda_ import LambdaFunction
from election.provision.kinds.logs import LogGroup
from election.provision.kinds.secrets import Secret
from election.provision.kinds.sqs import Queue

REGISTRY: dict[str, Kind] = {
    "kms_key": KmsKey(),
    "secret": Secret(),
    "table": Table(),
    "queue": Queue(),
    "log_group": LogGroup(),
    "iam_role": IamRole(),
    "lambda_function": LambdaFunction(),
    "event_source_mapping": EventSourceMapping(),
    # --- edge kinds (added by the edge engineer) ---
}
