"""Shared fixtures: a started sandbox (chain + JSON-RPC + Jupiter-compatible API + traders), and
an operator inbox on loopback for notifications.

Slots are manual and traders do not run in the background (tests/sandbox/harness.py), so tests
are fast and deterministic. Helpers live in modules beside the tests, never here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from flywheel.sandbox.runner import Sandbox
from tests.sandbox.harness import SandboxFactory
from tests.sandbox.harness import start_sandbox as _start


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A started sandbox for one test (SPL token, seed 0), stopped after it."""
    box = _start(tmp_path / "sandbox")
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def sandbox_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox shared by a module's tests: cheaper, but state carries over between them."""
    box = _start(tmp_path_factory.mktemp("sandbox"))
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[SandboxFactory]:
    """`sandbox_factory(token_program="token-2022", seed=7, ...)`: SandboxConfig overrides;
    every sandbox made is stopped after the test."""
    made: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        box = _start(tmp_path / f"sandbox-{len(made)}", **overrides)
        made.append(box)
        return box

    try:
        yield make
    finally:
        for box in made:
            box.stop()


class _Inbox(BaseHTTPRequestHandler):
    """Where apprise's `json://` notifications land: one JSON body per POST."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet


@pytest.fixture
def inbox() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An operator inbox on loopback: (its apprise URL, what it received)."""
    received: list[dict[str, Any]] = []
    handler = type("Inbox", (_Inbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
