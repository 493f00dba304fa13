"""Command groups of the `flywheel` CLI; each module exposes `register(app)`."""

from __future__ import annotations

import importlib

import typer

# Order here is the order in `flywheel --help`.
_MODULES = (
    "demo_cmd",
    "epoch_cmd",
    "run_cmd",
    "wallets_cmd",
    "wallet_cmd",
    "ads_cmd",
    "config_cmd",
    "reports_cmd",
    "sandbox_cmd",
)


def register_all(app: typer.Typer) -> None:
    for name in _MODULES:
        try:
            module = importlib.import_module(f"flywheel.commands.{name}")
        except ModuleNotFoundError as exc:
            # A group still being built is simply absent, never a placeholder.
            if exc.name == f"flywheel.commands.{name}":
                continue
            raise
        module.register(app)
