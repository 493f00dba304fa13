"""Loopback HTTP servers that misbehave on purpose: they hang, trickle, or answer what we say.

Each runs in the test's own event loop (asyncio.start_server on 127.0.0.1, port 0) and counts
the requests it saw; leaving the `async with` closes every connection it still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from flywheel.retry import RetryPolicy


class HostileServer:
    """`mode` is "hang" (read the request, never answer), "trickle" (200 with a long body sent
    one byte every `every` seconds) or "answer" (`status`, `headers` and `body` as given)."""

    def __init__(
        self,
        mode: str = "answer",
        *,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        every: float = 0.2,
    ) -> None:
        self.mode = mode
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.every = every
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the server is closing: a cancelled handler logs noise
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        self.requests.append(head + await reader.readexactly(length))
        if self.mode == "hang":
            await asyncio.Event().wait()
        if self.mode == "trickle":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            writer.write(b"content-length: 100000\r\n\r\n")
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(self.every)
        lines = [f"HTTP/1.1 {self.status} X", f"content-length: {len(self.body)}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + self.body)
        await writer.drain()
        return True


class FakeTime:
    """The retry policy's sleep and clocks: sleeping only moves the clocks, and is recorded."""

    def __init__(self, wall: float = 1_800_000_000.0) -> None:
        self.now = 0.0
        self.wall = wall
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.wall += seconds

    def monotonic(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def drive(self, policy: RetryPolicy) -> RetryPolicy:
        """`policy`, sleeping and telling time through this fake."""
        return policy.but(sleep=self.sleep, monotonic=self.monotonic, wall_clock=self.wall_clock)
