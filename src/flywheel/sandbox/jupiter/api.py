"""A Jupiter-compatible HTTP API (Metis swap v1 and price v3) over the sandbox pool.

Shapes follow jup-ag/docs `openapi-spec/swap/v1/swap.yaml` and `price/v3/price.yaml`. Faults
that belong to the DEX are played here: rate limiting (429 with Jupiter's headers), the price
moving between /swap and the user's send (a real trade by a market maker), and a malicious
swap that also drains the user's SOL.

Simplifications, on purpose: SOL is always native (as with `wrapAndUnwrapSol: true`; `false` is
accepted and treated the same), ExactOut is refused (NOT_SUPPORTED), the compute unit limit is a
constant rather than simulated, and the swap carries two signatures (the user's and the pool
vault's), so its base fee is 10,000 lamports instead of Jupiter's 5,000.
"""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any

import structlog
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults, Trickle
from flywheel.sandbox.jupiter import build_v2, hostile, jito_engine
from flywheel.sandbox.jupiter.dex import POOL_LABEL, SOL_MINT, DexError, Quote, SandboxPool, sign_as
from flywheel.sandbox.jupiter.pool import input_to_move_price

log = structlog.get_logger(__name__)

LAMPORTS_PER_SOL = 1_000_000_000
SOL_DECIMALS = 9
DEFAULT_SOL_USD = Decimal(150)
STATIC_COMPUTE_UNIT_LIMIT = 1_400_000  # Jupiter's limit without dynamicComputeUnitLimit
DYNAMIC_COMPUTE_UNIT_LIMIT = 120_000  # above what the sandbox swap uses (~40k), like a sim + margin
PRIORITY_LEVEL_LAMPORTS = {"medium": 10_000, "high": 50_000, "veryHigh": 200_000}
DEFAULT_PRIORITY_LAMPORTS = 10_000  # "auto"
MALICIOUS_SHARE_BPS = 9_000  # the malicious swap takes 90% of the user's SOL


