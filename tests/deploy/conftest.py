"""Fixtures of the deployment tests: Prometheus's tools (see tests/deploy/harness.py)."""

from __future__ import annotations

import pytest

from tests.deploy.harness import require_tool


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return require_tool("prometheus")
