"""Reading Jupiter's answers: strict on the fields we use, blind to the rest.

Only the fields the flywheel acts on are checked (amounts, mints, slippage, impact, the swap
transaction, prices). The quote itself is kept whole, unknown fields included, because the swap
endpoint wants it back unchanged and the response has gained and lost fields over time.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from solders.transaction import VersionedTransaction

from flywheel.domain.trade import Quote
from flywheel.errors import JupiterApiError, OperationalError

SOL_MINT = "So11111111111111111111111111111111111111112"
BPS = 10_000
U64_MAX = 2**64 - 1  # amounts on Solana are u64: anything larger is a lie, not a big number
_MAX_MESSAGE = 300  # Jupiter's error texts go into reports; keep them readable


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


def decode_json(text: str, where: str, *, decimals: bool = False) -> Any:
    """JSON text to Python; with `decimals`, every non-integer number becomes a Decimal."""
    try:
        if decimals:
            return json.loads(text, parse_float=Decimal)
        return json.loads(text)
    except ValueError:
        raise OperationalError(
            f"Jupiter {where}: the answer is not JSON: {_clip(text)!r}"
        ) from None


def error_of(body: Any) -> tuple[str | None, str] | None:
    """(errorCode, message) when `body` is one of Jupiter's error answers, else None."""
    if not isinstance(body, dict):
        return None
    code = body.get("errorCode")
    message = body.get("error")
    if code is None and message is None:
        return None
    code_text = None if code is None else str(code)
    message_text = message if isinstance(message, str) else json.dumps(message, default=str)
    return code_text, _clip(message_text)


def api_error(where: str, body: Any, status: int) -> JupiterApiError:
    """The clearest error we can make of a refusal: Jupiter's code first, then its message."""
    found = error_of(body)
    if found is None:
        text = _clip(json.dumps(body, default=str)) if body is not None else ""
        return JupiterApiError(f"Jupiter {where} failed with HTTP {status}: {text}", status=status)
    code, message = found
    label = code or "error"
    return JupiterApiError(
        f"Jupiter {where} refused ({label}, HTTP {status}): {message}", code=code, status=status
    )


def _int_field(body: dict[str, Any], name: str) -> int:
    """Jupiter sends amounts as strings of integers; accept a JSON integer too, nothing else."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise OperationalError(f"Jupiter quote: {name} is missing or not an integer: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise OperationalError(f"Jupiter quote: {name} is not an integer: {value!r}") from None
    if number < 0:
        raise OperationalError(f"Jupiter quote: {name} is negative: {number}")
    if number > U64_MAX:
        raise OperationalError(f"Jupiter quote: {name} {number} does not fit a u64")
    return number


def impact_bps(value: Any) -> int:
    """priceImpactPct (a decimal fraction: 0.01 = 1%) in basis points, rounded up.

    Rounding up means a limit check never under-counts the impact; a negative impact (the
    route beats the reference price) counts as none.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise OperationalError(f"Jupiter quote: priceImpactPct is not a number: {value!r}")
    try:
        fraction = Decimal(value)
    except InvalidOperation:
        raise OperationalError(
            f"Jupiter quote: priceImpactPct is not a number: {value!r}"
        ) from None
    if not fraction.is_finite():
        raise OperationalError(f"Jupiter quote: priceImpactPct is not finite: {value!r}")
    bps = int((fraction * BPS).to_integral_value(rounding=ROUND_CEILING))
    return max(bps, 0)


