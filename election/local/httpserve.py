"""What the local HTTP servers share: binding with a clear error, a background thread, bounded bodies, hard stops.

- A request that announces a body over `MAX_BODY` is refused at once from
  its Content-Length (413, as API Gateway does), before anything is read;
  a body that trickles in slower than `READ_TIMEOUT_S` per read gets 408.
  Otherwise one `curl -H 'Content-Length: 999999999'` holds a thread forever.
- A client that hangs up before its answer is written is not an error: no
  socketserver traceback on the operator's terminal.
- `stop()` closes the connections that are open, not just the listening
  socket: a browser's keep-alive connection to a region taken "down" must
  fail like the region's endpoint would, not keep getting answers.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from election.errors import ElectionError

MAX_BODY = 10 * 1024            # the handlers take at most 1 KB; nothing legitimate comes near this
READ_TIMEOUT_S = 10.0           # per socket read: a slow body, or an idle keep-alive connection
HANGUPS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


ServerT = TypeVar("ServerT", bound=ThreadingHTTPServer)


def listen(server_class: type[ServerT], host: str, port: int, handler: Any, what: str) -> ServerT:
    """Bind host:port for `what`; a taken port is one sentence pointing at --port-base, not a traceback."""
    try:
        server = server_class((host, port), handler)
    except OSError as exc:
        raise ElectionError(f"Cannot listen on {host}:{port} for {what} ({exc.strerror}); "
                            "choose another --port-base.") from None
    server.daemon_threads = True
    return server


def serve_in_background(server: socketserver.BaseServer, name: str) -> threading.Thread:
    """Serve on a daemon thread that notices shutdown() within 0.1 s."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer | None, thread: threading.Thread | None) -> None:
    """Stop accepting, free the port, then give the serving thread up to 5 s to end."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(5)


class BodyRefused(Exception):
    """The request's body cannot be taken; carries the answer to send."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server that tracks its open connections so `stop()` can cut them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (*HANGUPS, TimeoutError)):
            return   # the client went away or stalled: nothing to report
        super().handle_error(request, client_address)

    def open_connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def close_connections(self) -> None:
        """Cut every open connection (their handler threads then see EOF and end)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        """Stop accepting, close the listening socket, then cut the open connections."""
        self.shutdown()
        self.server_close()
        self.close_connections()


class BoundedRequest(BaseHTTPRequestHandler):
    """A request handler that reads bounded bodies with a timeout and ignores clients that hang up."""

    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S
    max_body = MAX_BODY

    def read_body(self) -> bytes:
        """The request body, or BodyRefused (too large, bad length, too slow)."""
        raw = self.headers.get("Content-Length")
        if raw is None or raw.strip() == "":
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise BodyRefused(400, "bad_content_length", "Content-Length is not a number.") from None
        if length < 0:
            raise BodyRefused(400, "bad_content_length", "Content-Length is negative.")
        if length > self.max_body:
            raise BodyRefused(413, "body_too_large", f"The request body is over {self.max_body} bytes.")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise BodyRefused(408, "request_timeout", "The request body did not arrive in time.") from None
        if len(body) < length:
            raise BodyRefused(400, "body_incomplete", "The connection closed before the whole body arrived.")
        return body

    def refuse(self, refused: BodyRefused) -> None:
        """Answer a refused body and close: the unread rest of it must not be taken for the next request."""
        self.close_connection = True
        self.answer(refused.status, [("content-type", "application/json"), ("connection", "close")],
                    json.dumps({"error": refused.code, "message": refused.message}).encode())

    def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Write the response; a client that already hung up is dropped quietly."""
        try:
            self.send_response(status)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except HANGUPS:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass
