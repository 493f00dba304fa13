"""Command groups of the `flywheel` CLI; each module exposes `register(app)`."""

from __future__ import annotations

import importlib

import typer

# Order here is the order in `flywheel --help`.
_MODULES = (
    "demo_cmd",
    "epoch_cmd",
    "run_cmd",
    "fees_cmd",
    "wallet_cmd",
    "state_cmd",
    "ads_cmd",
    "status_cmd",
    "quote_cmd",
    "proof_cmd",
    "config_cmd",
    "reports_cmd",
    "sandbox_cmd",
)


def register_all(app: typer.Typer) -> None:
    # No try/except: a module missing from this list must fail loudly, not vanish from --help.
    for name in _MODULES:
        importlib.import_module(f"flywheel.commands.{name}").register(app)
