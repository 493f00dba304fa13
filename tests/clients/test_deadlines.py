"""A server that hangs or trickles never holds a call past its deadline.

The trickling server sends a 200 and then one byte every 0.2 s, so no single read ever times
out: only the call's deadline can end it. The hanging one reads the request and never answers.
Each call must end in a `TemporaryError` naming the call (an X Ads write cut off: an
`XAdsOutcomeUnknown`, never re-sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from solders.pubkey import Pubkey

from flywheel.ads.x_ads.client import XAdsClient
from flywheel.errors import TemporaryError, XAdsOutcomeUnknown, XAdsUnavailable
from flywheel.jupiter.client import JupiterClient
from flywheel.solana.rpc import RpcClient
from tests.clients.hostile import HostileServer

IO_TIMEOUT = 0.5
DEADLINE = 1.0


def rpc(url: str) -> RpcClient:
    return RpcClient(url, timeout=IO_TIMEOUT, deadline_seconds=DEADLINE, backoff_initial=0.05)


def jupiter(url: str) -> JupiterClient:
    return JupiterClient(
        base_url=url,
        token_mint=str(Pubkey.new_unique()),
        user_pubkey=str(Pubkey.new_unique()),
        max_slippage_bps=300,
        timeout=IO_TIMEOUT,
        deadline_seconds=DEADLINE,
    )


def x_ads(url: str) -> XAdsClient:
    return XAdsClient(
        base_url=url,
        account_id="18ce54d4x5t",
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_token_secret="ats",
        timeout=IO_TIMEOUT,
        deadline_seconds=DEADLINE,
        retry_backoff_seconds=0.05,
    )


Call = Callable[[str], Awaitable[Any]]


async def _rpc_balance(url: str) -> Any:
    async with rpc(url) as client:
        return await client.get_balance(Pubkey.new_unique())


async def _jupiter_quote(url: str) -> Any:
    async with jupiter(url) as client:
        return await client.quote(1_000_000)


async def _x_ads_accounts(url: str) -> Any:
    async with x_ads(url) as client:
        return await client.accounts()


CALLS: dict[str, tuple[Call, str]] = {
    "rpc": (_rpc_balance, "RPC getBalance"),
    "jupiter": (_jupiter_quote, "Jupiter quote"),
    "x_ads": (_x_ads_accounts, "GET /12/accounts"),
}


@pytest.mark.parametrize("client", sorted(CALLS))
async def test_a_trickling_server_is_cut_at_the_call_deadline(client: str) -> None:
    call, names = CALLS[client]
    async with HostileServer("trickle", every=0.2) as server:
        with pytest.raises(TemporaryError, match="call deadline") as caught:
            await call(server.url)
    assert names in str(caught.value)
    assert len(server.requests) == 1  # the deadline left no time for a second attempt


@pytest.mark.parametrize("client", sorted(CALLS))
async def test_a_hanging_server_ends_the_call_within_its_deadline(client: str) -> None:
    call, names = CALLS[client]
    async with HostileServer("hang") as server:
        with pytest.raises(TemporaryError) as caught:
            await call(server.url)
    assert names.split()[-1] in str(caught.value)
    assert 1 <= len(server.requests) <= 2  # a read timeout, perhaps one retry, then the deadline


@pytest.mark.parametrize("mode", ["hang", "trickle"])
async def test_an_x_ads_create_cut_off_is_an_unknown_outcome_and_not_sent_again(mode: str) -> None:
    async with HostileServer(mode) as server, x_ads(server.url) as client:
        with pytest.raises(XAdsOutcomeUnknown):
            await client.create_campaign(
                name="n", funding_instrument_id="fi", total_budget_micro=1_000_000
            )
    assert len(server.requests) == 1


async def test_an_x_ads_read_cut_off_is_unavailable() -> None:
    async with HostileServer("trickle") as server, x_ads(server.url) as client:
        with pytest.raises(XAdsUnavailable) as caught:
            await client.accounts()
    assert not isinstance(caught.value, XAdsOutcomeUnknown)
