"""Starting sandboxes for tests: manual slots (`slot_ms=0`: they move only with
`sandbox.chain.advance()`) and no background traders (call `sandbox.traders.step(n)`), so tests
are fast and deterministic; any SandboxConfig field can be overridden."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flywheel.sandbox.runner import Sandbox, SandboxConfig

TEST_SANDBOX_CONFIG = SandboxConfig(slot_ms=0, traders=False)

SandboxFactory = Callable[..., Sandbox]


def start_sandbox(workdir: Path, **overrides: Any) -> Sandbox:
    """A started sandbox in `workdir`, with TEST_SANDBOX_CONFIG and `overrides`."""
    config = dataclasses.replace(TEST_SANDBOX_CONFIG, workdir=workdir, **overrides)
    return Sandbox(config).start()
