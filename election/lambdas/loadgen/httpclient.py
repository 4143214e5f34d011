"""A minimal HTTP/1.1 keep-alive client on asyncio streams: POST one JSON body, read one answer.

Standard library only (the fleet's Lambda function has no aiohttp). One connection per sender,
opened on first use and again after any failure; `Connection: close` from the server is honoured.
Bodies are read by Content-Length or chunked transfer coding, which is what API Gateway and the
local gateway answer with.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


class Endpoint:
    """Where requests go, parsed once: scheme, host, port, path, and the TLS context for https."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        default = self.port == (443 if self.tls else 80)
        self.host_header = self.host if default else f"{self.host}:{self.port}"

    def head(self, method: str, length: int) -> bytes:
        return (f"{method} {self.path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode("latin-1")


class Connection:
    """One keep-alive connection to an Endpoint; post() answers (0, b"") on any failure or timeout."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint, self.timeout = endpoint, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.fresh = False          # opened and not yet used: a failure on it is not a stale keep-alive

    async def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._exchange("POST", body), self.timeout)
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await self.close()
            return 0, b""

    async def connect(self) -> None:
        """Open the connection now (before the clock starts: DNS and TLS out of the measured time)."""
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(self._open(), self.timeout)

    async def _open(self) -> None:
        ep = self.endpoint
        self.reader, self.writer = await asyncio.open_connection(
            ep.host, ep.port, ssl=ep.tls, server_hostname=ep.host if ep.tls else None, limit=MAX_HEADER_BYTES)
        self.fresh = True

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()

    async def _exchange(self, method: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            await self._open()
        try:
            status, headers = await self._request(method, body)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            # A kept-alive connection the server had already closed (idle timeout): as aiohttp does, send
            # again once on a new one. Never for a fresh connection, and never after part of an answer.
            partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
            if self.fresh or partial:
                raise
            await self.close()
            await self._open()
            status, headers = await self._request(method, body)
        assert self.reader is not None
        data = await self._body(self.reader, headers)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def _request(self, method: str, body: bytes) -> tuple[int, dict[str, str]]:
        assert self.reader is not None and self.writer is not None
        fresh, self.fresh = self.fresh, False
        self.writer.write(self.endpoint.head(method, len(body)) + body)
        try:
            await self.writer.drain()
            return await self._head(self.reader)
        except BaseException:
            self.fresh = fresh
            raise

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {lines[0][:40]!r}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(rest[:3]), headers

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")     # no trailers expected: the final CRLF
                    return bytes(out)
                out += await reader.readexactly(size + 2)
                del out[-2:]
        length = headers.get("content-length")
        if length is None:
            raise ValueError("an answer without Content-Length or chunked coding")
        return await reader.readexactly(int(length))
