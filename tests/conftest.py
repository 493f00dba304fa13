"""Shared fixtures: a started sandbox (chain + JSON-RPC + Jupiter-compatible API + traders).

Slots are manual and traders do not run in the background (tests/sandbox/harness.py), so tests
are fast and deterministic. Helpers live in modules beside the tests, never here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
