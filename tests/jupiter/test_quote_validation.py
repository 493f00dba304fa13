"""parse_quote refuses a quote that is not the one asked for: lying, malformed or out of range."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flywheel.errors import OperationalError
from flywheel.jupiter.models import SOL_MINT, U64_MAX, parse_quote

MINT = "Cg1HjYVBtQkgNo24a6kUYuUEa7XS4DKVtr3o3VBZYZ6z"
ASKED = 50_000_000


def answer(**changes: Any) -> str:
    body: dict[str, Any] = {
        "inputMint": SOL_MINT,
        "inAmount": str(ASKED),
        "outputMint": MINT,
        "outAmount": "1000000",
        "otherAmountThreshold": "970000",
        "swapMode": "ExactIn",
        "slippageBps": 300,
        "priceImpactPct": "0.001",
        "routePlan": [],
    }
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None})


def parse(text: str) -> Any:
    return parse_quote(text, in_lamports=ASKED, output_mint=MINT, max_slippage_bps=300)


def test_an_honest_quote_is_read() -> None:
    quote = parse(answer())
    assert (quote.in_lamports, quote.out_amount, quote.min_out_amount) == (ASKED, 10**6, 970_000)


@pytest.mark.parametrize("mode", ["ExactOut", "exactin", None, 1])
def test_only_exact_in_is_accepted(mode: object) -> None:
    with pytest.raises(OperationalError, match=r"swapMode is .* expected ExactIn"):
        parse(answer(swapMode=mode))


@pytest.mark.parametrize("name", ["inAmount", "outAmount", "otherAmountThreshold"])
def test_amounts_beyond_a_u64_are_refused(name: str) -> None:
    with pytest.raises(OperationalError, match=f"{name} {U64_MAX + 1} does not fit a u64"):
        parse(answer(**{name: str(U64_MAX + 1)}))


def test_the_largest_u64_is_still_a_number() -> None:
    text = answer(outAmount=str(U64_MAX), otherAmountThreshold=str(U64_MAX))
    assert parse(text).out_amount == U64_MAX


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("inputMint", MINT, "inputMint is"),
        ("outputMint", SOL_MINT, "outputMint is"),
        ("inAmount", str(ASKED + 1), "differs from the 50000000 lamports asked"),
        ("otherAmountThreshold", "1000001", "exceeds outAmount"),
        ("outAmount", "-5", "is negative"),
        ("outAmount", "1e6", "not an integer"),
    ],
)
def test_a_quote_for_something_else_is_refused(field: str, value: str, expected: str) -> None:
    with pytest.raises(OperationalError, match=expected):
        parse(answer(**{field: value}))
