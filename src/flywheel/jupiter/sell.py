"""The reverse direction on Jupiter: sell TOKEN_MINT for SOL (the token2022 ads share).

As the buy does, by JUPITER_SWAP_API: v1 `/swap/v1/quote` (inputMint = TOKEN_MINT, outputMint =
SOL, ExactIn) then `/swap/v1/swap`; v2 `/swap/v2/build` (the same quote fields plus the raw
instructions), composed by us (`flywheel.solana.compose_swap`) with our own fee settings. The
HTTP path (retries, 429s, error translation) is `JupiterClient`'s.
A Token-2022 transfer fee on the token leg is the route's business: Jupiter's outAmount is
already what the pool pays for the amount net of that fee.
"""

from __future__ import annotations

import structlog

from flywheel.domain.sale import SellQuote
from flywheel.errors import OperationalError
from flywheel.jupiter.build import BUILD_PATH, Composer, parse_build
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

    def __init__(self, client: JupiterClient, composer: Composer | None = None) -> None:
        self.client = client
        self.composer = composer  # set: v2 /build, composed by us; None: v1 /quote and /swap

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
        }
        if self.composer is None:
            params["restrictIntermediateTokens"] = "true"
            text = await client._call("GET", QUOTE_PATH, "sell quote", params=params)
        else:
            params["taker"] = client.user_pubkey
            text = await client._call("GET", BUILD_PATH, "sell build", params=params)
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
        if self.composer is not None:
            parse_build(quote.raw)  # refused now, not at signing time, if it cannot be composed
        return quote

    async def transaction(self, quote: SellQuote, memo: str | None = None) -> bytes:
        """The unsigned sale for `quote`: composed by us from /build (with our state `memo`),
        or as v1's /swap builds it (no memo: Jupiter sizes that transaction, as for a buy)."""
        if not quote.raw:
            raise OperationalError("cannot build a sale: the quote carries no Jupiter answer")
        if self.composer is not None:
            return await self.composer.compose(parse_build(quote.raw), memo=memo)
        return await self.client.v1_swap(quote.raw)
