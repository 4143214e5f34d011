"""The local HTTP layer: the stdlib threading server (httpserve.LoopbackServer) against aiohttp.

Same trivial JSON handler, same client (N threads, one keep-alive connection each,
POSTing a small body), requests per second for each server and their ratio, plus
a burst of simultaneous connections (each server's listen backlog). Run it twice
and compare ratios from one run: the machine is shared.

    PYTHONPATH=. python3 bench/local_http.py [--requests 4000] [--clients 64] [--burst 500]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from election.local.httpserve import BoundedRequest, LoopbackServer, listen, serve_in_background

BODY = b'{"voter_id":"ABCDE-FGHJK-LMNPQ-RSTUV"}'
ANSWER = b'{"state":"NY","voted":false}'


class Stdlib(BoundedRequest):
    def do_POST(self) -> None:
        self.read_body()
        self.answer(200, [("content-type", "application/json")], ANSWER)


def start_stdlib() -> tuple[int, object]:
    server = listen(LoopbackServer, "127.0.0.1", 0, Stdlib, "bench")
    serve_in_background(server, "bench-stdlib")
    return server.server_address[1], server.stop


def start_aiohttp() -> tuple[int, object]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def ballot(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=ANSWER, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/ballot", ballot)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        holder["port"] = site._server.sockets[0].getsockname()[1]
        holder["runner"] = runner
        ready.set()

    threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.run_forever()), daemon=True).start()
    ready.wait(10)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)   # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)

    return int(holder["port"]), stop   # type: ignore[arg-type]


def rate(port: int, requests: int, clients: int) -> float:
    per = requests // clients

    def worker(_: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(per):
            conn.request("POST", "/ballot", BODY, {"Content-Type": "application/json"})
            conn.getresponse().read()
        conn.close()
        return per

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(worker, range(clients)))
    return done / (time.perf_counter() - started)


def burst(port: int, n: int) -> tuple[int, int]:
    """(answered, failed) of n connections opened at once, each sending one request."""
    def one(_: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"POST /ballot HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (len(BODY), BODY))
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
    with ThreadPoolExecutor(n) as pool:
        ok = sum(pool.map(one, range(n)))
    return ok, n - ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--burst", type=int, default=500)
    args = ap.parse_args()
    figures = {}
    for name, start in (("stdlib threading", start_stdlib), ("aiohttp", start_aiohttp)):
        port, stop = start()
        try:
            rate(port, 200, 8)   # warm up
            figures[name] = rate(port, args.requests, args.clients)
            ok, failed = burst(port, args.burst)
        finally:
            stop()   # type: ignore[operator]
        print(f"{name:17s} {figures[name]:8.0f} req/s ({args.clients} keep-alive clients); "
              f"burst of {args.burst} connections: {ok} answered, {failed} failed")
    print(f"ratio aiohttp / stdlib: {figures['aiohttp'] / figures['stdlib threading']:.2f}")


if __name__ == "__main__":
    main()
