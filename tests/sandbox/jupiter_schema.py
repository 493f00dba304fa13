"""The parts of Jupiter's published OpenAPI schemas the flywheel relies on, as JSON Schema.

Transcribed from jup-ag/docs `openapi-spec/swap/v1/swap.yaml` (QuoteResponse, RoutePlanStep,
SwapInfo, PlatformFee, SwapResponse) and `openapi-spec/price/v3/price.yaml` (the per-mint entry).
OpenAPI 3.0's `nullable: true` becomes a `null` type here. One deliberate widening: the spec's
`platformFee` is a PlatformFee object without `nullable`, but the live API answers
`"platformFee": null` when no platform fee applies, and clients must accept that, so null is
allowed. Everything else is as published, including what is optional.
"""

from __future__ import annotations

from typing import Any

_UINT = {"type": "integer", "minimum": 0}
_AMOUNT = {"type": "string", "pattern": "^[0-9]+$"}  # "Amounts are strings of integers"

SWAP_INFO: dict[str, Any] = {
    "type": "object",
    "required": ["ammKey", "inputMint", "outputMint", "inAmount", "outAmount"],
    "properties": {
        "ammKey": {"type": "string"},
        "label": {"type": "string"},
        "inputMint": {"type": "string"},
        "outputMint": {"type": "string"},
        "inAmount": _AMOUNT,
        "outAmount": _AMOUNT,
        "feeAmount": {"type": ["string", "null"]},
        "feeMint": {"type": ["string", "null"]},
    },
}

ROUTE_PLAN_STEP: dict[str, Any] = {
    "type": "object",
    "required": ["swapInfo"],
    "properties": {
        "swapInfo": SWAP_INFO,
        "percent": {"type": ["integer", "null"], "minimum": 0, "maximum": 255},
        "bps": {**_UINT, "maximum": 65535},
    },
}

PLATFORM_FEE: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {"amount": {"type": "string"}, "feeBps": {**_UINT, "maximum": 65535}},
}

QUOTE_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": [
        "inputMint",
        "outputMint",
        "inAmount",
        "outAmount",
        "otherAmountThreshold",
        "swapMode",
        "slippageBps",
        "priceImpactPct",
        "routePlan",
    ],
    "properties": {
        "inputMint": {"type": "string"},
        "inAmount": _AMOUNT,
        "outputMint": {"type": "string"},
        "outAmount": _AMOUNT,
        "otherAmountThreshold": _AMOUNT,
        "swapMode": {"type": "string", "enum": ["ExactIn", "ExactOut"]},
        "slippageBps": {**_UINT, "maximum": 65535},
        "platformFee": PLATFORM_FEE,
        "priceImpactPct": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
        "routePlan": {"type": "array", "items": ROUTE_PLAN_STEP},
        "contextSlot": _UINT,
        "timeTaken": {"type": "number"},
    },
}

SWAP_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["swapTransaction", "lastValidBlockHeight"],
    "properties": {
        "swapTransaction": {"type": "string", "contentEncoding": "base64"},
        "lastValidBlockHeight": _UINT,
        "prioritizationFeeLamports": _UINT,
    },
}

PRICE_V3_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["decimals", "usdPrice"],
    "properties": {
        "blockId": {"type": ["integer", "null"]},
        "decimals": {"type": "integer"},
        "usdPrice": {"type": "number"},
        "priceChange24h": {"type": ["number", "null"]},
    },
}

PRICE_V3_RESPONSE: dict[str, Any] = {"type": "object", "additionalProperties": PRICE_V3_ENTRY}

# What the brief adds on top of the spec's minimum, checked separately so a failure says which.
ERROR_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "errorCode": {"type": "string"}},
}
