"""`python -m flywheel.sandbox.rpc.serve`: a bare sandbox chain's JSON-RPC server on loopback."""

from __future__ import annotations

import argparse
import signal
import threading

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.rpc.app import build_rpc_app
from flywheel.sandbox.server_thread import ServerThread


def serve_rpc(chain: SandboxChain, *, port: int = 0) -> ServerThread:
    """The chain's JSON-RPC server, not yet started (use `with serve_rpc(chain) as server:`)."""
    return ServerThread(build_rpc_app(chain), port, "sandbox-rpc")


def main(argv: list[str] | None = None) -> int:
    """`python -m flywheel.sandbox.rpc.serve`: a bare chain's RPC on loopback until stopped.

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
