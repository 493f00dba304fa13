"""`wallet`: SOL others send to the fee collector (the watcher lives in solana/fee_source.py)."""

from flywheel.solana.fee_source import START_OF_HISTORY, FeeStart, Progress, WalletWatcherFeeSource

__all__ = ["START_OF_HISTORY", "FeeStart", "Progress", "WalletWatcherFeeSource"]
