"""Errors a user can cause, turned into one sentence each (no traceback unless --debug).

botocore is imported only when an error is explained: the pure packages (plan, provision/model) raise
ElectionError and must import without it.
"""

from __future__ import annotations

NOT_AWS = "The endpoint answered, but not like AWS; is --endpoint-url right?"


class ElectionError(Exception):
    """An error whose message is already one clear sentence for the operator."""


def explain(exc: BaseException) -> str | None:
    """One sentence for a known failure, or None when it is a bug worth a traceback."""
    if isinstance(exc, ElectionError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted; nothing is lost: run the same command again to resume where it stopped."
    return _aws_sentence(exc)


def _aws_sentence(exc: BaseException) -> str | None:
    """One sentence for a failure botocore raised (credentials, endpoint, region, an AWS error answer)."""
    import botocore.exceptions as bexc
    import botocore.parsers

    if isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        return ("No AWS credentials were found; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "or pass --profile.")
    if isinstance(exc, bexc.ProfileNotFound):
        return f"The AWS profile '{exc.kwargs.get('profile')}' is not in your AWS config; check --profile."
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return NOT_AWS
    if isinstance(exc, bexc.EndpointConnectionError):
        return f"Cannot reach the AWS endpoint {exc.kwargs.get('endpoint_url')}; is it running and is the URL right?"
    if isinstance(exc, bexc.NoRegionError):
        return "No AWS region is configured; set AWS_DEFAULT_REGION or put the regions in the plan."
    if isinstance(exc, bexc.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        op = getattr(exc, "operation_name", "an operation")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"):
            return f"AWS denied {op}: your credentials lack the permission for it ({_short(err.get('Message', code))})."
        if code in ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"):
            return (f"AWS rejected the credentials on {op} ({code}); they are wrong, expired, "
                    "or the region is not enabled for this account.")
        if code in ("OptInRequired", "AuthFailure"):
            return f"The region is not enabled for this account ({op}: {code}); enable it or remove it from the plan."
        message = err.get("Message", "")
        if message.lstrip().startswith("<"):
            return NOT_AWS
        return f"AWS answered {code} to {op}: {_short(message)}".rstrip(": ") + "."
    if isinstance(exc, bexc.BotoCoreError):
        return f"AWS client error: {exc}."
    return None


def _short(message: str, limit: int = 200) -> str:
    """First line of an AWS message, cut to a readable length (some endpoints answer whole pages)."""
    line = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