class JupiterSandbox:
    """The API's state and logic; `app` serves it."""

    def __init__(
        self,
        chain: SandboxChain,
        pool: SandboxPool,
        faults: Faults,
        *,
        sol_usd: Decimal = DEFAULT_SOL_USD,
        market_maker: Keypair | None = None,
        attacker: Pubkey | None = None,
        rate_limit_reset_seconds: int = 2,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.faults = faults
        self.sol_usd = sol_usd
        self.market_maker = market_maker or Keypair()
        self.attacker = attacker or Keypair().pubkey()
        self.rate_limit_reset_seconds = rate_limit_reset_seconds
        self.jito: jito_engine.JitoEngine | None = None  # set by jito_engine.routes
        # Lookup tables /swap/v2/build names (table -> the addresses it says it holds).
        self.lookup_tables: dict[Pubkey, list[Pubkey]] = {}
        self.app = Starlette(
            routes=[
                Route("/swap/v1/quote", self._quote_endpoint, methods=["GET"]),
                Route("/swap/v1/swap", self._swap_endpoint, methods=["POST"]),
                Route("/price/v3", self._price_endpoint, methods=["GET"]),
                *build_v2.routes(self),
                *jito_engine.routes(self),
            ],
            middleware=[Middleware(Trickle, delay_ms=lambda: faults.jupiter_trickle_ms)],
        )
        self.app.state.jupiter = self

    # -- HTTP ----------------------------------------------------------------------------------
    async def _quote_endpoint(self, request: Request) -> Response:
        if (limited := self._rate_limited()) is not None:
            return limited
        started = time.perf_counter()
        try:
            params = request.query_params
            if params.get("swapMode", "ExactIn") != "ExactIn":
                raise DexError("swapMode ExactOut is not supported by this pool", "NOT_SUPPORTED")
            input_mint = _pubkey(params.get("inputMint"), "inputMint")
            output_mint = _pubkey(params.get("outputMint"), "outputMint")
            amount = _int(params.get("amount"), "amount")
            slippage = _int(params.get("slippageBps", "50"), "slippageBps")
            quote = await run_in_threadpool(
                self.pool.quote, self.chain, input_mint, output_mint, amount, slippage
            )
        except DexError as exc:
            return _error(exc)
        answer = hostile.quote_answer(
            self.quote_json(quote, time.perf_counter() - started), self.faults
        )
        return JSONResponse(answer)

    async def _swap_endpoint(self, request: Request) -> Response:
        if (limited := self._rate_limited()) is not None:
            return limited
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(DexError("body must be JSON", "INVALID_REQUEST"))
        try:
            answer = await run_in_threadpool(self.swap, body)
        except DexError as exc:
            return _error(exc)
        return JSONResponse(answer)

    async def _price_endpoint(self, request: Request) -> Response:
        if (limited := self._rate_limited()) is not None:
            return limited
        ids = [part for part in request.query_params.get("ids", "").split(",") if part]
        if not ids:
            return _error(DexError("ids is required", "INVALID_REQUEST"))
        return JSONResponse(await run_in_threadpool(self.prices, ids))

    def _rate_limited(self) -> Response | None:
        if not self.faults.roll(self.faults.jupiter_429_rate):
            return None
        reset = int(time.time()) + self.rate_limit_reset_seconds
        return JSONResponse(
            {"error": "Too Many Requests", "errorCode": "RATE_LIMITED"},
            status_code=429,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        )

    # -- logic -----------------------------------------------------------------------------------
    def quote_json(self, quote: Quote, time_taken: float) -> dict[str, Any]:
        impact = format(quote.price_impact.quantize(Decimal("1e-18")).normalize(), "f")
        return {
            "inputMint": str(quote.input_mint),
            "inAmount": str(quote.in_amount),
            "outputMint": str(quote.output_mint),
            "outAmount": str(quote.out_amount),
            "otherAmountThreshold": str(quote.min_out),
            "swapMode": "ExactIn",
            "slippageBps": quote.slippage_bps,
            "platformFee": None,
            "priceImpactPct": impact,
            "routePlan": [
                {
                    "swapInfo": {
                        "ammKey": str(self.pool.address),
                        "label": POOL_LABEL,
                        "inputMint": str(quote.input_mint),
                        "outputMint": str(quote.output_mint),
                        "inAmount": str(quote.in_amount),
                        "outAmount": str(quote.pool_out),
                        "feeAmount": str(quote.lp_fee),
                        "feeMint": str(quote.input_mint),
                    },
                    "percent": 100,
                    "bps": 10_000,
                }
            ],
            "contextSlot": quote.context_slot,
            "timeTaken": round(time_taken, 6),
        }

    def swap(self, body: object) -> dict[str, Any]:
        """Build the swap for `userPublicKey`, signed by the pool; the user's slot stays empty."""
        if not isinstance(body, dict):
            raise DexError("body must be a JSON object", "INVALID_REQUEST")
        user = _pubkey(body.get("userPublicKey"), "userPublicKey")
        quote = self._quote_from(body.get("quoteResponse"))
        limit = (
            DYNAMIC_COMPUTE_UNIT_LIMIT
            if body.get("dynamicComputeUnitLimit") is True
            else STATIC_COMPUTE_UNIT_LIMIT
        )
        budget = _priority_lamports(body.get("prioritizationFeeLamports"))
        limit, price = hostile.compute_budget(self.faults, limit, budget * 1_000_000 // limit)
        priority = -(-limit * price // 1_000_000)
        extra = self._malicious_transfer(user) if self.faults.malicious_swap else []
        extra += hostile.authority_grabs(self.faults, self.pool, user, self.attacker)
        with self.chain.lock:
            if self.faults.sol_only_swap:
                tx, last_valid = hostile.sol_only_swap(
                    self.chain,
                    user,
                    quote,
                    self.attacker,
                    compute_unit_limit=limit,
                    compute_unit_price=price,
                )
            else:
                tx, last_valid = self.pool.build_swap(
                    self.chain,
                    user,
                    hostile.swap_quote(quote, self.faults),
                    compute_unit_limit=limit,
                    compute_unit_price=price,
                    extra=extra,
                )
        if self.faults.price_move_bps > 0:
            self.move_price(self.faults.price_move_bps, buy=quote.is_buy)
            if self.faults.price_move_once:
                self.faults.update(price_move_bps=0, price_move_once=False)
        return {
            "swapTransaction": base64.b64encode(bytes(tx)).decode(),
            "lastValidBlockHeight": last_valid,
            "prioritizationFeeLamports": priority,
            "computeUnitLimit": limit,
            "simulationError": None,
        }

    def _quote_from(self, raw: object) -> Quote:
        if not isinstance(raw, dict):
            raise DexError("quoteResponse is required", "INVALID_REQUEST")
        if raw.get("swapMode", "ExactIn") != "ExactIn":
            raise DexError("swapMode ExactOut is not supported by this pool", "NOT_SUPPORTED")
        return self.pool.quote_for_swap(
            _pubkey(raw.get("inputMint"), "quoteResponse.inputMint"),
            _pubkey(raw.get("outputMint"), "quoteResponse.outputMint"),
            _int(raw.get("inAmount"), "quoteResponse.inAmount"),
            _int(raw.get("outAmount"), "quoteResponse.outAmount"),
            _int(raw.get("otherAmountThreshold"), "quoteResponse.otherAmountThreshold"),
            _int(raw.get("slippageBps", 0), "quoteResponse.slippageBps"),
        )

    def _malicious_transfer(self, user: Pubkey) -> list[Instruction]:
        account = self.chain.get_account(user)
        balance = 0 if account is None else account.lamports
        stolen = balance * MALICIOUS_SHARE_BPS // 10_000
        if stolen <= 0:
            return []
        return [
            transfer(TransferParams(from_pubkey=user, to_pubkey=self.attacker, lamports=stolen))
        ]

    def move_price(self, bps: int, *, buy: bool) -> None:
        """Trade against the pool so its price moves `bps` against a buyer (or a seller)."""
        with self.chain.lock:
            reserves = self.pool.reserves(self.chain)
            reserve_in = reserves.sol if buy else reserves.token
            amount = input_to_move_price(reserve_in, bps, fee_bps=self.pool.lp_fee_bps)
            maker = self.market_maker.pubkey()
            if buy:
                self.chain.airdrop(maker, amount + LAMPORTS_PER_SOL)
                pair = (SOL_MINT, self.pool.mint)
            else:
                pair = (self.pool.mint, SOL_MINT)
            try:
                quote = self.pool.quote(self.chain, pair[0], pair[1], amount, 10_000)
                tx, _ = self.pool.build_swap(
                    self.chain, maker, quote, compute_unit_limit=200_000, compute_unit_price=0
                )
                self.chain.send(sign_as(tx, self.market_maker))
            except Exception:
                # A missing inventory must not turn the user's /swap into a 500.
                log.exception("sandbox.jupiter.price_move_failed", bps=bps, buy=buy)

    def prices(self, ids: list[str]) -> dict[str, Any]:
        with self.chain.lock:
            reserves = self.pool.reserves(self.chain)
            slot = self.chain.slot()
        liquidity = 2 * Decimal(reserves.sol) / LAMPORTS_PER_SOL * self.sol_usd
        out: dict[str, Any] = {}
        for mint in ids:
            if mint == str(SOL_MINT):
                usd, decimals = self.sol_usd, SOL_DECIMALS
            elif mint == str(self.pool.mint) and reserves.token > 0:
                sol_per_token = (Decimal(reserves.sol) / LAMPORTS_PER_SOL) / (
                    Decimal(reserves.token).scaleb(-self.pool.decimals)
                )
                usd, decimals = sol_per_token * self.sol_usd, self.pool.decimals
            else:
                continue  # Jupiter leaves out what it cannot price
            # The wire format is a JSON number; the float exists only at this boundary.
            out[mint] = {
                "usdPrice": float(usd),
                "decimals": decimals,
                "blockId": slot,
                "liquidity": float(liquidity),
                "priceChange24h": 0.0,
            }
        return out


def build_jupiter_app(
    chain: SandboxChain,
    pool: SandboxPool,
    faults: Faults,
    *,
    sol_usd: Decimal = DEFAULT_SOL_USD,
    market_maker: Keypair | None = None,
    attacker: Pubkey | None = None,
) -> Starlette:
    """The Starlette app; its `JupiterSandbox` is at `app.state.jupiter`."""
    return JupiterSandbox(
        chain, pool, faults, sol_usd=sol_usd, market_maker=market_maker, attacker=attacker
    ).app


def _priority_lamports(raw: object) -> int:
    if raw is None or raw == "auto":
        return DEFAULT_PRIORITY_LAMPORTS
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, dict) and isinstance(raw.get("priorityLevelWithMaxLamports"), dict):
        spec = raw["priorityLevelWithMaxLamports"]
        level = spec.get("priorityLevel")
        cap = spec.get("maxLamports")
        if level not in PRIORITY_LEVEL_LAMPORTS or not isinstance(cap, int) or cap < 0:
            raise DexError("invalid priorityLevelWithMaxLamports", "INVALID_REQUEST")
        return min(PRIORITY_LEVEL_LAMPORTS[level], cap)
    if isinstance(raw, dict) and ("jitoTipLamports" in raw or "jitoTipLamportsWithPayer" in raw):
        return 0  # no Jito on the sandbox: the tip is simply not paid
    raise DexError("invalid prioritizationFeeLamports", "INVALID_REQUEST")


def _pubkey(raw: object, name: str) -> Pubkey:
    if not isinstance(raw, str) or not raw:
        raise DexError(f"{name} is required", "INVALID_REQUEST")
    try:
        return Pubkey.from_string(raw)
    except ValueError as exc:
        raise DexError(f"{name} is not a valid public key", "INVALID_REQUEST") from exc


def _int(raw: object, name: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.isdigit():
        value = int(raw)
    else:
        raise DexError(f"{name} must be a non-negative integer", "INVALID_REQUEST")
    if value < 0 or value >= 2**64:
        raise DexError(f"{name} is out of range", "INVALID_REQUEST")
    return value


def _error(exc: DexError) -> JSONResponse:
    return JSONResponse({"error": str(exc), "errorCode": exc.code}, status_code=400)
