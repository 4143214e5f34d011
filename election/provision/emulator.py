"""What AWS does that an emulator (moto 5.2.5) does not, played on the client side when one answers.

Only for an emulator (ClientProvider.emulated): on AWS itself nothing here runs.

- Global tables: AWS answers UpdateTable with ReplicaUpdates Create by creating
  the replica in the other region and listing it in the answer's Replicas
  (CREATING). moto accepts the request, creates nothing and lists nothing, so
  a deployer that awaits the replica where AWS shows it would wait for ever.
  Here the replica's table is created in its region (same key schema and
  stream, the key given for the replica, deletion protection as the source)
  and the answer lists it, CREATING, as AWS would. What an emulator replica
  cannot do is replicate: the local runtime's replicator plays that part.
- ImportTable: AWS encrypts the imported table with the SSESpecification of the request; moto 5.2.5
  drops it (and ignores SSESpecification in UpdateTable), so the table would differ from the plan on
  every `up`. When the import is seen COMPLETED, the key of the request is set on moto's table (only
  with moto in this process, as in tests; the local stack's moto server has the same fix as a patch,
  election/local/moto_patches.py dynamodb_import_sse).
"""

from __future__ import annotations

import sys
from typing import Any

PARAMS = "election_params"   # where the request's parameters are kept for the answer's handler


def attach(client: Any, provider: Any) -> None:
    """Hook one client (called by ClientProvider for each client it makes against an emulator)."""
    if client.meta.service_model.service_name != "dynamodb":
        return
    client.meta.events.register("before-parameter-build.dynamodb.UpdateTable", _keep_params)
    client.meta.events.register("after-call.dynamodb.UpdateTable",
                                lambda **kw: _create_replicas(provider, **kw))
    client.meta.events.register("before-parameter-build.dynamodb.ImportTable", _keep_params)
    client.meta.events.register("after-call.dynamodb.ImportTable", _remember_import)
    client.meta.events.register("after-call.dynamodb.DescribeImport", _encrypt_import)


_IMPORT_SSE: dict[str, dict[str, Any]] = {}   # ImportArn -> the SSESpecification asked for


def _remember_import(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    sse = (context.get(PARAMS) or {}).get("TableCreationParameters", {}).get("SSESpecification")
    arn = parsed.get("ImportTableDescription", {}).get("ImportArn")
    if sse and arn:
        _IMPORT_SSE[arn] = dict(sse)


def _encrypt_import(parsed: dict[str, Any], **_: Any) -> None:
    desc = parsed.get("ImportTableDescription") or {}
    sse = _IMPORT_SSE.get(desc.get("ImportArn", ""))
    if desc.get("ImportStatus") != "COMPLETED" or not sse or "moto" not in sys.modules:
        return
    from moto.dynamodb.models import dynamodb_backends

    _, _, _, region, account, rest = desc["TableArn"].split(":", 5)
    table = dynamodb_backends[account][region].get_table(rest.split("/")[1])
    table.sse_specification = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS"),
                               "KMSMasterKeyId": sse.get("KMSMasterKeyId")}
    _IMPORT_SSE.pop(desc["ImportArn"], None)


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[PARAMS] = dict(params)


def _create_replicas(provider: Any, http_response: Any, parsed: dict[str, Any], context: dict[str, Any],
                     **_: Any) -> None:
    params = context.get(PARAMS) or {}
    creates = [u["Create"] for u in params.get("ReplicaUpdates") or [] if "Create" in u]
    if not creates or http_response.status_code >= 300:
        return
    desc = parsed.setdefault("TableDescription", {})
    listed = desc.setdefault("Replicas", [])
    for create in creates:
        region = create["RegionName"]
        if any(r.get("RegionName") == region for r in listed):
            continue
        ddb = provider.raw_client("dynamodb", region)
        # The replica takes the source's capacity mode and, provisioned, its write (and, unless the
        # request overrides it, read) capacity: a global table's replicas share write capacity settings.
        mode = (desc.get("BillingModeSummary") or {}).get("BillingMode") or "PAY_PER_REQUEST"
        billing: dict[str, Any] = {"BillingMode": mode}
        if mode == "PROVISIONED":
            pt = desc.get("ProvisionedThroughput") or {}
            billing["ProvisionedThroughput"] = {"ReadCapacityUnits": int(pt.get("ReadCapacityUnits") or 1),
                                                "WriteCapacityUnits": int(pt.get("WriteCapacityUnits") or 1)}
        try:
            ddb.create_table(
                TableName=desc["TableName"], AttributeDefinitions=desc["AttributeDefinitions"],
                KeySchema=desc["KeySchema"], **billing,
                StreamSpecification=desc.get("StreamSpecification") or {"StreamEnabled": False},
                SSESpecification={"Enabled": True, "SSEType": "KMS",
                                  "KMSMasterKeyId": create.get("KMSMasterKeyId") or ""},
                DeletionProtectionEnabled=bool(desc.get("DeletionProtectionEnabled")))
        except ddb.exceptions.ResourceInUseException:
            pass   # a replica asked for twice (an interrupted `up`): AWS keeps the one it has
        listed.append({"RegionName": region, "ReplicaStatus": "CREATING"})
