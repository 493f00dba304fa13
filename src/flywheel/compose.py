"""The one place where adapters are chosen from the configuration and wired to the core.

`open_flywheel(settings, mode)` owns every adapter of one process (RPC and HTTP clients, the
X Ads API client, the state database) and closes them on exit. Live mode uses the state
database of STATE_DB_PATH; simulate mode runs on a fresh copy of it, so a rehearsal starts from
exactly the live state and can never change what live mode will do.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.adapters import (
    ads_engine,
    epoch_policy,
    fee_source,
    fee_sources_of,
    open_clients,
    rpc_client,
    solana_wallet,
    token_seller,
    x_ads_client,
)
from flywheel.ads.x_ads.engine import XAdsEngine
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.epoch import EpochRunner, StepObserver
from flywheel.errors import ConfigError, FlywheelError, OperationalError
from flywheel.jupiter.client import JupiterClient
from flywheel.persistence.ownership import binding_problems, record_own_addresses
from flywheel.persistence.store import SqliteStore
from flywheel.ports import AdsEngine, Wallet
from flywheel.reports.files import ReportDirectory
from flywheel.reports.snapshot import SnapshotReport, WalletRole
from flywheel.solana.chain_state import check_state_against_chain
from flywheel.solana.collect import FeeCollectorWallet
from flywheel.solana.fee_source import Progress, WalletWatcherFeeSource
from flywheel.solana.fee_sources import registry as fee_sources
from flywheel.solana.memo import MemoAnchorer
from flywheel.solana.rpc import RpcClient, RpcHook, RpcStats
from flywheel.solana.simulated_wallet import SimulatedWallet
from flywheel.solana.snapshot import take_snapshot
from flywheel.solana.wallet import SolanaWallet

# Re-exported: the commands build their clients with the wiring they share.
__all__ = [
    "Flywheel",
    "bind_state",
    "copy_live_state",
    "epoch_policy",
    "open_fee_reader",
    "open_flywheel",
    "own_wallet_roles",
    "rpc_client",
    "x_ads_client",
]

log = structlog.get_logger("flywheel.compose")

# A rate limit may ask the X Ads client to wait up to 15 minutes; reading spend never should.
SPEND_SYNC_TIMEOUT_S = 60.0


@dataclass
class Flywheel:
    """Everything one process needs to run epochs and answer questions about its state."""

    settings: Settings
    mode: EpochMode
    store: SqliteStore
    rpc: RpcClient
    jupiter: JupiterClient
    wallet: SolanaWallet
    fee_source: WalletWatcherFeeSource
    runner: EpochRunner
    reports: ReportDirectory
    ads: AdsEngine

    async def run_epoch(self) -> EpochState:
        state = await self.runner.run()
        await self.sync_ads_spend()
        return state

    async def sync_ads_spend(self) -> int:
        """api mode: record what X billed the launched campaigns (`spent` in the ads ledger).

        After the epoch, not before: X being slow or down must never delay the buyback, and
        the campaign this epoch launched is read too. A failure (or SPEND_SYNC_TIMEOUT_S) is
        logged, not raised: the epoch is done, and the next one reads the spend again (only the
        increase is ever recorded).
        """
        if not isinstance(self.ads, XAdsEngine):
            return 0
        try:
            async with asyncio.timeout(SPEND_SYNC_TIMEOUT_S):
                return await self.ads.sync_spend(self.store)
        except (FlywheelError, TimeoutError) as exc:
            log.warning("x_ads.spend_sync_failed", error=str(exc), kind=type(exc).__name__)
            return 0

    async def snapshot(self) -> tuple[SnapshotReport, Path]:
        """Balances of every wallet the configuration names, valued in USD, written as a report."""
        settings = self.settings
        wallets = [
            (WalletRole.EXECUTOR, self.wallet.pubkey),
            (WalletRole.FEE_COLLECTOR, settings.fee_collector_pubkey),
        ]
        if settings.treasury_pubkey is not None:
            wallets.append((WalletRole.TREASURY, settings.treasury_pubkey))
        if settings.ads_treasury_pubkey is not None:
            wallets.append((WalletRole.ADS_TREASURY, settings.ads_treasury_pubkey))
        report = await take_snapshot(
            self.rpc, self.jupiter, token_mint=settings.token_mint, wallets=wallets
        )
        return report, self.reports.write_snapshot(report)

    async def executor_balance(self) -> int:
        return await self.wallet.balance_lamports()

    @property
    def rpc_stats(self) -> RpcStats:
        return self.rpc.stats


def copy_live_state(live: Path, simulate: Path) -> None:
    """Replace the simulate database with a consistent copy of the live one (or nothing)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{simulate}{suffix}").unlink(missing_ok=True)
    if not live.exists():
        return
    simulate.parent.mkdir(parents=True, exist_ok=True)
    # The backup API copies a consistent snapshot even while the live service writes (WAL).
    # Not `mode=ro`: a read-only connection creates the -wal/-shm files but cannot remove them,
    # so it would leave files beside the live database. `query_only` keeps it a pure reader.
    source = sqlite3.connect(live)
    try:
        source.execute("PRAGMA query_only = ON")
        target = sqlite3.connect(simulate)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def own_wallet_roles(settings: Settings, executor: Pubkey) -> dict[str, str | None]:
    def text(key: Pubkey | None) -> str | None:
        return None if key is None else str(key)

    return {
        "executor": str(executor),
        "fee_collector": str(settings.fee_collector_pubkey),
        "treasury": text(settings.treasury_pubkey),
        "ads_treasury": text(settings.ads_treasury_pubkey),
    }