def parse_quote(text: str, *, in_lamports: int, output_mint: str, max_slippage_bps: int) -> Quote:
    """A SOL -> token ExactIn quote; refuses an answer that is not the quote we asked for."""
    checked = decode_json(text, "quote", decimals=True)
    if not isinstance(checked, dict):
        raise OperationalError(f"Jupiter quote: expected an object, got {_clip(text)!r}")
    if error_of(checked) is not None and "outAmount" not in checked:
        raise api_error("quote", checked, 200)
    for name, expected in (("inputMint", SOL_MINT), ("outputMint", output_mint)):
        if checked.get(name) != expected:
            raise OperationalError(
                f"Jupiter quote: {name} is {checked.get(name)!r}, expected {expected}"
            )
    if checked.get("swapMode") != "ExactIn":
        raise OperationalError(
            f"Jupiter quote: swapMode is {checked.get('swapMode')!r}, expected ExactIn (we fix "
            "the input and check the output)"
        )
    in_amount = _int_field(checked, "inAmount")
    if in_amount != in_lamports:
        raise OperationalError(
            f"Jupiter quote: inAmount {in_amount} differs from the {in_lamports} lamports asked"
        )
    out_amount = _int_field(checked, "outAmount")
    min_out = _int_field(checked, "otherAmountThreshold")
    if min_out > out_amount:
        raise OperationalError(
            f"Jupiter quote: otherAmountThreshold {min_out} exceeds outAmount {out_amount}"
        )
    slippage = checked.get("slippageBps")
    if isinstance(slippage, bool) or not isinstance(slippage, int):
        raise OperationalError(f"Jupiter quote: slippageBps is not an integer: {slippage!r}")
    if not 0 <= slippage <= max_slippage_bps:
        raise OperationalError(
            f"Jupiter quote: slippageBps {slippage} is outside the allowed 0..{max_slippage_bps}"
        )
    # The kept copy uses plain JSON types, so it survives any JSON round trip (state database,
    # reports) and goes back to Jupiter as it came; no price is read from it.
    raw = decode_json(text, "quote")
    return Quote(
        in_lamports=in_amount,
        out_amount=out_amount,
        min_out_amount=min_out,
        price_impact_bps=impact_bps(checked.get("priceImpactPct")),
        slippage_bps=slippage,
        raw=raw,
    )


def parse_swap(text: str) -> bytes:
    """The serialized transaction from a swap answer; refuses one Jupiter says will fail."""
    body = decode_json(text, "swap")
    if not isinstance(body, dict):
        raise OperationalError(f"Jupiter swap: expected an object, got {_clip(text)!r}")
    if "swapTransaction" not in body and error_of(body) is not None:
        raise api_error("swap", body, 200)
    simulation_error = body.get("simulationError")
    if simulation_error is not None:
        found = error_of(simulation_error)
        detail = (
            f"{found[0] or 'error'}: {found[1]}"
            if found is not None
            else _clip(json.dumps(simulation_error, default=str))
        )
        raise JupiterApiError(
            f"Jupiter swap: the transaction fails in Jupiter's simulation ({detail}); not used",
            code=found[0] if found is not None else None,
        )
    encoded = body.get("swapTransaction")
    if not isinstance(encoded, str) or not encoded:
        raise OperationalError("Jupiter swap: swapTransaction is missing or empty")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise OperationalError("Jupiter swap: swapTransaction is not valid base64") from None
    try:
        VersionedTransaction.from_bytes(raw)
    except ValueError:
        raise OperationalError(
            "Jupiter swap: swapTransaction is not a serialized transaction"
        ) from None
    return raw


def parse_prices(text: str, mints: tuple[str, ...]) -> dict[str, Decimal | None]:
    """usdPrice per mint from a Price V3 answer; None where Jupiter has no reliable price."""
    body = decode_json(text, "price", decimals=True)
    if not isinstance(body, dict):
        raise OperationalError(f"Jupiter price: expected an object, got {_clip(text)!r}")
    if error_of(body) is not None and not any(m in body for m in mints):
        raise api_error("price", body, 200)
    prices: dict[str, Decimal | None] = {}
    for mint in mints:
        entry = body.get(mint)
        if entry is None:
            prices[mint] = None  # omitted: no reliable price
            continue
        if not isinstance(entry, dict):
            raise OperationalError(f"Jupiter price: entry for {mint} is not an object")
        value = entry.get("usdPrice")
        if value is None:
            prices[mint] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise OperationalError(f"Jupiter price: usdPrice of {mint} is not a number: {value!r}")
        try:
            price = Decimal(value)
        except InvalidOperation:
            raise OperationalError(
                f"Jupiter price: usdPrice of {mint} is not a number: {value!r}"
            ) from None
        prices[mint] = price if price.is_finite() and price > 0 else None
    return prices
