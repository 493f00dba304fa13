"""The adapters, one builder each, from the settings; `compose` wires them into a process.

Each builder passes the operator's limits and deadlines on: no adapter picks its own.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from pydantic import SecretStr
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.ads.dry_run import DryRunAds
from flywheel.ads.manual import ManualAds
from flywheel.ads.x_ads.client import XAdsClient
from flywheel.ads.x_ads.engine import XAdsEngine
from flywheel.config.settings import API_MODE_NEEDS, Settings, api_mode_problems
from flywheel.domain.allocation import AllocationPolicy
from flywheel.domain.epoch_state import EpochMode
from flywheel.domain.policy import EpochPolicy
from flywheel.errors import ConfigError
from flywheel.jupiter.build import JupiterBuildClient
from flywheel.jupiter.client import JupiterClient
from flywheel.jupiter.sell import JupiterSeller
from flywheel.ports import AdsEngine, Notifier
from flywheel.solana.compose_swap import SwapComposer
from flywheel.solana.fee_source import Progress, WalletWatcherFeeSource
from flywheel.solana.fee_sources import registry as fee_sources
from flywheel.solana.guard import LAMPORTS_PER_SIGNATURE
from flywheel.solana.guard_sell import SellGuard
from flywheel.solana.jito import JitoClient
from flywheel.solana.rpc import RpcClient, RpcHook
from flywheel.solana.seller import GuardedSeller
from flywheel.solana.wallet import SolanaWallet


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
        max_slippage_bps=settings.swap_slippage_bps,
        buyback_slices=settings.buyback_slices,
        buyback_window_seconds=settings.buyback_window_seconds,
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


def fee_sources_of(
    settings: Settings,
    rpc: RpcClient,
    keypair: Keypair,
    progress: Progress | None,
    own_addresses: frozenset[str],
) -> tuple[WalletWatcherFeeSource, fee_sources.FeeSources]:
    """The wallet watcher and the FEE_SOURCES built on it (its detector and claimers)."""
    fees = fee_source(settings, rpc, keypair.pubkey(), progress, own_addresses)
    sources = fee_sources.build(
        settings.fee_sources, rpc=rpc, keypair=keypair, mint=settings.token_mint, watcher=fees
    )
    return fees, sources


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
    slippage, priority = settings.swap_slippage_bps, settings.max_priority_fee_lamports
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


def open_clients(
    settings: Settings, stack: AsyncExitStack, executor: Pubkey, rpc_hook: RpcHook | None
) -> tuple[RpcClient, JitoClient | None, JupiterClient]:
    """The RPC, Jito (when JITO_BLOCK_ENGINE_URL is set) and Jupiter clients, closed by `stack`."""
    rpc = rpc_client(settings, on_request=rpc_hook)
    stack.push_async_callback(rpc.close)
    jito = None
    if settings.jito_block_engine_url is not None:
        jito = JitoClient(settings.jito_block_engine_url)
        stack.push_async_callback(jito.aclose)
    jupiter = jupiter_client(settings, rpc, executor, jito)
    stack.push_async_callback(jupiter.aclose)
    return rpc, jito, jupiter


def solana_wallet(
    settings: Settings, rpc: RpcClient, keypair: Keypair, jito: JitoClient | None
) -> SolanaWallet:
    """The executor's wallet on chain, with the operator's fee and slippage limits."""
    return SolanaWallet(
        rpc,
        keypair,
        settings.token_mint,
        settings.treasury_pubkey,
        max_priority_fee_lamports=settings.max_priority_fee_lamports,
        max_slippage_bps=settings.swap_slippage_bps,
        jito=jito,
        jito_tip_lamports=settings.jito_tip_lamports,
    )


def token_seller(
    settings: Settings, rpc: RpcClient, keypair: Keypair, jupiter: JupiterClient
) -> GuardedSeller | None:
    """FEE_SOURCES=token2022: the ads share of the fee tokens is sold for SOL through the
    JUPITER_SWAP_API the buys use (v2 composed by us, or v1), guarded with the operator's
    limits."""
    if "token2022" not in settings.fee_sources:
        return None
    guard = SellGuard(
        rpc,
        keypair.pubkey(),
        settings.token_mint,
        max_priority_fee_lamports=settings.max_priority_fee_lamports,
        max_slippage_bps=settings.swap_slippage_bps,
    )
    composer = jupiter.composer if isinstance(jupiter, JupiterBuildClient) else None
    return GuardedSeller(rpc, keypair, JupiterSeller(jupiter, composer), guard)
