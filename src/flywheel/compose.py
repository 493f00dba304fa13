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
from pydantic import SecretStr
from solders.pubkey import Pubkey

from flywheel.ads.dry_run import DryRunAds
from flywheel.ads.manual import ManualAds
from flywheel.ads.x_ads.client import XAdsClient
from flywheel.ads.x_ads.engine import XAdsEngine
from flywheel.config.settings import API_MODE_NEEDS, Settings, api_mode_problems
from flywheel.domain.allocation import AllocationPolicy
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.domain.policy import EpochPolicy
from flywheel.epoch import EpochRunner, StepObserver
from flywheel.errors import ConfigError, FlywheelError, OperationalError
from flywheel.jupiter.build import JupiterBuildClient
from flywheel.jupiter.client import JupiterClient
from flywheel.persistence.ownership import binding_problems, record_own_addresses
from flywheel.persistence.store import SqliteStore
from flywheel.ports import AdsEngine, Notifier, Wallet
from flywheel.reports.files import ReportDirectory
from flywheel.reports.snapshot import SnapshotReport, WalletRole
from flywheel.solana.chain_state import check_state_against_chain
from flywheel.solana.collect import FeeCollectorWallet
from flywheel.solana.compose_swap import SwapComposer
from flywheel.solana.fee_source import Progress, WalletWatcherFeeSource
from flywheel.solana.fee_sources import registry as fee_sources
from flywheel.solana.guard import LAMPORTS_PER_SIGNATURE
from flywheel.solana.jito import JitoClient
from flywheel.solana.memo import MemoAnchorer
from flywheel.solana.rpc import RpcClient, RpcHook, RpcStats
from flywheel.solana.simulated_wallet import SimulatedWallet
from flywheel.solana.snapshot import take_snapshot
from flywheel.solana.wallet import SolanaWallet

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


def epoch_policy(settings: Settings) -> EpochPolicy:
    return EpochPolicy(
        allocation=AllocationPolicy(
            buyback_percent=settings.buyback_percent,
            ads_percent=settings.ads_percent,
            max_budget_per_epoch_micro_usd=settings.max_budget_per_epoch_micro_usd,
            min_sol_reserve_lamports=settings.min_sol_reserve_lamports,
            min_buyback_lamports=settings.min_buyback_lamports,
            min_transfer_lamports=(
                0 if settings.ads_treasury_pubkey is None else settings.min_buyback_lamports
            ),
        ),
        max_price_impact_bps=settings.max_price_impact_bps,
        max_slippage_bps=settings.max_slippage_bps,
        destination=settings.destination,
        max_single_fee_lamports=settings.max_single_fee_lamports,
        max_fees_per_epoch_lamports=settings.max_fees_per_epoch_lamports,
        ads_duration_hours=settings.ads_duration_hours,
        ads_targeting=settings.ads_targeting,
        ads_post_id=settings.ads_post_id,
        ads_objective=settings.ads_objective,
        ads_min_budget_micro_usd=settings.ads_min_budget_micro_usd,
        ads_treasury=(
            None if settings.ads_treasury_pubkey is None else str(settings.ads_treasury_pubkey)
        ),
        # Unset: a claim must be worth ten times the network fee it costs.
        min_claim_lamports=settings.min_claim_lamports or 10 * LAMPORTS_PER_SIGNATURE,
    )


def x_ads_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> XAdsClient:
    """The X Ads API client of ADS_ENGINE_MODE=api; the caller closes it."""
    # Settings refuse api mode without these; a caller in another mode is checked the same way.
    problems = api_mode_problems({name: getattr(settings, name) for name in API_MODE_NEEDS})
    if problems:
        raise ConfigError(problems)

    def secret(value: SecretStr | None) -> str:
        assert value is not None  # api_mode_problems found none missing
        return value.get_secret_value()

    return XAdsClient(
        base_url=settings.x_ads_api_url,
        account_id=str(settings.x_ads_account_id),
        consumer_key=secret(settings.x_ads_consumer_key),
        consumer_secret=secret(settings.x_ads_consumer_secret),
        access_token=secret(settings.x_ads_access_token),
        access_token_secret=secret(settings.x_ads_access_token_secret),
        timeout=settings.api_timeout_seconds,
        deadline_seconds=settings.api_call_deadline_seconds,
        transport=transport,
    )


def manual_notifier(settings: Settings) -> Notifier | None:
    """The operator's notifier for manual mode: apprise when NOTIFY_URLS is set, else none."""
    urls = settings.notify_urls
    if urls is None or not urls.get_secret_value().strip():
        return None
    from flywheel.service.notifications import AppriseNotifier  # apprise: only when used

    return AppriseNotifier(urls.get_secret_value())


