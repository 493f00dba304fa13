"""Shared fixtures: a started sandbox (chain + JSON-RPC + Jupiter-compatible API + traders).

Slots are manual (`slot_ms=0`: they move only with `sandbox.chain.advance()`) and traders do not
run in the background (call `sandbox.traders.step(n)`), so tests are fast and deterministic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flywheel.sandbox.runner import Sandbox, SandboxConfig

TEST_SANDBOX_CONFIG = SandboxConfig(slot_ms=0, traders=False)

SandboxFactory = Callable[..., Sandbox]


def _start(workdir: Path, **overrides: Any) -> Sandbox:
    config = dataclasses.replace(TEST_SANDBOX_CONFIG, workdir=workdir, **overrides)
    return Sandbox(config).start()


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
