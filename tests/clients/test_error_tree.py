"""errors.py holds the one error tree: every error raised on purpose is defined there, drawn in
its docstring, and on exactly one branch (stops the bot, retried later, the operator's to fix)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import flywheel.errors as errors
from flywheel.errors import ConfigError, FlywheelError, OperationalError, TemporaryError

SRC = Path(errors.__file__).parent
# Exceptions that never leave their module: the sandbox's own (it imports no production code),
# a parser's internal signal (turned into ConfigError lines) and the RPC client's attempt label.
LOCAL = {"sandbox", "config/parsers.py:InvalidValue", "solana/rpc.py:_Failed"}


def _classes() -> list[type[FlywheelError]]:
    return [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, FlywheelError) and c.__module__ == errors.__name__
    ]


def test_every_error_is_drawn_in_the_tree_and_on_one_branch() -> None:
    tree = errors.__doc__ or ""
    for error in _classes():
        assert error.__name__ in tree, f"{error.__name__} is missing from the tree"
        if error is FlywheelError or error.__name__ == "XAdsError":
            continue  # the roots of the tree and of the X Ads family
        branches = [
            b for b in (ConfigError, OperationalError, TemporaryError) if issubclass(error, b)
        ]
        assert len(branches) == 1, f"{error.__name__} is on {branches}"


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    found = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative == "errors.py" or relative.split("/")[0] in LOCAL:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and f"{relative}:{node.name}" not in LOCAL:
                bases = {ast.unparse(b).split(".")[-1] for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    found.append(f"{relative}:{node.name}")
    assert found == []


def test_an_interrupted_epoch_and_a_held_lock_are_retried_later() -> None:
    assert issubclass(errors.InFlight, TemporaryError)
    assert issubclass(errors.EpochLocked, TemporaryError)
    assert issubclass(errors.KeypairFileError, ConfigError)
