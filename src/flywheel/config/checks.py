"""The checks across fields of the settings: each field can be valid while the set is not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

JITO_MIN_TIP_LAMPORTS = 1_000  # a block engine ignores smaller tips

API_MODE_NEEDS = (
    "x_ads_account_id",
    "x_ads_consumer_key",
    "x_ads_consumer_secret",
    "x_ads_access_token",
    "x_ads_access_token_secret",
    "ads_post_id",
)


def api_mode_problems(values: Mapping[str, Any]) -> list[str]:
    """What ADS_ENGINE_MODE=api lacks, as one problem line (none when it lacks nothing)."""
    missing = [name.upper() for name in API_MODE_NEEDS if values.get(name) is None]
    if not missing:
        return []
    return [
        f"ADS_ENGINE_MODE: api needs {', '.join(missing)} (got 'api' without them); set"
        " them (docs/ads.md says how to get them) or use ADS_ENGINE_MODE=manual"
    ]


def cross_field_problems(values: Mapping[str, Any]) -> list[str]:
    """One problem line for each rule across fields that `values` (field name: value) breaks."""
    problems: list[str] = []
    buyback, ads = values.get("buyback_percent"), values.get("ads_percent")
    if isinstance(buyback, int) and isinstance(ads, int) and buyback + ads != 100:
        problems.append(
            f"BUYBACK_PERCENT, ADS_PERCENT: must add up to 100 (got {buyback} + {ads} = "
            f"{buyback + ads}); set ADS_PERCENT={max(0, 100 - buyback)} or change both"
        )
    if values.get("ads_engine_mode") == "api":
        problems.extend(api_mode_problems(values))
    if values.get("jito_block_engine_url") is not None:
        if values.get("jupiter_swap_api") == "v1":
            problems.append(
                "JITO_BLOCK_ENGINE_URL: needs JUPITER_SWAP_API=v2 (the tip goes in the "
                "transaction we compose; v1's transaction cannot carry it)"
            )
        tip = values.get("jito_tip_lamports")
        if isinstance(tip, int) and tip < JITO_MIN_TIP_LAMPORTS:
            problems.append(
                f"JITO_TIP_LAMPORTS: Jito's minimum tip is {JITO_MIN_TIP_LAMPORTS} lamports "
                f"(got {tip}); raise it or unset JITO_BLOCK_ENGINE_URL"
            )
    window, interval = values.get("buyback_window_seconds"), values.get("epoch_interval_seconds")
    if isinstance(window, int) and isinstance(interval, int) and window >= interval:
        problems.append(
            f"BUYBACK_WINDOW_SECONDS: must be shorter than EPOCH_INTERVAL_SECONDS (got {window}"
            f" >= {interval}); the slices of one epoch must be bought before the next begins:"
            " lower BUYBACK_WINDOW_SECONDS or raise EPOCH_INTERVAL_SECONDS"
        )
    mint, collector = values.get("token_mint"), values.get("fee_collector_pubkey")
    if isinstance(mint, Pubkey) and mint == collector:
        problems.append(
            f"FEE_COLLECTOR_PUBKEY, TOKEN_MINT: are the same address (got '{mint}'); the fee "
            "collector is a wallet and the mint is the token: check which one is wrong"
        )
    return problems
