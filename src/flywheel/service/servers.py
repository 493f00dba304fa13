"""ASGI apps served by uvicorn inside the service's own event loop.

Sockets are bound here, before uvicorn starts, so a port in use is a clear OperationalError
(uvicorn would log and `sys.exit`), and a test can bind port 0 and read the port chosen.
uvicorn's own signal capture is turned off: the service owns SIGTERM/SIGINT, because it must
let a running epoch finish before the servers stop.

Slow or idle clients cannot hold the servers: a connection must send its request headers
within `header_timeout` seconds (uvicorn has no such deadline: 300 connections sending nothing
stayed open indefinitely), at most `max_connections` are open at once (more are closed at
once), and above `max_concurrency` requests uvicorn answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator
from typing import Any

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from flywheel.config.places import host_warning
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


HEADER_TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 200
MAX_CONCURRENCY = 100


def deadline_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with a header deadline and a connection cap."""

    class DeadlineH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.close()  # over the cap: no resources for it
                return
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the headers are in: the app's own limits take over

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()  # a kept-alive connection owes the next request's headers

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return DeadlineH11


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class BackgroundServer:
    """One ASGI app on one bound socket, started and stopped by the service."""

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        *,
        graceful_seconds: int = 5,
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http=deadline_protocol(header_timeout, max_connections),
            limit_concurrency=max_concurrency,
            timeout_keep_alive=5,
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


def bind_sockets(
    host: str, http_port: int, metrics_port: int
) -> tuple[socket.socket, socket.socket]:
    """The HTTP_PORT and METRICS_PORT sockets, both or neither (a failure closes the first)."""
    http_sock = bind_socket(host, http_port, "HTTP_PORT")
    try:
        metrics_sock = bind_socket(host, metrics_port, "METRICS_PORT")
    except BaseException:
        http_sock.close()
        raise
    return http_sock, metrics_sock


def install_stop_signals(stop: Callable[[], None]) -> list[int]:
    """Call `stop` on SIGTERM/SIGINT (main thread only); the signals to remove afterwards."""
    if threading.current_thread() is not threading.main_thread():
        return []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    return [signal.SIGTERM, signal.SIGINT]
