"""Run an ASGI app (the sandbox RPC, or any sandbox API) with uvicorn in a background thread."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from flywheel.sandbox.chain import SandboxChain
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.rpc import build_rpc_app


class ServerThread:
    """uvicorn on 127.0.0.1 (port 0 picks a free one); `url` once started. A context manager."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        # uvicorn binds the port itself: handing it a pre-bound socket instead costs ~40 ms
        # per request here (uvicorn re-creates the socket from its descriptor).
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # do not wait out idle keep-alive connections
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_rpc(chain: SandboxChain, *, host: str = "127.0.0.1", port: int = 0) -> ServerThread:
    """The chain's JSON-RPC server, not yet started (use `with serve_rpc(chain) as server:`)."""
    return ServerThread(build_rpc_app(chain), host=host, port=port)


def main(argv: list[str] | None = None) -> int:
    """`python -m flywheel.sandbox.rpc_serve`: a bare chain's RPC on loopback until stopped.

    Prints the URL on the first line of stdout once it listens.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--slot-ms", type=int, default=400, help="0 for manual slots")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault dice")
    args = parser.parse_args(argv)
    chain = SandboxChain(slot_ms=args.slot_ms, faults=Faults(seed=args.seed))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with serve_rpc(chain, port=args.port) as server:
        print(server.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
