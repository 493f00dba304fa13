#!/usr/bin/env python3
"""Set up and run x-coin-flywheel on a machine that has only Python 3.11+.

    python3 dev.py demo    the flywheel's main job on the embedded sandbox (no keys, no network)
    python3 dev.py test    the whole check: ruff, mypy and the test suite
    python3 dev.py flywheel ARGS...   any flywheel command inside the project's environment

It creates `.venv` beside this file on first use and re-installs when pyproject.toml or the lock
file (requirements-dev.lock) changes. Dependencies come from the lock, pinned and hash-checked, so
a set-up next month gets the versions tested today; the project itself is installed on top of
them with --no-deps. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".flywheel-installed"
LOCK = ROOT / "requirements-dev.lock"


def _fail(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr)
    raise SystemExit(2)


def _ensure_env() -> None:
    if sys.version_info < (3, 11):
        _fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    if not LOCK.exists():
        _fail(f"{LOCK.name} is missing: restore it with git, or remake it (docs/dependencies.md).")
    inputs = (ROOT / "pyproject.toml").read_bytes() + b"\0" + LOCK.read_bytes()
    wanted = hashlib.sha256(inputs).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing flywheel and its test tools into .venv ...", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    # Fails when pyproject.toml asks for a version the lock does not hold: re-lock, then retry.
    check = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        print(check.stdout, file=sys.stderr)
        _fail(f"the installed set does not satisfy pyproject.toml; update {LOCK.name}.")
    STAMP.write_text(wanted)


def _run(*argv: str) -> int:
    return subprocess.run(argv, cwd=ROOT).returncode


def main(args: list[str]) -> int:
    if not args or args[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    _ensure_env()
    if command == "demo":
        return _run(str(BIN / "flywheel"), "demo", *rest)
    if command == "flywheel":
        return _run(str(BIN / "flywheel"), *rest)
    if command == "test":
        steps = [
            [str(BIN / "ruff"), "check", "src", "tests", "bench", "dev.py"],
            [str(BIN / "ruff"), "format", "--check", "src", "tests", "bench", "dev.py"],
            [str(BIN / "mypy")],
            # Three workers (pytest-xdist) on two cores: the tests mostly wait on real time
            # (slots, blockhash lifetimes, subprocesses), so a third keeps the CPU busy:
            # 1,593 tests in 8 m 28 s, against 10 m 18 s on two.
            [str(BIN / "python"), "-m", "pytest", "-n", "3", *rest],
        ]
        for step in steps:
            print(f"dev.py: $ {Path(step[0]).name} {' '.join(step[1:])}", flush=True)
            code = _run(*step)
            if code != 0:
                print(f"dev.py: FAILED ({Path(step[0]).name} exited {code})", file=sys.stderr)
                return code
        return 0
    _fail(f"unknown command {command!r}; use demo, test or flywheel.")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
