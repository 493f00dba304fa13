"""Fixtures of the ads end-to-end tests; their helpers are in tests/ads_e2e/harness.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from flywheel.sandbox.runner import Sandbox
from tests.sandbox.harness import start_sandbox


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh sandbox per test (it starts in well under a second): its X Ads account is empty,
    and it bills nothing by itself, so every micro of spend in a test is one the test made."""
    sandbox = start_sandbox(tmp_path / "sandbox", x_ads_spend_micro_per_second=0)
    try:
        yield sandbox
    finally:
        sandbox.stop()


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
