"""The reverse direction on Jupiter: sell TOKEN_MINT for SOL (the token2022 ads share).

Metis v1 `/swap/v1/quote` (inputMint = TOKEN_MINT, outputMint = SOL, ExactIn) and
`/swap/v1/swap`, in both JUPITER_SWAP_API modes: the sale is one plain swap with no burn of ours
to compose into it, so /build would add nothing, and v1 "remains available" (see
docs/fee-sources.md). The HTTP path (retries, 429s, error translation) is `JupiterClient`'s.
A Token-2022 transfer fee on the token leg is the route's business: Jupiter's outAmount is
already what the pool pays for the amount net of that fee.
"""

from __future__ import annotations

import structlog

from flywheel.domain.sale import SellQuote
from flywheel.errors import OperationalError
from flywheel.jupiter.client import JupiterClient
from flywheel.jupiter.models import (
    SOL_MINT,
    _int_field,
    api_error,
    decode_json,
    error_of,
    impact_bps,
)

log = structlog.get_logger("flywheel.jupiter")

QUOTE_PATH = "/swap/v1/quote"


def parse_sell_quote(
    text: str, *, in_tokens: int, token_mint: str, max_slippage_bps: int
) -> SellQuote:
    """A token -> SOL ExactIn quote; refuses an answer that is not the quote we asked for."""
    body = decode_json(text, "sell quote", decimals=True)
    if not isinstance(body, dict):
        raise OperationalError("Jupiter sell quote: expected an object")
    if error_of(body) is not None and "outAmount" not in body:
        raise api_error("sell quote", body, 200)
    for name, expected in (("inputMint", token_mint), ("outputMint", SOL_MINT)):
        if body.get(name) != expected:
            raise OperationalError(
                f"Jupiter sell quote: {name} is {body.get(name)!r}, expected {expected}"
            )
    if body.get("swapMode") != "ExactIn":
        raise OperationalError(
            f"Jupiter sell quote: swapMode is {body.get('swapMode')!r}, expected ExactIn"
        )
    in_amount = _int_field(body, "inAmount")
    if in_amount != in_tokens:
        raise OperationalError(
            f"Jupiter sell quote: inAmount {in_amount} differs from the {in_tokens} tokens asked"
        )
    out_amount = _int_field(body, "outAmount")
    threshold = _int_field(body, "otherAmountThreshold")
    if threshold > out_amount:
        raise OperationalError(
            f"Jupiter sell quote: otherAmountThreshold {threshold} exceeds outAmount {out_amount}"
        )
    slippage = body.get("slippageBps")
    if isinstance(slippage, bool) or not isinstance(slippage, int):
        raise OperationalError(f"Jupiter sell quote: slippageBps is not an integer: {slippage!r}")
    if not 0 <= slippage <= max_slippage_bps:
        raise OperationalError(
            f"Jupiter sell quote: slippageBps {slippage} is outside 0..{max_slippage_bps}"
        )
    return SellQuote(
        in_tokens=in_amount,
        out_lamports=out_amount,
        min_out_lamports=threshold,
        price_impact_bps=impact_bps(body.get("priceImpactPct")),
        slippage_bps=slippage,
        # Plain JSON types: it survives the state database and goes back to Jupiter as it came.
        raw=decode_json(text, "sell quote"),
    )


class JupiterSeller:
    """Quotes and builds token -> SOL swaps through an existing `JupiterClient`."""

    def __init__(self, client: JupiterClient) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"JupiterSeller({self.client!r})"

    async def quote(self, in_tokens: int) -> SellQuote:
        if in_tokens <= 0:
            raise OperationalError(f"cannot quote a sale of {in_tokens} tokens: must be positive")
        client = self.client
        params = {
            "inputMint": client.token_mint,
            "outputMint": SOL_MINT,
            "amount": str(in_tokens),
            "slippageBps": str(client.max_slippage_bps),
            "swapMode": "ExactIn",
            "restrictIntermediateTokens": "true",
        }
        text = await client._call("GET", QUOTE_PATH, "sell quote", params=params)
        quote = parse_sell_quote(
            text,
            in_tokens=in_tokens,
            token_mint=client.token_mint,
            max_slippage_bps=client.max_slippage_bps,
        )
        log.debug(
            "jupiter sell quote",
            in_tokens=quote.in_tokens,
            out_lamports=quote.out_lamports,
            min_out_lamports=quote.min_out_lamports,
        )
        return quote

    async def transaction(self, quote: SellQuote) -> bytes:
        """The unsigned sale Jupiter builds for `quote` (the same /swap call as a buy)."""
        if not quote.raw:
            raise OperationalError("cannot build a sale: the quote carries no Jupiter answer")
        return await self.client.v1_swap(quote.raw)
