"""The review of quarantined fees: `flywheel fees release` and `flywheel fees reject`.

Release: the fee becomes available and the next epoch spends it. Reject: it is never spent; the
signature and the reason stay in the state (so no later detection counts it again) and the next
epoch's report shows them (`fees.rejected`).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.domain.fees import ReceiptStatus
from flywheel.domain.money import format_sol
from flywheel.errors import ConfigError, OperationalError
from flywheel.persistence.store import SqliteStore


def release(
    signature: Annotated[
        str | None, typer.Argument(help="The quarantined fee's transaction signature.")
    ] = None,
    release_all: Annotated[
        bool, typer.Option("--all", help="Release every quarantined fee (after reviewing them).")
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Release a quarantined fee after review: the next epoch spends it like any other."""
    if (signature is None) == (not release_all):
        raise typer.BadParameter("give one SIGNATURE, or --all (not both)", param_hint="SIGNATURE")
    settings = load_settings(env_file)
    if not settings.state_db_path.exists():
        # Opening the store would create an empty state database: a review changes nothing.
        what = (
            "there is no quarantined fee"
            if signature is None
            else (f"{signature} is not a quarantined fee")
        )
        raise OperationalError(
            f"{what}: there is no state database at {settings.state_db_path} yet (no epoch has run)"
        )
    with SqliteStore.open(settings.state_db_path) as store:
        if signature is None:
            chosen = [r.signature for r in store.receipts(ReceiptStatus.QUARANTINED)]
            released = [s for s in chosen if store.release_receipt(s)]
            if not released:
                console().print("no quarantined fee to release")
                return
        elif store.release_receipt(signature):
            released = [signature]
        else:
            raise OperationalError(
                f"{signature} is not a quarantined fee; `flywheel fetch-fees` lists them"
            )
    for done in released:
        console().print(f"released {done}: the next epoch will spend it")


def reject(
    signature: Annotated[str, typer.Argument(help="The quarantined fee's transaction signature.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is not a fee (kept in the state and report).")
    ],
    env_file: EnvFile = None,
) -> None:
    """Reject a quarantined fee after review: it is never spent, no longer carried or held.

    The signature and the reason are kept in the state and shown in the next epoch's report."""
    if not reason.strip():
        raise ConfigError(["--reason must say why the fee is rejected (it is kept in the report)"])
    settings = load_settings(env_file)
    if not settings.state_db_path.exists():
        raise ConfigError(
            [
                f"{signature} is not a quarantined fee: there is no state database at"
                f" {settings.state_db_path} yet (no epoch has run)"
            ]
        )
    with SqliteStore.open(settings.state_db_path) as store:
        found = store.receipts(ReceiptStatus.QUARANTINED)
        lamports = next((r.lamports for r in found if r.signature == signature), None)
        if lamports is None or not store.reject_receipt(signature, reason.strip()):
            raise ConfigError([_not_quarantined(signature, store.receipt_status(signature))])
    console().print(
        Text(
            f"rejected {signature} ({format_sol(lamports)}): it will never be spent;"
            f" the next epoch's report shows it with the reason"
        )
    )


def _not_quarantined(signature: str, status: ReceiptStatus | None) -> str:
    if status is None:
        return (
            f"{signature} is not a fee the flywheel detected;"
            " `flywheel fetch-fees` lists the quarantined ones"
        )
    return (
        f"{signature} is not quarantined (it is {status.value}): only a quarantined fee can be"
        " rejected; `flywheel fetch-fees` lists them"
    )