def bind_state(
    settings: Settings,
    store: SqliteStore,
    executor: Pubkey,
    *,
    write: bool = True,
    check: bool = True,
) -> frozenset[str]:
    """Check (and on first use record) the wallets the state belongs to; its own addresses.

    ConfigError when FEE_COLLECTOR_PUBKEY or TOKEN_MINT differ from the state's."""
    problems = (
        binding_problems(
            store,
            collector=str(settings.fee_collector_pubkey),
            mint=str(settings.token_mint),
            bind=write,
        )
        if check
        else []
    )
    if problems:
        raise ConfigError(problems)
    roles = own_wallet_roles(settings, executor)
    if write:
        return record_own_addresses(store, roles)
    known = {a.address for a in store.own_addresses()}
    return frozenset(known | {a for a in roles.values() if a is not None})


@asynccontextmanager
async def open_fee_reader(
    settings: Settings, own_addresses: frozenset[str] = frozenset()
) -> AsyncIterator[tuple[RpcClient, WalletWatcherFeeSource]]:
    """The RPC client and fee source alone, for read-only questions (`fetch-fees`)."""
    rpc = rpc_client(settings)
    try:
        yield (
            rpc,
            fee_source(settings, rpc, settings.executor_pubkey(), own_addresses=own_addresses),
        )
    finally:
        await rpc.close()


@asynccontextmanager
async def open_flywheel(
    settings: Settings,
    mode: EpochMode = EpochMode.LIVE,
    *,
    on_step: StepObserver | None = None,
    rpc_hook: RpcHook | None = None,
    progress: Progress | None = None,
    x_ads_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Flywheel]:
    """Wire the adapters for `mode`; everything opened here is closed on exit.

    `x_ads_transport` replaces the X Ads client's HTTP transport (tests wrap the real one)."""
    keypair = settings.load_executor_keypair()
    db_path, reports = _state_of(settings, mode)
    async with AsyncExitStack() as stack:
        store = stack.enter_context(SqliteStore.open(db_path))
        own = bind_state(settings, store, keypair.pubkey())
        # After the binding: a collector that moved is the first thing to explain.
        funding = settings.fee_funding_mode()  # ConfigError when nothing could pay the buybacks
        collector_key = settings.load_fee_collector_keypair() if funding == "collect" else None
        rpc, jito, jupiter = open_clients(settings, stack, keypair.pubkey(), rpc_hook)
        anchored = settings.anchor_state and mode is EpochMode.LIVE
        if anchored:
            # Before anything can spend: the chain must not know a state newer than ours.
            await check_state_against_chain(store, rpc, keypair.pubkey())
        live_wallet = solana_wallet(settings, rpc, keypair, jito)
        wallet: Wallet = live_wallet if mode is EpochMode.LIVE else SimulatedWallet(live_wallet)
        fees, sources = fee_sources_of(settings, rpc, keypair, progress, own)
        ads = ads_engine(settings, mode, stack, x_ads_transport=x_ads_transport)
        runner = _epoch_runner(
            settings,
            mode,
            store=store,
            sources=sources,
            jupiter=jupiter,
            wallet=wallet,
            live_wallet=live_wallet,
            ads=ads,
            reports=reports,
            on_step=on_step,
            rpc=rpc,
            keypair=keypair,
            anchored=anchored,
            collector_key=collector_key,
            fee_funding=funding,
        )
        yield Flywheel(
            settings=settings,
            mode=mode,
            store=store,
            rpc=rpc,
            jupiter=jupiter,
            wallet=live_wallet,
            fee_source=fees,
            runner=runner,
            reports=reports,
            ads=ads,
        )


def _epoch_runner(
    settings: Settings,
    mode: EpochMode,
    *,
    store: SqliteStore,
    sources: fee_sources.FeeSources,
    jupiter: JupiterClient,
    wallet: Wallet,
    live_wallet: SolanaWallet,
    ads: AdsEngine,
    reports: ReportDirectory,
    on_step: StepObserver | None,
    rpc: RpcClient,
    keypair: Keypair,
    anchored: bool,
    collector_key: Keypair | None,
    fee_funding: str,
) -> EpochRunner:
    """The runner of one process's epochs, with the operator's policy."""
    return EpochRunner(
        store=store,
        fee_source=sources.detector,
        claimers=sources.claimers,
        prices=jupiter,
        dex=jupiter,
        wallet=wallet,
        ads=ads,
        reports=reports,
        policy=epoch_policy(settings),
        mode=mode,
        on_step=on_step,
        balances=live_wallet,
        executor_collects_fees=settings.fee_collector_pubkey == keypair.pubkey(),
        anchorer=MemoAnchorer(rpc, keypair) if anchored else None,
        collector=(
            None
            if collector_key is None or mode is EpochMode.SIMULATE
            else FeeCollectorWallet(rpc, keypair, collector_key)
        ),
        fee_funding=fee_funding,
        seller=token_seller(settings, rpc, keypair, jupiter),
    )


def _state_of(settings: Settings, mode: EpochMode) -> tuple[Path, ReportDirectory]:
    """The state database and report directory of `mode`; simulate's start as a live copy."""
    if mode is EpochMode.SIMULATE:
        # Only ever read the live database: opening it as a store would create it when it is
        # missing and migrate it when it is old, both changes to the live state.
        copy_live_state(settings.state_db_path, settings.simulate_state_db_path)
        with SqliteStore.open(settings.simulate_state_db_path) as copy:
            if copy.unfinished_epoch(EpochMode.LIVE) is not None:
                raise OperationalError(
                    "a live epoch is unfinished (interrupted or running): simulate would not "
                    "show what the next epoch does; let `flywheel epoch` finish it first"
                )
        return settings.simulate_state_db_path, ReportDirectory(settings.reports_dir / "simulate")
    return settings.state_db_path, ReportDirectory(settings.reports_dir)
