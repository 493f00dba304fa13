"""Fixtures of the ads end-to-end tests; their helpers are in tests/ads_e2e/harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
