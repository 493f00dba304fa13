"""Reading docs/RUNBOOK.md's procedures: the bash blocks under a heading, and `.env` edits."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.harness import clean_environment

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
_FENCE = re.compile(r"```bash\n(.*?)```", re.DOTALL)
_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]+)=(\S*)")


def procedure(title: str) -> list[list[str]]:
    """The command lines (comments dropped) of each bash block under `### title`."""
    text = RUNBOOK.read_text(encoding="utf-8")
    start = text.index(f"### {title}\n")
    end = min(
        (i for i in (text.find("\n## ", start + 1), text.find("\n### ", start + 1)) if i > 0),
        default=len(text),
    )
    blocks = []
    for block in _FENCE.findall(text[start:end]):
        lines = [line.strip() for line in block.splitlines()]
        blocks.append([line for line in lines if line and not line.startswith("#")])
    return blocks


def set_env(directory: Path, key: str, value: str) -> None:
    """Set `key=value` in `directory/.env`, as an operator's edit would."""
    path = directory / ".env"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}=")]
    path.write_text("\n".join([*lines, f"{key}={value}"]) + "\n")


def run_block(
    lines: list[str],
    directory: Path,
    *,
    prelude: str,
    timeout_s: float,
    stdin: str = "",
    value_of: Callable[[str], str] = str,
    placeholders: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one block as the operator would, after `prelude` (the stand-ins); `VAR=value` lines
    edit `directory/.env` (the value passed through `value_of`)."""
    commands = []
    for line in lines:
        for name, value in (placeholders or {}).items():
            line = line.replace(name, value)
        match = _ASSIGNMENT.match(line)
        if match:
            set_env(directory, match.group(1), value_of(match.group(2)))
        else:
            commands.append(line)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + "\n" + "\n".join(commands)],
        cwd=directory,
        env=clean_environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
