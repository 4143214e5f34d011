"""A region's event source mappings, played locally, derived from the function contract.

For each function of `contract.FUNCTIONS` with a queue trigger an `SqsPoller`, with a stream
trigger a `StreamPoller`, configured as the deployer configures the mappings on AWS
(election/provision/model), except for the batching windows, which are shorter here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from election.lambdas import contract
from election.local.backends import DirectQueue, DirectStreams
from election.local.gateway import Handler
from election.local.pollers import Poller, SqsPoller
from election.local.streampoller import StreamPoller, stream_handler_adapter
from election.plan import Plan

# Batching windows: fewer, larger batches (fewer calls) for a little lag. A non-mixing queue's is a
# little above AWS's 0; the stream's shorter than on AWS (contract.TALLY_BATCHING_WINDOW_S) so local
# results follow within a second, with batches as large (a transaction costs per state touched).
QUEUE_WINDOW_S = 0.05
STREAM_WINDOW_S = 0.5


@dataclass(frozen=True)
class RegionSources:
    """What the mappings of one region read from: the deployer's outputs and clients that play AWS."""

    region: str
    outputs: Mapping[str, Any]                      # the deployer's outputs for the region
    aws: Any                                        # a client provider acting as AWS itself
    as_role: Callable[[str, str], Any]              # (role, service) -> client acting as the function's role
    stream_arn: Callable[[str], str]                # table name -> its stream ARN (enabled if need be)


def region_pollers(plan: Plan, src: RegionSources, handlers: Mapping[str, Handler]) -> list[Poller]:
    """One poller per queue- or stream-triggered function of the contract that has a handler."""
    pollers: list[Poller] = []
    for role, queue in contract.triggered_by(contract.Queue):
        if role in handlers:
            pollers.append(_sqs_poller(plan, src, role, queue, handlers[role]))
    for role, stream in contract.triggered_by(contract.Stream):
        if role in handlers:
            pollers.append(_stream_poller(plan, src, role, stream, handlers[role]))
    return pollers


def _sqs_poller(plan: Plan, src: RegionSources, role: str, trigger: contract.Queue, handler: Handler) -> SqsPoller:
    url = src.outputs["queues"][trigger.queue]
    batch_size, window_s = plan.queue_batch(trigger.mixing)
    arn = src.aws.client("sqs", src.region).get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # The mapping receives and deletes through moto's backend (issue 14), its access checked on the
    # first receive and delete through the function role's own client (backends.DirectQueue).
    queue_client = DirectQueue(src.region, checked_by=src.as_role(role, "sqs"))
    return SqsPoller(f"{role}-{src.region}", queue_client, url, arn, src.region, handler, batch_size=batch_size,
                     function_name=src.outputs["functions"][role], timeout_s=float(plan.lambda_.timeout_s),
                     window_s=window_s if trigger.mixing else QUEUE_WINDOW_S)


def _stream_poller(plan: Plan, src: RegionSources, role: str, trigger: contract.Stream,
                   handler: Handler) -> StreamPoller:
    stream_arn = src.stream_arn(src.outputs["tables"][trigger.table])
    function = src.outputs["functions"][role]
    # The mapping reads the stream from moto's backend (issue 14: ~60x cheaper per record), its access
    # checked once per shard through the function role's own client (backends.DirectStreams).
    streams = DirectStreams(src.region, checked_by=src.as_role(role, "dynamodbstreams"))
    on_batch = stream_handler_adapter(handler, function, float(plan.lambda_.timeout_s), stream_arn,
                                      window_s=trigger.tumbling_window_s)
    return StreamPoller(f"{role}-{src.region}", streams, stream_arn, src.region, on_batch,
                        window_s=STREAM_WINDOW_S, batch_size=trigger.batch_size,
                        **_failure_limits(src, role, trigger))


def _failure_limits(src: RegionSources, role: str, trigger: contract.Stream) -> dict[str, Any]:
    """The mapping's retry/age limits and on-failure queue, as the deployer sets them on AWS."""
    url = (src.outputs["queues"] or {}).get(trigger.on_failure)
    if not url:
        return {}
    sqs = src.as_role(role, "sqs")   # Lambda sends to the on-failure destination as the function's role
    fn = src.aws.client("lambda", src.region).get_function(FunctionName=src.outputs["functions"][role])

    def on_failure(record: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    return {"max_retries": trigger.max_retries, "max_record_age_s": trigger.max_record_age_s,
            "on_failure": on_failure, "function_arn": fn["Configuration"]["FunctionArn"]}
