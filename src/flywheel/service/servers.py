"""ASGI apps served by uvicorn inside the service's own event loop.

Sockets are bound here, before uvicorn starts, so a port in use is a clear OperationalError
(uvicorn would log and `sys.exit`), and a test can bind port 0 and read the port chosen.
uvicorn's own signal capture is turned off: the service owns SIGTERM/SIGINT, because it must
let a running epoch finish before the servers stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import structlog
import uvicorn

from flywheel.config.parsers import host_warning
from flywheel.errors import OperationalError

log = structlog.get_logger("flywheel.service")


def bind_socket(host: str, port: int, variable: str) -> socket.socket:
    """A listening TCP socket on host:port; `variable` names the setting in the error."""
    warning = host_warning(host)
    if warning is not None:
        log.warning("service.listening_everywhere", variable=variable, detail=warning)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise OperationalError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); another process uses it: "
            f"stop it or set {variable} to a free port"
        ) from exc
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class BackgroundServer:
    """One ASGI app on one bound socket, started and stopped by the service."""

    def __init__(self, app: Any, sock: socket.socket, *, graceful_seconds: int = 5) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,  # logging is configured once, by flywheel.logs
            access_log=False,  # health checks every few seconds would drown the log
            lifespan="off",
            timeout_graceful_shutdown=graceful_seconds,
            server_header=False,
        )
        self._server = _Server(config)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._server.serve(sockets=[self.sock]))
        return self.task

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self.task is not None:
            await self.task
        self.sock.close()
