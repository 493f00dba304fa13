"""JupiterClient against the sandbox's Jupiter-compatible API on 127.0.0.1 (real HTTP, real pool).

Faults the sandbox cannot play (5xx answers, dead or silent servers) come from a transport that
sits in front of the real one and lets everything else through to the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal

import httpx
import pytest
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from flywheel.domain.impact import largest_within_impact
from flywheel.domain.trade import Quote
from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError
from flywheel.jupiter.client import SOL_MINT, JupiterApiError, JupiterClient
from flywheel.jupiter.models import impact_bps, parse_swap
from flywheel.sandbox.jupiter.dex import sign_as
from flywheel.sandbox.runner import Sandbox

LAMPORTS_PER_SOL = 1_000_000_000
SLIPPAGE_BPS = 300
API_KEY = "sk-test-0123456789abcdef-secret"


class Recording(httpx.AsyncBaseTransport):
    """The real transport, with every exchange kept and optional fake statuses served first."""

    def __init__(self, fail_with: list[int] | None = None) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fail_with = list(fail_with or [])
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail_with:
            status = self.fail_with.pop(0)
            response = httpx.Response(status, json={"error": "upstream hiccup"}, request=request)
        else:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        self.exchanges.append((request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def statuses(self) -> list[int]:
        return [response.status_code for _, response in self.exchanges]


def _client(
    sandbox: Sandbox,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    token_mint: str | None = None,
    **kwargs: object,
) -> JupiterClient:
    return JupiterClient(
        sandbox.jupiter_url,
        token_mint or str(sandbox.token_mint),
        str(sandbox.executor.pubkey()),
        SLIPPAGE_BPS,
        transport=transport,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def recorded(sandbox: Sandbox) -> AsyncIterator[tuple[JupiterClient, Recording]]:
    transport = Recording()
    async with _client(sandbox, transport, api_key=API_KEY) as client:
        yield client, transport


def _token_balance(sandbox: Sandbox) -> int:
    holdings = sandbox.chain.token_accounts_by_owner(
        sandbox.executor.pubkey(), mint=sandbox.token_mint
    )
    return sum(holding.amount for holding, _ in holdings)


# -- quote ---------------------------------------------------------------------------------------
async def test_quote_reads_the_fields_we_use_and_keeps_the_whole_answer(
    recorded: tuple[JupiterClient, Recording], sandbox: Sandbox
) -> None:
    client, transport = recorded
    quote = await client.quote(LAMPORTS_PER_SOL)

    request, response = transport.exchanges[-1]
    assert request.url.path == "/swap/v1/quote"
    assert dict(request.url.params) == {
        "inputMint": SOL_MINT,
        "outputMint": str(sandbox.token_mint),
        "amount": str(LAMPORTS_PER_SOL),
        "slippageBps": str(SLIPPAGE_BPS),
        "swapMode": "ExactIn",
        "restrictIntermediateTokens": "true",
    }
    answer = json.loads(response.text)
    assert quote.raw == answer  # unknown fields (routePlan, contextSlot, timeTaken...) included
    assert {"routePlan", "contextSlot", "timeTaken", "platformFee"} <= quote.raw.keys()
    assert quote.in_lamports == LAMPORTS_PER_SOL
    assert quote.out_amount == int(answer["outAmount"]) > 0
    assert quote.min_out_amount == int(answer["otherAmountThreshold"])
    assert quote.min_out_amount == quote.out_amount * (10_000 - SLIPPAGE_BPS) // 10_000
    assert quote.slippage_bps == SLIPPAGE_BPS
    # 1 SOL into a 100 SOL pool moves the price by about 1%: 0.0098... rounds up to 99 bps.
    pct = Decimal(answer["priceImpactPct"])
    assert Decimal(quote.price_impact_bps - 1) < pct * 10_000 <= Decimal(quote.price_impact_bps)
    assert quote.price_impact_bps == 99


@pytest.mark.parametrize(
    ("pct", "bps"),
    [("0", 0), ("0.0001", 1), ("0.00010001", 2), ("0.0098", 98), ("0.5", 5000), ("-0.002", 0)],
)
def test_price_impact_rounds_up_so_a_limit_is_never_under_counted(pct: str, bps: int) -> None:
    assert impact_bps(pct) == bps


async def test_jupiter_error_codes_become_operational_errors_naming_the_code(
    sandbox: Sandbox,
) -> None:
    unknown_mint = str(Keypair().pubkey())
    async with _client(sandbox, token_mint=unknown_mint) as client:
        with pytest.raises(JupiterApiError, match="NO_ROUTES_FOUND") as caught:
            await client.quote(LAMPORTS_PER_SOL)
    assert isinstance(caught.value, OperationalError)
    assert caught.value.code == "NO_ROUTES_FOUND"
    assert caught.value.status == 400


async def test_an_answer_for_another_amount_or_mint_is_refused(
    recorded: tuple[JupiterClient, Recording], sandbox: Sandbox
) -> None:
    client, _ = recorded
    quote = await client.quote(LAMPORTS_PER_SOL)
    # The swap endpoint checks what it is handed back: a quote for a foreign mint is refused.
    foreign = Quote(
        in_lamports=quote.in_lamports,
        out_amount=quote.out_amount,
        min_out_amount=quote.min_out_amount,
        price_impact_bps=quote.price_impact_bps,
        slippage_bps=quote.slippage_bps,
        raw={**quote.raw, "outputMint": str(Keypair().pubkey())},
    )
    with pytest.raises(JupiterApiError, match="INVALID_QUOTE"):
        await client.swap_transaction(foreign)
    with pytest.raises(OperationalError, match="no Jupiter answer"):
        await client.swap_transaction(Quote(1, 1, 1, 0, 0))


# -- swap ----------------------------------------------------------------------------------------
async def test_swap_sends_the_quote_back_unchanged_and_pays_exactly_the_quoted_amounts(
    recorded: tuple[JupiterClient, Recording], sandbox: Sandbox
) -> None:
    client, transport = recorded
    quote = await client.quote(LAMPORTS_PER_SOL // 2)
    quote_text = transport.exchanges[-1][1].text

    unsigned = await client.swap_transaction(quote)

    request, _ = transport.exchanges[-1]
    assert request.url.path == "/swap/v1/swap"
    body = json.loads(request.content)
    assert body["quoteResponse"] == json.loads(quote_text)  # byte-for-byte the same values
    assert body["userPublicKey"] == str(sandbox.executor.pubkey())
    assert body["wrapAndUnwrapSol"] is True
    assert body["dynamicComputeUnitLimit"] is True
    assert body["prioritizationFeeLamports"] == {
        "priorityLevelWithMaxLamports": {"priorityLevel": "high", "maxLamports": 1_000_000}
    }

    tx = VersionedTransaction.from_bytes(unsigned)
    assert tx.message.account_keys[0] == sandbox.executor.pubkey()  # we pay the fee
    sol_before = sandbox.chain.balance(sandbox.executor.pubkey())
    tokens_before = _token_balance(sandbox)
    sandbox.chain.send(sign_as(tx, sandbox.executor))
    assert _token_balance(sandbox) - tokens_before == quote.out_amount
    spent = sol_before - sandbox.chain.balance(sandbox.executor.pubkey())
    fees_and_rent = spent - quote.in_lamports
    assert 0 < fees_and_rent < 3_000_000  # signature + priority fee + the new token account


async def test_a_swap_jupiter_expects_to_fail_is_refused(
    recorded: tuple[JupiterClient, Recording],
) -> None:
    client, transport = recorded
    await client.swap_transaction(await client.quote(LAMPORTS_PER_SOL))
    answer = json.loads(transport.exchanges[-1][1].text)
    assert answer["simulationError"] is None
    # The sandbox never predicts a failure, so its real answer gets Jupiter's documented
    # simulationError and goes through the parser the client uses.
    answer["simulationError"] = {"errorCode": "TRANSACTION_ERROR", "error": "custom error 0x1771"}
    with pytest.raises(JupiterApiError, match=r"TRANSACTION_ERROR.*0x1771") as caught:
        parse_swap(json.dumps(answer))
    assert caught.value.code == "TRANSACTION_ERROR"
    answer["simulationError"] = "Slippage tolerance exceeded"
    with pytest.raises(JupiterApiError, match="Slippage tolerance exceeded"):
        parse_swap(json.dumps(answer))
    answer["simulationError"] = None
    answer["swapTransaction"] = "%%%"
    with pytest.raises(OperationalError, match="not valid base64"):
        parse_swap(json.dumps(answer))


# -- prices --------------------------------------------------------------------------------------
async def test_prices_are_decimals_from_one_request(
    recorded: tuple[JupiterClient, Recording], sandbox: Sandbox
) -> None:
    client, transport = recorded
    sol, token = await client.prices()

    request, response = transport.exchanges[-1]
    assert len(transport.exchanges) == 1
    assert request.url.path == "/price/v3"
    assert request.url.params["ids"] == f"{SOL_MINT},{sandbox.token_mint}"
    assert isinstance(sol, Decimal)
    assert isinstance(token, Decimal)
    assert sol == Decimal(150)
    # Read from the JSON text, never through a float: the same digits as the wire.
    wire = response.text
    token_text = wire.split(f'"{sandbox.token_mint}":{{"usdPrice":', 1)[1].split(",", 1)[0]
    assert token == Decimal(token_text)
    reserves = sandbox.pool.reserves(sandbox.chain)
    expected = Decimal(reserves.sol) / 10**9 / (Decimal(reserves.token) / 10**6) * 150
    assert abs(token - expected) / expected < Decimal("1e-12")
    assert await client.sol_usd() == sol
    assert await client.token_usd() == token


async def test_a_mint_jupiter_cannot_price_is_none(sandbox: Sandbox) -> None:
    async with _client(sandbox, token_mint=str(Keypair().pubkey())) as client:
        assert await client.token_usd() is None
        assert await client.sol_usd() == Decimal(150)


# -- rate limits, retries, foreign errors ---------------------------------------------------------
async def test_a_429_is_waited_out_until_x_ratelimit_reset(sandbox: Sandbox) -> None:
    transport = Recording()
    sandbox.faults.update(jupiter_429_rate=1.0)

    async def lift_the_limit() -> None:
        # Another task lifts the limit while the client waits for the reset it was given.
        await asyncio.sleep(0.3)
        sandbox.faults.update(jupiter_429_rate=0.0)

    async with _client(sandbox, transport) as client:
        started = time.monotonic()
        lifter = asyncio.create_task(lift_the_limit())
        quote = await client.quote(LAMPORTS_PER_SOL)
        elapsed = time.monotonic() - started
        await lifter

    first_429 = transport.exchanges[0][1]
    assert first_429.status_code == 429
    reset = int(first_429.headers["x-ratelimit-reset"])
    assert transport.statuses() == [429, 200]
    assert quote.out_amount > 0
    # The sandbox's reset is whole seconds 2 ahead: the client waited for it, not longer.
    assert elapsed >= 0.9
    assert time.time() >= reset - 0.05
    assert elapsed < 3.0


async def test_a_reset_beyond_the_max_wait_raises_rate_limited_at_once(sandbox: Sandbox) -> None:
    sandbox.faults.update(jupiter_429_rate=1.0)
    transport = Recording()
    async with _client(sandbox, transport, max_rate_limit_wait_seconds=0.5) as client:
        started = time.monotonic()
        with pytest.raises(RateLimited) as caught:
            await client.sol_usd()
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after is not None
    assert 0.5 < caught.value.retry_after <= 2.1
    assert transport.statuses() == [429]


async def test_5xx_is_retried_with_backoff_then_succeeds(sandbox: Sandbox) -> None:
    transport = Recording(fail_with=[503, 502])
    async with _client(sandbox, transport) as client:
        quote = await client.quote(LAMPORTS_PER_SOL)
    assert transport.statuses() == [503, 502, 200]
    assert quote.out_amount > 0


async def test_persistent_5xx_becomes_a_temporary_error_after_a_few_tries(
    sandbox: Sandbox,
) -> None:
    transport = Recording(fail_with=[503] * 10)
    async with _client(sandbox, transport) as client:
        with pytest.raises(TemporaryError, match="HTTP 503") as caught:
            await client.quote(LAMPORTS_PER_SOL)
    assert not isinstance(caught.value, RateLimited)
    assert transport.statuses() == [503] * 4


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(("server", "endpoint"), [("silent", "quote"), ("closed", "price")])
async def test_nothing_from_httpx_escapes(
    server: str, endpoint: str, silent_port: int, closed_port: int
) -> None:
    port = silent_port if server == "silent" else closed_port
    client = JupiterClient(
        f"http://127.0.0.1:{port}",
        str(Keypair().pubkey()),
        str(Keypair().pubkey()),
        SLIPPAGE_BPS,
        api_key=API_KEY,
        timeout=0.2,
    )
    call: Callable[[], Awaitable[object]] = (
        client.sol_usd if endpoint == "price" else lambda: client.quote(LAMPORTS_PER_SOL)
    )
    async with client:
        with pytest.raises(FlywheelError) as caught:
            await call()
    error = caught.value
    assert isinstance(error, TemporaryError)
    expected = "no answer within 0.2s" if server == "silent" else "cannot reach"
    assert expected in str(error)
    # httpx's exception stays out of tracebacks and messages (`raise ... from None`).
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert API_KEY not in str(error)


# -- the API key -----------------------------------------------------------------------------------
async def test_the_api_key_is_sent_as_a_header_and_never_shown(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    transport = Recording()
    async with _client(
        sandbox, transport, api_key=API_KEY, max_rate_limit_wait_seconds=0.5
    ) as client:
        await client.quote(LAMPORTS_PER_SOL)
        sandbox.faults.update(jupiter_429_rate=1.0)
        with pytest.raises(RateLimited) as limited:
            await client.prices()
        assert API_KEY not in repr(client)
    assert all(req.headers["x-api-key"] == API_KEY for req, _ in transport.exchanges)
    shown = capsys.readouterr()
    assert API_KEY not in shown.out + shown.err + caplog.text + str(limited.value)

    sandbox.faults.update(jupiter_429_rate=0.0)
    keyless = Recording()
    async with _client(sandbox, keyless) as client:
        await client.sol_usd()
    assert "x-api-key" not in keyless.exchanges[0][0].headers


# -- sizing to the impact limit (runbook scenario 4) ----------------------------------------------
async def test_bisection_finds_the_largest_buy_within_the_impact_limit(sandbox: Sandbox) -> None:
    transport = Recording()
    async with _client(sandbox, transport) as client:
        wanted = 20 * LAMPORTS_PER_SOL  # a fifth of the 100 SOL pool: ~17% impact
        first = await client.quote(wanted)
        assert first.price_impact_bps > 1_000
        sized = await largest_within_impact(first, client.quote, max_impact_bps=300)
        assert sized is not None
        quotes_taken = len(transport.exchanges)
        assert quotes_taken <= 1 + 8
        assert sized.price_impact_bps <= 300
        # Within 1% of the original amount of the true limit: a step more is over it.
        over = await client.quote(sized.in_lamports + wanted // 100)
        assert over.price_impact_bps > 300
        # About 3.1 SOL moves a 100 SOL constant-product pool by 3% (fee excluded).
        assert 2.9 * LAMPORTS_PER_SOL < sized.in_lamports < 3.2 * LAMPORTS_PER_SOL

        nothing = await largest_within_impact(first, client.quote, max_impact_bps=0)
        assert nothing is None
