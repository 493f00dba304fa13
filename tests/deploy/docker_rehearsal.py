"""A deployment directory run by the real Docker engine against the sandbox on this host.

The sandbox listens on loopback only (it holds keys with real-looking balances), which a
container cannot reach; `Relay` forwards its ports from the address containers see the host at
(the bridge's gateway, `host.docker.internal` inside), and nothing else is stood in for: the
image is built from the Dockerfile, the service runs from docker-compose.yml with its own .env,
and the runbook's `flywheel` function runs each command in a container of that image.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "x-coin-flywheel:latest"  # docker-compose.yml's image: `up -d` uses it, never rebuilds
SERVICE = "x-coin-flywheel"
HEALTH_URL = "http://127.0.0.1:3000/health"
# The service's own network is the default bridge, so its gateway is the host address we relay
# on; `host-gateway` names it inside the container.
OVERRIDE = f"""services:
  {SERVICE}:
    network_mode: bridge
    extra_hosts:
      - "host.docker.internal:host-gateway"
"""


def docker(*args: str, cwd: Path | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        ["docker", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout[-2000:]}{done.stderr}"
    return done.stdout


def require_engine() -> None:
    """Skip unless a Docker engine answers and docker-compose exists (CI machines have neither)."""
    if shutil.which("docker") is None or shutil.which("docker-compose") is None:
        pytest.skip("no docker / docker-compose on this machine")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        pytest.skip("no Docker engine answers (`docker info` fails)")
    base = subprocess.run(
        ["docker", "image", "inspect", "python:3.11-slim"], capture_output=True, check=False
    )
    if base.returncode != 0:
        pytest.skip("the Dockerfile's base image python:3.11-slim is not available offline")


def bridge_gateway() -> str:
    out = docker("network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
    if out.strip():
        return out.strip()
    address = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True
    )
    return address.stdout.split()[3].split("/")[0]


class Relay:
    """TCP forwarding from `bind`:port to 127.0.0.1:port, for each port, on its own thread."""

    def __init__(self, bind: str, ports: list[int]) -> None:
        self.bind, self.ports = bind, ports
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        assert self._ready.wait(10), "the relay did not start"
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        servers = [
            self._loop.run_until_complete(asyncio.start_server(self._forward(p), self.bind, p))
            for p in self.ports
        ]
        self._ready.set()
        self._loop.run_forever()
        for server in servers:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    @staticmethod
    def _forward(
        port: int,
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with suppress(ConnectionError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(
                pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True
            )

        return handle


def container_env(host_env: dict[str, str]) -> tuple[dict[str, str], list[int]]:
    """The sandbox's configuration as the container must see it, and the ports to relay."""
    env = dict(host_env)
    ports = []
    for key, value in host_env.items():
        if key.endswith("_URL") and value.startswith("http://127.0.0.1:"):
            port = urlsplit(value).port
            assert port is not None
            ports.append(port)
            env[key] = value.replace("127.0.0.1", "host.docker.internal")
    env["EXECUTOR_KEYPAIR_PATH"] = "/secure/executor.json"
    for relative in ("STATE_DB_PATH", "REPORTS_DIR"):  # the image's defaults: its two volumes
        env.pop(relative, None)
    env["FLYWHEEL_UID"], env["FLYWHEEL_GID"] = str(os.getuid()), str(os.getgid())
    return env, ports


def deployment(directory: Path, env: dict[str, str], keypair: Path) -> None:
    """What the runbook's Production (Docker) section sets up, in `directory`."""
    shutil.copy(REPO / "docker-compose.yml", directory)
    shutil.copytree(REPO / "deploy", directory / "deploy")
    (directory / "docker-compose.override.yml").write_text(OVERRIDE)
    for name in ("data", "reports", "secure"):
        (directory / name).mkdir(mode=0o700)
    shutil.copy(keypair, directory / "secure" / "executor.json")
    (directory / "secure" / "executor.json").chmod(0o600)
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (directory / ".env").chmod(0o600)


@contextmanager
def compose_project(directory: Path) -> Iterator[None]:
    try:
        yield
    finally:
        subprocess.run(
            ["docker-compose", "down", "--remove-orphans"],
            cwd=directory,
            capture_output=True,
            timeout=120,
            check=False,
        )


def wait_healthy(deadline_s: float = 90) -> dict[str, object]:
    """/health of the service on the published port, once it answers healthy."""
    end, last = time.monotonic() + deadline_s, "no answer"
    while time.monotonic() < end:
        with suppress(httpx.HTTPError):
            answer = httpx.get(HEALTH_URL, timeout=2)
            body: dict[str, object] = answer.json()
            if answer.status_code == 200:
                return body
            last = answer.text
        time.sleep(1)
    raise AssertionError(f"the service never answered healthy: {last}")
