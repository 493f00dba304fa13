"""Tests share helpers through modules beside them (harness.py, tests/core/fakes.py), never by
importing a conftest.py: pytest loads conftest files itself, and importing one as a module runs
it a second time under another name."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_a_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): module
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imports(path)
        if module.split(".")[-1] == "conftest"
    }
    assert offenders == {}, "move the helper into a module beside the conftest.py"
