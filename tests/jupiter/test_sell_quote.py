"""The sale's quote (token -> SOL): Jupiter's answer read strictly, our minimum computed by us.

A lying or broken API: the wrong direction, another amount, a threshold looser than ours, a
threshold above the output, numbers that are not integers or do not fit a u64, an error body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flywheel.domain.sale import SellQuote, check_sell_quote
from flywheel.errors import GuardRefused, JupiterApiError, OperationalError
from flywheel.jupiter.models import SOL_MINT
from flywheel.jupiter.sell import parse_sell_quote

TOKEN = "Fee2022Token1111111111111111111111111111111"


def answer(**changes: Any) -> str:
    body: dict[str, Any] = {
        "inputMint": TOKEN,
        "inAmount": "5000",
        "outputMint": SOL_MINT,
        "outAmount": "1000000",
        "otherAmountThreshold": "970000",
        "swapMode": "ExactIn",
        "slippageBps": 300,
        "priceImpactPct": "0.0012",
        "routePlan": [],
        "somethingNew": {"kept": True},
    }
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None})


def parse(text: str) -> SellQuote:
    return parse_sell_quote(text, in_tokens=5000, token_mint=TOKEN, max_slippage_bps=300)


def test_an_honest_answer_is_read_and_kept_whole() -> None:
    quote = parse(answer())
    assert (quote.in_tokens, quote.out_lamports, quote.min_out_lamports) == (5000, 10**6, 970_000)
    assert quote.price_impact_bps == 12 and quote.slippage_bps == 300
    assert quote.raw["somethingNew"] == {"kept": True}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"inputMint": SOL_MINT, "outputMint": TOKEN}, "inputMint"),  # a buy, not a sale
        ({"outputMint": TOKEN}, "outputMint"),
        ({"inAmount": "5001"}, "inAmount 5001 differs"),
        ({"otherAmountThreshold": "1000001"}, "exceeds outAmount"),
        ({"outAmount": "1.5"}, "not an integer"),
        ({"outAmount": None}, "missing"),
        ({"outAmount": str(2**64)}, "does not fit a u64"),
        ({"slippageBps": 301}, "outside"),
        ({"swapMode": "ExactOut"}, "ExactIn"),
        ({"priceImpactPct": "NaN"}, "not finite"),
    ],
)
def test_a_lying_answer_is_refused(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(OperationalError, match=match):
        parse(answer(**changes))


@pytest.mark.parametrize("text", ["null", "[]", "not json", '"text"'])
def test_a_malformed_answer_is_refused(text: str) -> None:
    with pytest.raises(OperationalError):
        parse(text)


def test_an_error_body_is_jupiters_refusal() -> None:
    body = json.dumps({"error": "No routes found", "errorCode": "NO_ROUTES_FOUND"})
    with pytest.raises(JupiterApiError, match="NO_ROUTES_FOUND"):
        parse(body)


def quote(**changes: int) -> SellQuote:
    fields = {"in_tokens": 5000, "out_lamports": 1_000_000, "min_out_lamports": 970_000}
    fields.update(changes)
    return SellQuote(
        in_tokens=fields["in_tokens"],
        out_lamports=fields["out_lamports"],
        min_out_lamports=fields["min_out_lamports"],
        price_impact_bps=0,
        slippage_bps=300,
    )


def test_our_minimum_is_ours_and_a_looser_threshold_is_refused() -> None:
    assert check_sell_quote(quote(), asked_tokens=5000, max_slippage_bps=300) == 970_000
    with pytest.raises(GuardRefused, match="below our minimum 970000"):
        check_sell_quote(quote(min_out_lamports=969_999), asked_tokens=5000, max_slippage_bps=300)
    # A tighter threshold than ours is the API's business: our minimum stays ours.
    tight = quote(min_out_lamports=990_000)
    assert check_sell_quote(tight, asked_tokens=5000, max_slippage_bps=300) == 970_000


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"in_tokens": 4999}, "differs"),
        ({"out_lamports": 0, "min_out_lamports": 0}, "would pay no SOL"),
        ({"out_lamports": 2**64}, "does not fit a u64"),
    ],
)
def test_a_quote_that_is_not_the_one_asked_is_refused(changes: dict[str, int], match: str) -> None:
    with pytest.raises(GuardRefused, match=match):
        check_sell_quote(quote(**changes), asked_tokens=5000, max_slippage_bps=300)
