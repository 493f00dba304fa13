"""Fixtures of the service tests: an EpochWorld (tests/core/fakes.py) with its state file open.
The helpers that drive the service are in tests/service/harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.fakes import EpochWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EpochWorld]:
    w = EpochWorld(db=tmp_path / "state" / "flywheel.sqlite")
    w.open()
    yield w
    if w.store is not None:
        w.store.close()
