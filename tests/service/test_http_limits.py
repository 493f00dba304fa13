"""Slow and greedy clients over real sockets: the header deadline, the connection cap, the body
deadline, and /health's next epoch only to the minute without the secret."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from flywheel.service.http_app import build_http_app
from flywheel.service.servers import BackgroundServer, bind_socket
from tests.core.fakes import EpochWorld
from tests.service.harness import SECRET, auth, make_service, serving


async def hello(_: Request) -> Response:
    return PlainTextResponse("hello")


@contextlib.asynccontextmanager
async def server(app: Any = None, **limits: Any) -> AsyncIterator[int]:
    app = app or Starlette(routes=[Route("/", hello)])
    background = BackgroundServer(app, bind_socket("127.0.0.1", 0, "HTTP_PORT"), **limits)
    background.start()
    for _ in range(1000):  # uvicorn says when it listens only through this flag
        if background.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield background.port
    finally:
        await background.stop()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (EOF), waiting at most 10 s."""
    try:
        return await asyncio.wait_for(reader.read(1024), 10) == b""
    except (TimeoutError, ConnectionResetError):
        return False


async def test_a_connection_that_sends_no_headers_is_closed() -> None:
    async with server(header_timeout=0.2) as port:
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]
        trickle_reader, trickle = await asyncio.open_connection("127.0.0.1", port)
        trickle.write(b"GET / HTTP/1.1\r\n")  # and never the rest
        for reader, _ in silent:
            assert await closed_by_server(reader)
        assert await closed_by_server(trickle_reader)
        # A prompt client is served as before, and kept alive between requests.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"hello"), 10)
            assert head.startswith(b"HTTP/1.1 200")
        writer.close()
        for _, w in [*silent, (trickle_reader, trickle)]:
            w.close()


async def test_connections_above_the_cap_are_closed_at_once() -> None:
    async with server(header_timeout=60, max_connections=5) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        extra_reader, extra = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_by_server(extra_reader)
        # The five within the cap are still served.
        reader, writer = held[0]
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readuntil(b"hello"), 10)).startswith(b"HTTP/1.1 200")
        for _, w in [*held, (extra_reader, extra)]:
            w.close()


async def test_health_shows_the_next_epoch_to_the_minute_without_the_secret(
    world: EpochWorld,
) -> None:
    service = make_service(world, enable_scheduler=True, interval_seconds=3600, jitter_seconds=900)
    async with serving(service) as run:
        for _ in range(200):  # the first epoch runs at once; then the next one is scheduled
            exact = (await run.http.get("/health", headers=auth())).json()
            if exact["lastEpoch"] is not None:
                break
            await asyncio.sleep(0.02)
        assert exact["nextEpoch"] is not None
        public = (await run.http.get("/health")).json()
        assert public["nextEpoch"] == exact["nextEpoch"][:17] + "00Z"
        wrong = (await run.http.get("/health", headers=auth("w" * 40))).json()
        assert wrong["nextEpoch"] == public["nextEpoch"]
        assert {k: v for k, v in public.items() if k not in ("nextEpoch", "uptime")} == {
            k: v for k, v in exact.items() if k not in ("nextEpoch", "uptime")
        }


async def test_a_webhook_body_that_never_comes_is_408(world: EpochWorld) -> None:
    app = build_http_app(make_service(world), webhook_secret=SECRET, body_timeout=0.2)
    async with server(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /webhook/trigger HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            + f"Authorization: Bearer {SECRET}\r\n\r\n".encode()
            + b"{"  # one byte of the hundred
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"}"), 10)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        writer.close()
    assert world.runs == 0
