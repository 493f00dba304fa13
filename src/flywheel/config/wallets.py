"""The wallets' keypairs named by the settings: read when needed, never kept in a field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from solders.keypair import Keypair

from flywheel.config.fields import problem_text
from flywheel.errors import ConfigError, KeypairFileError
from flywheel.solana.keypair import read_keypair_file

if TYPE_CHECKING:
    from flywheel.config.settings import Settings

FeeFundingMode = Literal["same-wallet", "collect", "executor"]


def executor_keypair(settings: Settings) -> Keypair:
    """The executor's keypair, read now; ConfigError naming EXECUTOR_KEYPAIR_PATH."""
    try:
        return read_keypair_file(settings.executor_keypair_path)
    except KeypairFileError as exc:
        path = str(settings.executor_keypair_path)
        raise ConfigError(
            [problem_text("EXECUTOR_KEYPAIR_PATH", exc.what, path, exc.fix)]
        ) from None


def fee_collector_keypair(settings: Settings) -> Keypair | None:
    """The separate fee collector's keypair (none if unset), checked against its pubkey."""
    path = settings.fee_collector_keypair_path
    if path is None:
        return None
    try:
        keypair = read_keypair_file(path)
    except KeypairFileError as exc:
        raise ConfigError(
            [problem_text("FEE_COLLECTOR_KEYPAIR_PATH", exc.what, str(path), exc.fix)]
        ) from None
    if keypair.pubkey() != settings.fee_collector_pubkey:
        raise ConfigError(
            [
                f"FEE_COLLECTOR_KEYPAIR_PATH: {path} holds the key of {keypair.pubkey()},"
                f" not of FEE_COLLECTOR_PUBKEY {settings.fee_collector_pubkey}; point it at"
                " the fee collector's own keypair file"
            ]
        )
    return keypair


def fee_funding_mode(settings: Settings) -> FeeFundingMode:
    """Where the buybacks' SOL comes from; ConfigError when nothing could pay them.

    A separate collector holds the fees: without its key nothing moves them, so the
    buybacks would spend the executor's own SOL while the ledger counts the collector's.
    """
    if settings.fee_collector_pubkey == settings.executor_pubkey():
        return "same-wallet"
    if settings.load_fee_collector_keypair() is not None:
        return "collect"
    if settings.fee_funding == "executor":
        return "executor"
    raise ConfigError(
        [
            f"FEE_COLLECTOR_PUBKEY {settings.fee_collector_pubkey} is not the executor, and"
            " without its key the fees stay there while the buybacks spend the executor's"
            " own SOL. Set FEE_COLLECTOR_KEYPAIR_PATH to the collector's keypair file (each"
            " epoch then collects exactly its fees), or FEE_FUNDING=executor to pay the"
            " buybacks from the executor's SOL on purpose (every report says so)"
        ]
    )
