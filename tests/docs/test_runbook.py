"""docs/RUNBOOK.md and the other docs must stay true to the code: every `flywheel` command and
option they use exists, every variable they set is a real setting, every file they name exists."""

from __future__ import annotations

import contextlib
import functools
import io
import re
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.config.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "docs" / "RUNBOOK.md", REPO / "docs" / "sandbox.md", REPO / "README.md"]
_FENCE = re.compile(r"```bash\n(.*?)```", re.DOTALL)
_COMPOSE_ONLY = {"FLYWHEEL_UID", "FLYWHEEL_GID", "FLYWHEEL_SECURE_DIR", "GRAFANA_ADMIN_PASSWORD"}


def bash_lines(path: Path) -> list[str]:
    lines: list[str] = []
    for block in _FENCE.findall(path.read_text(encoding="utf-8")):
        lines += [line.strip() for line in block.splitlines() if line.strip()]
    return lines


def flywheel_invocations(path: Path) -> list[list[str]]:
    """The words after `flywheel` on every command line of the doc's bash blocks."""
    found = []
    for line in bash_lines(path):
        if line.startswith("#"):
            continue
        match = re.search(r"(?:^|\s|/)flywheel\s+(.*)$", line)
        if match and not line.startswith(("cd ", "git ")):
            found.append(match.group(1).split("#")[0].split())
        dev = re.search(r"dev\.py flywheel\s+(.*)$", line)
        if dev:
            found.append(dev.group(1).split())
    return found


@functools.cache
def help_text(*command: str) -> str:
    """The real `flywheel ... --help` (the console script's `main`), run in-process: a
    subprocess a command cost the suite ~40 s."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setenv("COLUMNS", "250")
        code = main([*command, "--help"])
    assert code == 0, f"`flywheel {' '.join(command)} --help` exited {code}: {out.getvalue()}"
    return out.getvalue()


def split_command(words: list[str]) -> tuple[list[str], list[str]]:
    """(the subcommand path, the --options) of one invocation."""
    path: list[str] = []
    for word in words:
        if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        candidate = [*path, word]
        listed = help_text(*path)
        if re.search(rf"(?m)^\W*{re.escape(word)}\b", listed) is None:
            break
        path = candidate
    options = [w.split("=")[0] for w in words if w.startswith("--")]
    return path, options


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flywheel_command_and_option_in_the_docs_exists(doc):
    invocations = flywheel_invocations(doc)
    assert invocations, f"{doc.name} shows no flywheel command"
    for words in invocations:
        path, options = split_command(words)
        assert path, f"{doc.name}: `flywheel {' '.join(words)}` names no command"
        text = help_text(*path)
        for option in options:
            assert option in text, f"{doc.name}: `flywheel {' '.join(path)}` has no {option}"


def test_the_runbook_sets_only_real_variables():
    known = {name.upper() for name in Settings.model_fields}
    for line in bash_lines(REPO / "docs" / "RUNBOOK.md"):
        match = re.match(r"^([A-Z][A-Z0-9_]+)=", line)
        if match:
            assert match.group(1) in known | _COMPOSE_ONLY, f"unknown variable in: {line}"


def test_files_the_docs_name_exist():
    text = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)
    named = set(re.findall(r"`((?:docs|deploy|src|bench)/[\w./-]+\.(?:md|yml|py|json))`", text))
    named |= set(re.findall(r"\b((?:deploy|docs)/[\w./-]+\.(?:yml|md|json))\b", text))
    assert named
    missing = sorted(name for name in named if not (REPO / name).exists())
    assert not missing, f"the docs name files that do not exist: {missing}"


def test_the_runbook_names_the_compose_service():
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert re.search(r"(?m)^  x-coin-flywheel:$", compose)
    for line in bash_lines(REPO / "docs" / "RUNBOOK.md"):
        for service in re.findall(
            r"docker-compose (?:logs|restart|exec)(?: -f| --tail=\d+)? ([a-z][\w-]*)", line
        ):
            assert re.search(rf"(?m)^  {re.escape(service)}:$", compose), line
