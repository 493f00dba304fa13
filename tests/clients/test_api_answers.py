"""Jupiter and X Ads answers of any shape, junk and null included, end in our error tree with
a message naming the call; nothing from httpx or pydantic escapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from solders.pubkey import Pubkey

from flywheel.ads.x_ads.client import XAdsClient
from flywheel.domain.trade import Quote
from flywheel.errors import FlywheelError
from flywheel.jupiter.client import JupiterClient
from tests.clients.hostile import FakeTime, HostileServer

BODIES = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"<html>oops</html>",
    b'{"data": null}',
    b'{"data": [null, 1, "x"]}',
    b'{"error": null, "errorCode": null}',
    b'{"errors": "not a list"}',
    b'{"outAmount": null, "inAmount": {}}',
    b'{"swapTransaction": null}',
    b"9" * 5000,
]
STATUSES = [200, 404, 500]


def _quote() -> Quote:
    return Quote(
        in_lamports=1_000,
        out_amount=10,
        min_out_amount=9,
        price_impact_bps=1,
        slippage_bps=300,
        raw={"inAmount": "1000"},
    )


def jupiter(url: str, time: FakeTime) -> JupiterClient:
    client = JupiterClient(
        url, str(Pubkey.new_unique()), str(Pubkey.new_unique()), 300, timeout=1, deadline_seconds=2
    )
    client.retry = time.drive(client.retry)
    return client


def x_ads(url: str, time: FakeTime) -> XAdsClient:
    client = XAdsClient(
        base_url=url,
        account_id="18ce54d4x5t",
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_token_secret="ats",
        timeout=1,
        deadline_seconds=2,
    )
    client._transport.retry = time.drive(client._transport.retry)
    return client


Use = Callable[[Any], Awaitable[Any]]
CALLS: dict[str, tuple[Callable[[str, FakeTime], Any], Use, str]] = {
    "jupiter.quote": (jupiter, lambda c: c.quote(1_000), "Jupiter quote"),
    "jupiter.swap": (jupiter, lambda c: c.swap_transaction(_quote()), "Jupiter swap"),
    "jupiter.price": (jupiter, lambda c: c.prices(), "Jupiter price"),
    "x_ads.accounts": (x_ads, lambda c: c.accounts(), "/12/accounts"),
    "x_ads.create": (
        x_ads,
        lambda c: c.create_campaign(name="n", funding_instrument_id="f", total_budget_micro=1),
        "/campaigns",
    ),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
async def test_any_answer_is_a_result_or_one_of_our_errors(
    call: str, status: int, body: bytes
) -> None:
    make, use, names = CALLS[call]
    error: FlywheelError | None = None
    result: Any = None
    async with HostileServer(status=status, body=body) as server:
        client = make(server.url, FakeTime())
        try:
            result = await use(client)
        except FlywheelError as exc:
            error = exc
        finally:
            await client.aclose()
    if error is not None:
        assert names in str(error), error
    else:  # an answer we accept must be one we can use
        assert result is not None and not isinstance(result, Decimal | str)
