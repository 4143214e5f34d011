"""moto in-process (fast, for the runtime) with the same state served over HTTP (for everything outside).

moto's backends are process-global: `mock_aws` routes this process's boto3
calls straight to them (2-3x faster than HTTP, DESIGN §4), and a werkzeug
server thread in the same process answers the CLI, scripts and the AWS CLI
from the very same backends.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from election.errors import ElectionError
from election.local import moto_patches
from election.local.httpserve import serve_in_background, stop_serving
from election.provision.clients import ClientProvider

ACCOUNT_ID = "123456789012"


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (checked by binding it for a moment)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class MotoRuntime:
    """Starts `mock_aws` and a loopback moto HTTP server on `port` (0 = any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, patches: bool | tuple[str, ...] = True) -> None:
        self.host = host
        self.port = port
        self.patches = patches
        self._mock: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoRuntime:
        from moto import mock_aws
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)   # no line per request on the terminal
        if self.patches is True:
            moto_patches.apply()
        else:   # the functional patches always; the speed patches only when named (benchmarks compare)
            moto_patches.apply(moto_patches.FUNCTIONAL + tuple(self.patches or ()))
        busy = ElectionError(f"Cannot listen on {self.host}:{self.port} for the moto server (the port is in use); "
                             "choose another --port-base.")
        if self.port and not port_free(self.host, self.port):
            raise busy   # werkzeug would print its own advice and exit the process instead
        try:
            # Built here rather than in moto's ThreadedMotoServer thread, so a busy port raises at once.
            self._server = make_server(self.host, self.port, DomainDispatcherApplication(create_backend_app),
                                       threaded=True, request_handler=MotoRequestHandler)
        except (OSError, SystemExit):
            raise busy from None
        self.port = self._server.server_address[1]
        self._mock = mock_aws()
        self._mock.start()
        self._thread = serve_in_background(self._server, "moto-server")
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
        self._server, self._thread = None, None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


class InProcessProvider(ClientProvider):
    """A ClientProvider whose clients reach moto in-process (`mock_aws`), streams included.

    botocore 1.44 sends DynamoDB Streams calls to an account-specific host that
    moto does not recognise, so streams clients get the classic host explicitly.
    """

    def __init__(self, max_attempts: int = 3, credentials: Any = None) -> None:
        """`credentials` (election.local.iam.Credentials): who calls; with IAM enforced, "testing" is refused."""
        super().__init__(endpoint_url=None, max_attempts=max_attempts)
        import boto3

        keys = credentials.session_kwargs() if credentials is not None else {
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}
        self._session = boto3.Session(**keys)

    def _endpoint_for(self, service: str, region: str) -> str | None:
        return f"https://streams.dynamodb.{region}.amazonaws.com" if service == "dynamodbstreams" else None
