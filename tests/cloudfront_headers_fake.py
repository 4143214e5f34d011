"""CloudFront response headers policies for tests on moto, which has none (moto 5.2.5 answers 404).

Installed for the whole test session from conftest.py through botocore's built-in event handlers:
`before-parameter-build` keeps the call's parameters, `before-call` answers from memory (no HTTP),
so every client any test creates, inside or outside mock_aws, sees one consistent store. Parameters
are still validated against the service model by botocore before this runs.
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

from botocore.awsrequest import AWSResponse

OPS = ("CreateResponseHeadersPolicy", "GetResponseHeadersPolicy", "UpdateResponseHeadersPolicy",
       "DeleteResponseHeadersPolicy", "ListResponseHeadersPolicies")


class FakeHeadersPolicies:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}   # id -> {"config", "etag"}
        self.lock = threading.Lock()

    def keep_params(self, params: Any, model: Any, context: Any, **_: Any) -> None:
        if model.name in OPS:
            context["fake_headers_params"] = copy.deepcopy(params)

    def answer(self, model: Any, context: Any, **_: Any) -> Any:
        if model.name not in OPS:
            return None
        params = context.get("fake_headers_params", {})
        with self.lock:
            status, parsed = getattr(self, model.name)(params)
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = status
        return AWSResponse("https://cloudfront.amazonaws.com/", status, {}, None), parsed

    @staticmethod
    def _error(code: str) -> tuple[int, dict[str, Any]]:
        return (404 if code.startswith("NoSuch") else 412), {"Error": {"Code": code, "Message": code}}

    def _policy(self, pid: str) -> dict[str, Any]:
        return {"Id": pid, "LastModifiedTime": "2026-01-01T00:00:00Z",
                "ResponseHeadersPolicyConfig": copy.deepcopy(self.items[pid]["config"])}

    def CreateResponseHeadersPolicy(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pid, etag = uuid.uuid4().hex, uuid.uuid4().hex
        self.items[pid] = {"config": p["ResponseHeadersPolicyConfig"], "etag": etag}
        return 201, {"ResponseHeadersPolicy": self._policy(pid), "ETag": etag}

    def GetResponseHeadersPolicy(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if p["Id"] not in self.items:
            return self._error("NoSuchResponseHeadersPolicy")
        return 200, {"ResponseHeadersPolicy": self._policy(p["Id"]), "ETag": self.items[p["Id"]]["etag"]}

    def UpdateResponseHeadersPolicy(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        item = self.items.get(p["Id"])
        if item is None:
            return self._error("NoSuchResponseHeadersPolicy")
        if p.get("IfMatch") != item["etag"]:
            return self._error("PreconditionFailed")
        item.update(config=p["ResponseHeadersPolicyConfig"], etag=uuid.uuid4().hex)
        return 200, {"ResponseHeadersPolicy": self._policy(p["Id"]), "ETag": item["etag"]}

    def DeleteResponseHeadersPolicy(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        item = self.items.get(p["Id"])
        if item is None:
            return self._error("NoSuchResponseHeadersPolicy")
        if p.get("IfMatch") != item["etag"]:
            return self._error("PreconditionFailed")
        del self.items[p["Id"]]
        return 204, {}

    def ListResponseHeadersPolicies(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        items = [{"Type": "custom", "ResponseHeadersPolicy": self._policy(pid)} for pid in self.items]
        return 200, {"ResponseHeadersPolicyList": {"MaxItems": 100, "Quantity": len(items), "Items": items}}


FAKE = FakeHeadersPolicies()


def install() -> None:
    """Register the fake for every botocore session created from now on."""
    import botocore.handlers

    for event, handler in (("before-parameter-build.cloudfront", FAKE.keep_params),
                           ("before-call.cloudfront", FAKE.answer)):
        if (event, handler) not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append((event, handler))