def ads_engine(
    settings: Settings,
    mode: EpochMode,
    stack: AsyncExitStack,
    *,
    x_ads_transport: httpx.AsyncBaseTransport | None = None,
) -> AdsEngine:
    """The engine of ADS_ENGINE_MODE (simulate always plans only); what it opens goes on `stack`."""
    if mode is EpochMode.SIMULATE or settings.ads_engine_mode == "dry-run":
        return DryRunAds()
    if settings.ads_engine_mode == "manual":
        return ManualAds(settings.reports_dir, manual_notifier(settings))
    client = x_ads_client(settings, transport=x_ads_transport)
    stack.push_async_callback(client.aclose)
    return XAdsEngine(client)


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


def fee_source(
    settings: Settings,
    rpc: RpcClient,
    executor: Pubkey,
    progress: Progress | None = None,
    own_addresses: frozenset[str] = frozenset(),
) -> WalletWatcherFeeSource:
    return WalletWatcherFeeSource(
        rpc,
        fee_collector=settings.fee_collector_pubkey,
        executor=executor,
        start=settings.fee_start,
        own_addresses=own_addresses,
        progress=progress,
    )


def rpc_client(settings: Settings, on_request: RpcHook | None = None) -> RpcClient:
    """The RPC client with the operator's deadlines (RPC_TIMEOUT_SECONDS and its call's)."""
    return RpcClient(
        settings.solana_rpc_url,
        timeout=settings.rpc_timeout_seconds,
        deadline_seconds=settings.rpc_call_deadline_seconds,
        on_request=on_request,
    )


def jupiter_client(
    settings: Settings, rpc: RpcClient, executor: Pubkey, jito: JitoClient | None = None
) -> JupiterClient:
    """JUPITER_SWAP_API: v2 composes /swap/v2/build's instructions itself; v1 takes /swap's."""
    key = settings.jupiter_api_key.get_secret_value() if settings.jupiter_api_key else None
    args = (settings.jupiter_api_url, str(settings.token_mint), str(executor))
    slippage, priority = settings.max_slippage_bps, settings.max_priority_fee_lamports
    timeout, deadline = settings.api_timeout_seconds, settings.api_call_deadline_seconds
    if settings.jupiter_swap_api == "v1":
        return JupiterClient(
            *args,
            max_slippage_bps=slippage,
            max_priority_fee_lamports=priority,
            api_key=key,
            timeout=timeout,
            deadline_seconds=deadline,
        )
    composer = SwapComposer(
        rpc,
        executor,
        settings.token_mint,
        priority,
        jito=jito,
        tip_lamports=settings.jito_tip_lamports,
    )
    return JupiterBuildClient(
        *args,
        max_slippage_bps=slippage,
        max_priority_fee_lamports=priority,
        api_key=key,
        composer=composer,
        timeout=timeout,
        deadline_seconds=deadline,
    )


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
        db_path = settings.simulate_state_db_path
        reports = ReportDirectory(settings.reports_dir / "simulate")
    else:
        db_path = settings.state_db_path
        reports = ReportDirectory(settings.reports_dir)
    async with AsyncExitStack() as stack:
        store = stack.enter_context(SqliteStore.open(db_path))
        own = bind_state(settings, store, keypair.pubkey())
        # After the binding: a collector that moved is the first thing to explain.
        funding = settings.fee_funding_mode()  # ConfigError when nothing could pay the buybacks
        collector_key = settings.load_fee_collector_keypair() if funding == "collect" else None
        rpc = rpc_client(settings, on_request=rpc_hook)
        stack.push_async_callback(rpc.close)
        jito = None
        if settings.jito_block_engine_url is not None:
            jito = JitoClient(settings.jito_block_engine_url)
            stack.push_async_callback(jito.aclose)
        jupiter = jupiter_client(settings, rpc, keypair.pubkey(), jito)
        stack.push_async_callback(jupiter.aclose)
        anchored = settings.anchor_state and mode is EpochMode.LIVE
        if anchored:
            # Before anything can spend: the chain must not know a state newer than ours.
            await check_state_against_chain(store, rpc, keypair.pubkey())
        live_wallet = SolanaWallet(
            rpc,
            keypair,
            settings.token_mint,
            settings.treasury_pubkey,
            max_priority_fee_lamports=settings.max_priority_fee_lamports,
            max_slippage_bps=settings.max_slippage_bps,
            jito=jito,
            jito_tip_lamports=settings.jito_tip_lamports,
        )
        wallet: Wallet = live_wallet if mode is EpochMode.LIVE else SimulatedWallet(live_wallet)
        fees = fee_source(settings, rpc, keypair.pubkey(), progress, own)
        sources = fee_sources.build(
            settings.fee_sources, rpc=rpc, keypair=keypair, mint=settings.token_mint, watcher=fees
        )
        ads = ads_engine(settings, mode, stack, x_ads_transport=x_ads_transport)
        runner = EpochRunner(
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
