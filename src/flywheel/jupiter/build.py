"""Jupiter Swap API v2 `GET /swap/v2/build`: the quote and the swap's raw instructions in one call.

The answer (jup-ag/docs `openapi-spec/swap/v2/swap.yaml`) carries the quote fields of v1
(`inAmount`, `outAmount`, `otherAmountThreshold`, `slippageBps`, `priceImpactPct`, `routePlan`)
plus `computeBudgetInstructions`, `setupInstructions`, `swapInstruction`, `cleanupInstruction`,
`otherInstructions`, `tipInstruction` and `addressesByLookupTableAddress`. Routing is Metis only
and Jupiter charges no fee on it. We compose, sign and send the transaction ourselves
(`flywheel.solana.compose_swap`), so our guard, our burn, the MEV marker and our own fee
settings live in the same transaction.

`JupiterBuildClient` is the `Dex` port on /build: `quote` keeps the whole answer (instructions
included) in `Quote.raw`, and `swap_transaction` hands it to a composer. Prices stay on v3 and
the HTTP path (retries, 429s, error translation) is `JupiterClient`'s.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from flywheel.domain.trade import Quote
from flywheel.errors import OperationalError
from flywheel.jupiter.client import JupiterClient

log = structlog.get_logger("flywheel.jupiter")

BUILD_PATH = "/swap/v2/build"
_MAX_INSTRUCTIONS = 64  # far above any route; a longer list is not an answer we can compose
_MAX_LOOKUP_TABLES = 16


@dataclass(frozen=True)
class BuildInstructions:
    """The instructions of a /build answer, parsed; nothing here is trusted, only well-formed."""

    compute_budget: list[Instruction]
    setup: list[Instruction]
    swap: Instruction
    cleanup: Instruction | None
    other: list[Instruction]
    tip: Instruction | None
    lookup_tables: dict[Pubkey, list[Pubkey]]

    def swap_instructions(self) -> list[Instruction]:
        """What the swap is made of, in order; Jupiter's compute budget and tip are left out."""
        cleanup = [] if self.cleanup is None else [self.cleanup]
        return [*self.setup, self.swap, *cleanup, *self.other]


class Composer(Protocol):
    """Turns a /build answer into an unsigned transaction (solana/compose_swap.py)."""

    async def compose(
        self, build: BuildInstructions, *, burn_amount: int = 0, memo: str | None = None
    ) -> bytes: ...


def _pubkey(value: object, where: str) -> Pubkey:
    if not isinstance(value, str):
        raise OperationalError(f"Jupiter build: {where} is not an address: {value!r}")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise OperationalError(f"Jupiter build: {where} is not an address: {value!r}") from None


def parse_instruction(value: object, where: str) -> Instruction:
    """One instruction of the answer ({programId, accounts[{pubkey,isSigner,isWritable}], data})."""
    if not isinstance(value, dict):
        raise OperationalError(f"Jupiter build: {where} is not an instruction object")
    program = _pubkey(value.get("programId"), f"{where}.programId")
    accounts = value.get("accounts")
    if not isinstance(accounts, list):
        raise OperationalError(f"Jupiter build: {where}.accounts is not a list")
    metas: list[AccountMeta] = []
    for index, meta in enumerate(accounts):
        name = f"{where}.accounts[{index}]"
        if not isinstance(meta, dict):
            raise OperationalError(f"Jupiter build: {name} is not an object")
        signer, writable = meta.get("isSigner"), meta.get("isWritable")
        if not isinstance(signer, bool) or not isinstance(writable, bool):
            raise OperationalError(f"Jupiter build: {name} needs boolean isSigner and isWritable")
        metas.append(AccountMeta(_pubkey(meta.get("pubkey"), name), signer, writable))
    data = value.get("data")
    if not isinstance(data, str):
        raise OperationalError(f"Jupiter build: {where}.data is not base64 text")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise OperationalError(f"Jupiter build: {where}.data is not valid base64") from None
    return Instruction(program, raw, metas)


def _instruction_list(body: dict[str, Any], name: str) -> list[Instruction]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > _MAX_INSTRUCTIONS:
        raise OperationalError(f"Jupiter build: {name} is not a list of instructions")
    return [parse_instruction(item, f"{name}[{i}]") for i, item in enumerate(value)]


def _optional_instruction(body: dict[str, Any], name: str) -> Instruction | None:
    value = body.get(name)
    return None if value is None else parse_instruction(value, name)


def _lookup_tables(body: dict[str, Any]) -> dict[Pubkey, list[Pubkey]]:
    value = body.get("addressesByLookupTableAddress")
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > _MAX_LOOKUP_TABLES:
        raise OperationalError("Jupiter build: addressesByLookupTableAddress is not a table map")
    tables: dict[Pubkey, list[Pubkey]] = {}
    for key, addresses in value.items():
        table = _pubkey(key, "addressesByLookupTableAddress key")
        if not isinstance(addresses, list):
            raise OperationalError(f"Jupiter build: lookup table {table} lists no addresses")
        tables[table] = [_pubkey(a, f"lookup table {table} entry") for a in addresses]
    return tables


def parse_build(body: dict[str, Any]) -> BuildInstructions:
    """The instructions of a /build answer; OperationalError when they are missing or malformed."""
    if body.get("swapInstruction") is None:
        raise OperationalError("Jupiter build: the answer carries no swapInstruction")
    return BuildInstructions(
        compute_budget=_instruction_list(body, "computeBudgetInstructions"),
        setup=_instruction_list(body, "setupInstructions"),
        swap=parse_instruction(body["swapInstruction"], "swapInstruction"),
        cleanup=_optional_instruction(body, "cleanupInstruction"),
        other=_instruction_list(body, "otherInstructions"),
        tip=_optional_instruction(body, "tipInstruction"),
        lookup_tables=_lookup_tables(body),
    )


class JupiterBuildClient(JupiterClient):
    """The `Dex` port on Swap API v2 /build; prices (v3) and the HTTP path are inherited."""

    def __init__(self, *args: Any, composer: Composer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.composer = composer

    def __repr__(self) -> str:
        return f"JupiterBuildClient(base_url={self.base_url!r}, token_mint={self.token_mint!r})"

    async def quote(self, in_lamports: int) -> Quote:
        """An ExactIn quote for `in_lamports` of SOL, with the swap's instructions in `raw`."""
        quote = await self._quote(in_lamports, BUILD_PATH, "build", {"taker": self.user_pubkey})
        parse_build(quote.raw)  # refused now, not at signing time, if it cannot be composed
        return quote

    async def swap_transaction(self, quote: Quote) -> bytes:
        """The unsigned transaction we compose from the quote's instructions."""
        return await self.composer.compose(parse_build(quote.raw))

    async def swap_and_burn_transaction(
        self, quote: Quote, burn_amount: int, memo: str | None = None
    ) -> bytes:
        """The swap with a burn of `burn_amount` after it (and our memo), in one unsigned
        transaction."""
        return await self.composer.compose(
            parse_build(quote.raw), burn_amount=burn_amount, memo=memo
        )
