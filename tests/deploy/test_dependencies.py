"""The lock files agree with pyproject.toml and with each other (docs/dependencies.md).

dev.py and CI install requirements-dev.lock; the Docker build installs requirements.lock. Both are
made by `uv pip compile`; these checks catch a pyproject edit that was not re-locked and a runtime
lock that drifted from the versions the tests ran against.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[_normal(match[1])] = match[2]
    return pins


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        found = set()
        for requirement in requirements:
            match = NAME.match(requirement)
            assert match, requirement
            found.add(_normal(match[0]))
        return found

    return names(project["dependencies"]), names(project["optional-dependencies"]["dev"])


def test_every_declared_dependency_is_pinned_in_its_lock() -> None:
    runtime, dev = _declared()
    assert runtime - set(_pins(ROOT / "requirements.lock")) == set()
    assert (runtime | dev) - set(_pins(ROOT / "requirements-dev.lock")) == set()


def test_the_runtime_lock_holds_the_versions_the_tests_ran_against() -> None:
    runtime = _pins(ROOT / "requirements.lock")
    dev = _pins(ROOT / "requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_every_pin_carries_hashes() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        for entry in entries:
            if PIN.match(entry):
                assert "--hash=sha256:" in entry, (lock, entry.split()[0])


def test_the_zero_x_solana_libraries_hold_their_minor_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {_normal(NAME.match(r)[0]): r for r in project["dependencies"]}  # type: ignore[index]
    assert "~=" in pins["solana"] and "~=" in pins["solders"]
