"""Reading docs/RUNBOOK.md's procedures: the bash blocks under a heading, and `.env` edits."""

from __future__ import annotations

import re
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
_FENCE = re.compile(r"```bash\n(.*?)```", re.DOTALL)


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
