"""The design's boundaries, enforced: the core imports no adapter; the sandbox imports no
production adapter; only the config package reads the environment. Read from the source (ast),
so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "flywheel"
CORE = [  # the domain package is globbed: new modules there are covered too
    PACKAGE / "ports.py",
    PACKAGE / "epoch.py",
    PACKAGE / "intent_journal.py",
    PACKAGE / "claim_step.py",
    PACKAGE / "buyback_step.py",
    PACKAGE / "buyback_slices.py",
    PACKAGE / "ads_step.py",
    PACKAGE / "sell_step.py",
    PACKAGE / "errors.py",
    PACKAGE / "anchoring.py",
    PACKAGE / "collecting.py",
    *sorted((PACKAGE / "domain").glob("*.py")),
]
# What the core may import from the package: itself, and the version string.
CORE_MODULES = (
    "flywheel.domain",
    "flywheel.ports",
    "flywheel.errors",
    "flywheel.intent_journal",
    "flywheel.anchoring",
    "flywheel.collecting",
    "flywheel.claim_step",
    "flywheel.buyback_step",
    "flywheel.buyback_slices",
    "flywheel.ads_step",
    "flywheel.sell_step",
)


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


def test_the_core_imports_no_adapter():
    offending = {}
    for path in CORE:
        ours = {m for m in imported_modules(path) if m == "flywheel" or m.startswith("flywheel.")}
        bad = {m for m in ours if m != "flywheel" and not m.startswith(CORE_MODULES)}
        if bad:
            offending[path.name] = sorted(bad)
    assert not offending, f"core modules import adapters: {offending}"


def test_only_config_reads_the_environment():
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE / "config":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or node.attr not in {"environ", "getenv"}:
                continue
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not readers, f"only flywheel.config may read the environment: {readers}"


# The sandbox stands in for the outside world (a node, an aggregator, X): it may share the pure
# domain and the keypair file format with us, never our clients, or it would test them with
# themselves.
SANDBOX_MAY_IMPORT = ("flywheel.sandbox", "flywheel.domain", "flywheel.errors")
SANDBOX_SHARED_FORMATS = {"flywheel.solana.keypair"}


def test_the_sandbox_imports_no_production_adapter():
    offending = {}
    for path in sorted((PACKAGE / "sandbox").rglob("*.py")):
        ours = {m for m in imported_modules(path) if m.startswith("flywheel.")}
        bad = {
            m
            for m in ours
            if not m.startswith(SANDBOX_MAY_IMPORT) and m not in SANDBOX_SHARED_FORMATS
        }
        if bad:
            offending[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert not offending, f"sandbox modules import production adapters: {offending}"


def test_every_package_has_a_docstring_saying_what_it_is():
    missing = [
        str(init.relative_to(PACKAGE))
        for init in sorted(PACKAGE.rglob("__init__.py"))
        if ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) is None
    ]
    assert not missing, f"packages without a docstring: {missing}"
