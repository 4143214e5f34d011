"""IAM enforced on the local stack, like AWS: every caller is someone, and is allowed only what its policy says.

moto can authenticate and authorise each request once its
`INITIAL_NO_AUTH_ACTION_COUNT` is reached (in-process with mock_aws and in the
server thread alike: both go through `BaseResponse.call_action`). As shipped it
checks the action only, and wrongly for operations whose IAM action differs from
the API name (TransactWriteItems is authorised per item as PutItem / UpdateItem /
ConditionCheckItem; SendMessageBatch as SendMessage) or whose Resource is a
pattern moto cannot read (`?` in secret ARNs). So `enforce()` replaces moto's
decision with election.provision.policyeval over the resources the request
names: tables (every table of a batch or transaction), streams, queues and
secrets, and "*" for actions AWS authorises only against "*" (ListStreams).
Where the resource cannot be named (KMS used by a service on the caller's
behalf, logs) only the action is checked. What this cannot check (conditions
that depend on AWS's request context, resource policies, timing) is listed in
the README ("Strict local AWS").

Identities:
- the operator: an IAM user allowed everything (the deployer and the ops commands);
- the local runtime's own parts that play AWS (pollers, replicator, router): an
  internal key that bypasses the check, as AWS's services act on their own authority;
- each function: the role the deployer created for it, assumed the way the Lambda
  service does (its trust policy must name lambda.amazonaws.com), whose STS
  credentials the handler gets in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
  AWS_SESSION_TOKEN, as on Lambda.
Any other caller (moto's default FOOBARKEY, "testing") is refused.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from election.provision.policyeval import ALLOW, Request, evaluate

log = logging.getLogger("election.local.iam")
ACCOUNT_ID = "123456789012"
OPERATOR_USER = "election-operator"
SERVICE_USER = "election-local-aws"   # what plays AWS's own services locally (bypasses the check)
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

# IAM actions AWS authorises only against Resource "*" (no resource-level permissions), among those we call.
STAR_ONLY = {"dynamodb:ListStreams", "sqs:ListQueues", "secretsmanager:ListSecrets", "kms:ListKeys",
             "kms:ListAliases", "cloudwatch:PutMetricData", "sts:GetCallerIdentity"}
# API operations authorised as another IAM action (SQS batch APIs: the SQS Developer Guide's action list).
ACTION_OF = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
             "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
# TransactWriteItems / TransactGetItems are authorised per item (DynamoDB Developer Guide, "Using IAM
# with DynamoDB transactions").
TRANSACT_ACTION = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                   "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        """As the Lambda runtime sets them for a function."""
        out = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            out["AWS_SESSION_TOKEN"] = self.session_token
        return out

    def session_kwargs(self) -> dict[str, str | None]:
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key,
                "aws_session_token": self.session_token}


# --- what a request asks for -----------------------------------------------------------------

def _body(req: Any) -> dict[str, Any]:
    raw = getattr(req, "_body", None) or b""
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _table_arn(region: str, account: str, name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def _secret_arn(region: str, account: str, secret_id: str) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    from moto.secretsmanager.models import secretsmanager_backends

    found = secretsmanager_backends[account][region].secrets.get(secret_id)
    if found is not None:
        return str(found.arn)
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}-000000"


def checks(service_action: str, body: Mapping[str, Any], region: str, account: str,
           moto_resource: str = "*") -> list[tuple[str, tuple[str, ...]]]:
    """The (IAM action, resources) pairs AWS authorises for one API call; () resources = action only."""
    action = ACTION_OF.get(service_action, service_action)
    if action in STAR_ONLY:
        return [(action, ("*",))]
    service, op = action.split(":", 1)
    if service == "dynamodb":
        if op in ("TransactWriteItems", "TransactGetItems"):
            out: list[tuple[str, tuple[str, ...]]] = []
            for item in body.get("TransactItems") or []:
                for kind, spec in item.items():
                    out.append((TRANSACT_ACTION[kind], (_table_arn(region, account, spec.get("TableName", "")),)))
            return list(dict.fromkeys(out))     # a tally transaction updates ~30 items of one table: one decision
        if op in ("BatchGetItem", "BatchWriteItem"):
            tables = tuple(_table_arn(region, account, t) for t in (body.get("RequestItems") or {}))
            return [(action, tables)]
        if "StreamArn" in body:
            return [(action, (str(body["StreamArn"]),))]
        if "ShardIterator" in body:   # moto's iterators start with the stream ARN (AWS's are opaque)
            return [(action, (str(body["ShardIterator"]).split("|", 1)[0],))]
        if "TableName" in body:
            return [(action, (_table_arn(region, account, str(body["TableName"])),))]
        return [(action, ())]
    if service == "sqs":
        return [(action, (moto_resource,) if moto_resource != "*" else ())]
    if service == "secretsmanager" and "SecretId" in body:
        return [(action, (_secret_arn(region, account, str(body["SecretId"])),))]
    return [(action, ())]


# --- the check moto runs on every request ----------------------------------------------------

_PARSED: dict[str, dict[str, Any]] = {}
# Decisions already taken, per (principal, its policy texts, action, resources). The policy texts are
# part of the key, so a changed policy (a test removing an action) is evaluated afresh. Bounded.
_DECIDED: dict[tuple[Any, ...], str] = {}
MAX_DECIDED = 10_000
_state = threading.Lock()
_service_keys: set[str] = set()
_denials: list[str] = []
MAX_DENIALS = 1000   # the most recent refusals kept for tests and diagnostics (a long `election dev` stays small)
_installed = False


def _texts(policies: list[Any]) -> tuple[str, ...] | None:
    """The policies' texts, part of a decision's key (None when one is not text: then nothing is cached)."""
    return tuple(policies) if all(isinstance(p, str) for p in policies) else None


def _documents(policies: list[Any]) -> list[dict[str, Any]]:
    """The policies parsed (each text once per process); asked for only when a decision is not remembered."""
    from moto.iam.access_control import IAMPolicy

    docs = []
    for policy in policies:
        parsed = _PARSED.get(policy) if isinstance(policy, str) else None
        if parsed is None:
            parsed = IAMPolicy(policy)._policy_json
            if isinstance(policy, str):
                _PARSED[policy] = parsed
        docs.append(parsed)
    return docs


def _decide(docs: Callable[[], list[dict[str, Any]]], texts: tuple[str, ...] | None, action: str,
            resources: tuple[str, ...], principal: str) -> str:
    """evaluate(), remembered per principal, policy texts, action and resources (the same inputs, the same answer);
    `docs` parses the policies, called only when the decision is not remembered."""
    if texts is None:
        return evaluate(docs(), Request(action, resources, principal))
    key = (principal, texts, action, resources)
    decision = _DECIDED.get(key)
    if decision is None:
        decision = evaluate(docs(), Request(action, resources, principal))
        if len(_DECIDED) >= MAX_DECIDED:
            _DECIDED.clear()
        _DECIDED[key] = decision
    return decision


def _principal_arn(access_key: Any) -> str:
    role = getattr(access_key, "_owner_role_name", None)
    if role:
        return f"arn:aws:iam::{access_key.account_id}:role/{role}"
    return str(access_key.arn)


def _check_action_permitted(self: Any, resource: str) -> None:
    """Replaces moto's IAMRequestBase.check_action_permitted: action AND resources, AWS's IAM action names."""
    pairs = checks(self._action, _body(self), self._region, self.account_id, resource)
    policies = list(self._access_key.collect_policies())
    docs = functools.cache(lambda: _documents(policies))      # parsed at most once, and only on a miss
    texts = _texts(policies)
    principal = _principal_arn(self._access_key)
    for action, resources in pairs:
        if _decide(docs, texts, action, resources, principal) != ALLOW:
            with _state:
                _denials.append(f"{principal} {action} {','.join(resources) or '*'}")
                del _denials[:-MAX_DENIALS]
            log.warning("IAM denied %s %s on %s (as on AWS: the policy does not allow it)", principal, action,
                        ", ".join(resources) or "*")
            self._action = action
            message = f"User: {self._access_key.arn} is not authorized to perform: {action}" + (
                f" on resource: {resources[0]}" if resources else "")
            if "X-Amz-Target" in self._headers:   # JSON protocols: AWS answers AccessDeniedException (400)
                from moto.core.exceptions import JsonRESTError

                raise JsonRESTError("AccessDeniedException", message)
            self._raise_access_denied()


def _install() -> None:
    """Patch moto once per process (the patch is inert while enforcement is off)."""
    global _installed
    with _state:
        if _installed:
            return
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.iam.access_control import IAMRequestBase

        original = ActionAuthenticatorMixin._authenticate_and_authorize_action

        def authenticate(self: Any, iam_request_cls: type, resource: str = "*") -> None:
            auth = self.headers.get("Authorization") or ""
            key = auth.partition("Credential=")[2].partition("/")[0]
            if key and key in _service_keys:
                return   # the local runtime playing an AWS service: acts on its own authority
            original(self, iam_request_cls, resource)

        ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate  # type: ignore[method-assign]
        IAMRequestBase.check_action_permitted = _check_action_permitted  # type: ignore[method-assign]
        # The caller's key must exist (and a role session's token match: moto checks both when it builds
        # the request), but the signature is not recomputed: moto's SigV4 canonicalisation differs from
        # botocore's for REST calls with query strings (Lambda ListEventSourceMappings fails), and
        # signatures are not what this enforcement is about. It also saves ~0.3 ms per call.
        IAMRequestBase.check_signature = lambda self: None  # type: ignore[method-assign]
        from moto.iam.access_control import IAMRequest

        invalid_key = IAMRequest._raise_invalid_access_key

        def refuse_unknown(self: IAMRequest, _: str) -> None:   # `_`: the reason, named as moto names it
            if "X-Amz-Target" in self._headers:   # JSON protocols: what DynamoDB, SQS... answer an unknown key
                from moto.core.exceptions import JsonRESTError

                raise JsonRESTError("UnrecognizedClientException", "The security token included in the request "
                                    "is invalid.")
            invalid_key(self, _)

        IAMRequest._raise_invalid_access_key = refuse_unknown  # type: ignore[method-assign]
        _installed = True


def denials() -> list[str]:
    """Every request refused so far in this process ("principal action resources"), oldest first."""
    with _state:
        return list(_denials)


@contextmanager
def enforced() -> Iterator[None]:
    """IAM checked on every request to moto (in-process and server thread) inside the block."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    _install()
    old = settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = old


