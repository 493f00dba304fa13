"""A real `FlywheelService` process over the in-memory world, for the SIGTERM test and the bench.

    python tests/service/serve_fakes.py STATE_DB LAND_DELAY_SECONDS

Prints one JSON line {"http": port, "metrics": port} once listening, then serves until SIGTERM
or SIGINT (the service's own signal handling), and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from flywheel.logs import configure_logging
from tests.core.fakes import EpochWorld
from tests.service.harness import make_service


async def main(db: Path, land_delay: float) -> None:
    configure_logging("INFO", "console")  # to stderr: stdout carries only the ports
    world = EpochWorld(db=db, land_delay=land_delay)
    world.open()
    service = make_service(world, shutdown_grace_seconds=30)

    def ready() -> None:
        print(json.dumps({"http": service.http_port, "metrics": service.metrics_port}), flush=True)

    try:
        await service.serve(ready)
    finally:
        assert world.store is not None
        world.store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2])))
