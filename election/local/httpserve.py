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
- `Transfer-Encoding` is refused (411, connection closed) before anything
  else: a chunked body read as "no body" would leave its chunk bytes to be
  parsed as a second request (request smuggling / desync). Bodies need a
  Content-Length, as API Gateway's answers and our clients always send one.
- Every error http.server itself answers (bad request line, unknown method,
  missing file) is `{"error","message"}` JSON, never HTML; an unknown method
  (TRACE included) is 405, and nothing a client sends is answered 5xx.
- The listen backlog is `BACKLOG` (socketserver's default of 5 reset bursts
  of concurrent clients: 131 of 320 requests in 64 x 5 concurrent POSTs).
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from election.errors import ElectionError

BACKLOG = 1024                  # pending connections the kernel queues (capped by net.core.somaxconn)
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
    request_queue_size = BACKLOG

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


ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
               411: "length_required", 413: "body_too_large", 414: "uri_too_long", 431: "headers_too_large"}
ERROR_MESSAGES = {
    400: "The request is not valid HTTP/1.1.", 404: "There is nothing at this path.",
    405: "This method is not allowed here.", 414: "The request line is too long.",
    431: "The request headers are too large.",
}


class HttpGuards(BaseHTTPRequestHandler):
    """Mixin for every local server: JSON errors, no 5xx for bad requests, no Transfer-Encoding."""

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.headers.get("Transfer-Encoding") is not None:
            self.refuse(BodyRefused(411, "length_required",
                                    "Transfer-Encoding is not accepted; send the body with a Content-Length."))
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors as {"error","message"}; its 501 (unknown method) and 505 become 405 and 400."""
        code = {501: 405, 505: 400}.get(int(code), int(code))
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"   # answer garbage with a status line and headers, not bare 0.9 text
        if code >= 500:
            code = 400
        self.refuse(BodyRefused(code, ERROR_CODES.get(code, "bad_request"),
                                ERROR_MESSAGES.get(code, "The request cannot be served.")))

    def refuse(self, refused: BodyRefused) -> None:
        """Answer and close: the unread rest of the request must not be taken for the next request."""
        self.close_connection = True
        headers = [("content-type", "application/json"), ("connection", "close")]
        if refused.status == 405:
            headers.append(("allow", ", ".join(m[3:] for m in dir(type(self)) if m.startswith("do_"))))
        self.answer(refused.status, headers, json.dumps({"error": refused.code, "message": refused.message}).encode())
        self.discard_unread()

    def discard_unread(self, limit: int = 64 * 1024, timeout: float = 0.5) -> None:
        """Half-close, then read what the client still sends: closing with unread bytes makes the kernel
        send a reset, which can destroy the answer before the client has read it."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(timeout)
            left = limit
            while left > 0:
                chunk = self.connection.recv(min(left, 16384))
                if not chunk:
                    break
                left -= len(chunk)
        except (OSError, ValueError):
            pass

    def answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Write the response; a client that already hung up is dropped quietly."""
        try:
            self.send_response(status)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except HANGUPS:
            self.close_connection = True


class BoundedRequest(HttpGuards):
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

    def log_message(self, format: str, *args: Any) -> None:
        pass
