"""Every failure a user can cause becomes one readable sentence (election.errors.explain)."""

from __future__ import annotations

import botocore.exceptions as bexc
import botocore.parsers

from election.errors import NOT_AWS, ElectionError, explain


def client_error(code: str, message: str, op: str = "Scan") -> bexc.ClientError:
    return bexc.ClientError({"Error": {"Code": code, "Message": message}}, op)


def test_access_denied_names_the_action() -> None:
    text = explain(client_error("AccessDeniedException", "no dynamodb:Scan for you"))
    assert text is not None and text.startswith("AWS denied Scan:") and "\n" not in text


def test_an_endpoint_that_is_not_aws_is_said_plainly() -> None:
    html = "<!DOCTYPE HTML>\n<html lang='en'>\n<body>Unsupported method</body>\n</html>"
    assert explain(client_error("501", html)) == NOT_AWS
    parser_error = botocore.parsers.ResponseParserError("Unable to parse response, invalid XML received")
    assert explain(parser_error) == NOT_AWS


def test_long_aws_messages_are_cut_to_one_line() -> None:
    text = explain(client_error("ValidationException", "first line " + "x" * 500 + "\nsecond line"))
    assert text is not None and "\n" not in text and "second line" not in text and len(text) < 260


def test_known_failures_are_sentences_and_bugs_are_not() -> None:
    assert explain(ElectionError("The plan is wrong.")) == "The plan is wrong."
    assert "credentials" in (explain(bexc.NoCredentialsError()) or "")
    assert "Cannot reach" in (explain(bexc.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) or "")
    assert "run the same command again" in (explain(KeyboardInterrupt()) or "")
    assert explain(ZeroDivisionError()) is None