# --- identities ----------------------------------------------------------------------------

def _iam_backend(account: str = ACCOUNT_ID) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def create_user(name: str, policy: Mapping[str, Any] = ADMIN_POLICY, account: str = ACCOUNT_ID) -> Credentials:
    """An IAM user with one inline policy and an access key (made in moto's backend: no caller needed yet)."""
    iam = _iam_backend(account)
    try:
        iam.get_user(name)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity
        iam.create_user(region_name="us-east-1", user_name=name, path="/", tags=[])
    iam.put_user_policy(name, "election-local", json.dumps(dict(policy)))
    key = iam.create_access_key(name)
    return Credentials(key.access_key_id, key.secret_access_key)


def operator_credentials(account: str = ACCOUNT_ID) -> Credentials:
    """The operator's identity: deploys and runs the ops commands (allowed everything, like an admin)."""
    return create_user(OPERATOR_USER, ADMIN_POLICY, account)


def service_credentials(account: str = ACCOUNT_ID) -> Credentials:
    """The identity of the runtime's parts that play AWS itself; the check lets it through."""
    creds = create_user(SERVICE_USER, ADMIN_POLICY, account)
    with _state:
        _service_keys.add(creds.access_key_id)
    return creds


def assume_function_role(role_arn: str, session: str, account: str = ACCOUNT_ID) -> Credentials:
    """STS credentials for a function's role, as the Lambda service gets them.

    Lambda may assume only a role whose trust policy allows lambda.amazonaws.com to: checked
    here (moto's own AssumeRole check does not handle service principals), then the role is
    assumed in moto's STS backend directly, as the service does on its own authority.
    """
    from moto.sts.models import sts_backends

    from election.provision.policyeval import Request as Req

    role = _iam_backend(account).get_role_by_arn(role_arn)
    trust = json.loads(role.assume_role_policy_document) if isinstance(role.assume_role_policy_document, str) \
        else role.assume_role_policy_document
    if evaluate([trust], Req("sts:AssumeRole", (), service=LAMBDA_PRINCIPAL)) != ALLOW:
        raise PermissionError(f"The role {role_arn} does not trust {LAMBDA_PRINCIPAL}; Lambda could not assume it.")
    assumed = sts_backends[account]["aws"].assume_role(region_name="us-east-1", role_session_name=session[:64],
                                                       role_arn=role_arn, policy="", duration=43200,
                                                       external_id="")
    return Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
