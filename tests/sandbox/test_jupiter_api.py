"""The Jupiter-compatible API end to end: quote over HTTP, swap over HTTP, sign as the user,
send through solana-py to the sandbox's JSON-RPC server, and read the result back the same way."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from flywheel.sandbox.jupiter.dex import MEMO_PROGRAM_ID, SOL_MINT
from flywheel.sandbox.runner import Sandbox
from tests.sandbox.jupiter_schema import (
    ERROR_RESPONSE,
    PRICE_V3_ENTRY,
    PRICE_V3_RESPONSE,
    QUOTE_RESPONSE,
    SWAP_RESPONSE,
)

SOL = str(SOL_MINT)
LAMPORTS = 1_000_000_000


@dataclass
class Wallet:
    """A user of the API: signs what /swap hands it, as a bot would (notes/solana.md)."""

    keypair: Keypair
    box: Sandbox
    http: httpx.AsyncClient
    rpc: AsyncClient

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()

    async def quote(self, input_mint: str, output_mint: str, amount: int, slippage: int) -> Any:
        params = {
            "inputMint": input_mint,
            "outputMint": output_mint,
            "amount": str(amount),
            "slippageBps": str(slippage),
            "swapMode": "ExactIn",
        }
        response = await self.http.get("/swap/v1/quote", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def swap(self, quote: Any, **extra: Any) -> Any:
        body = {
            "userPublicKey": str(self.pubkey),
            "quoteResponse": quote,
            "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": True,
            "prioritizationFeeLamports": {
                "priorityLevelWithMaxLamports": {"priorityLevel": "high", "maxLamports": 20_000}
            },
            **extra,
        }
        response = await self.http.post("/swap/v1/swap", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def sign(self, swap: Any) -> VersionedTransaction:
        tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
        message = tx.message
        signers = list(message.account_keys[: message.header.num_required_signatures])
        assert signers[0] == self.pubkey  # the user pays the fee
        signatures = list(tx.signatures)
        signatures[signers.index(self.pubkey)] = self.keypair.sign_message(
            to_bytes_versioned(message)
        )
        return VersionedTransaction.populate(message, signatures)

    async def send(self, tx: VersionedTransaction, *, preflight: bool = True) -> Signature:
        sent = await self.rpc.send_raw_transaction(
            bytes(tx), opts=TxOpts(skip_preflight=not preflight, preflight_commitment=Confirmed)
        )
        return sent.value

    async def buy_or_sell(self, input_mint: str, output_mint: str, amount: int) -> Any:
        quote = await self.quote(input_mint, output_mint, amount, 300)
        await self.send(self.sign(await self.swap(quote)))
        return quote

    async def sol(self) -> int:
        return (await self.rpc.get_balance(self.pubkey, commitment=Confirmed)).value

    async def tokens(self) -> int:
        ata = self.box.pool.ata(self.pubkey)
        if (await self.rpc.get_account_info(ata, commitment=Confirmed)).value is None:
            return 0
        balance = await self.rpc.get_token_account_balance(ata, commitment=Confirmed)
        return int(balance.value.amount)

    async def landed(self, signature: Signature) -> Any:
        got = await self.rpc.get_transaction(
            signature, commitment=Confirmed, max_supported_transaction_version=0
        )
        assert got.value is not None
        return got.value.transaction.meta


@pytest.fixture
async def clients(sandbox: Sandbox) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=sandbox.jupiter_url, timeout=10) as http,
        AsyncClient(sandbox.rpc_url, commitment=Confirmed) as rpc,
    ):
        yield http, rpc


def wallet(box: Sandbox, http: httpx.AsyncClient, rpc: AsyncClient, sol: int = 5) -> Wallet:
    user = Keypair()
    # Genesis money: the executor in real life is funded by its operator; an airdrop is simplest.
    box.chain.airdrop(user.pubkey(), sol * LAMPORTS)
    return Wallet(user, box, http, rpc)


def pool_reserves(box: Sandbox) -> tuple[int, int]:
    reserves = box.pool.reserves(box.chain)
    return reserves.sol, reserves.token


# -- landing exactly the quote -------------------------------------------------------------------


@pytest.mark.parametrize("token_program", ["spl", "token-2022"])
async def test_quote_swap_sign_send_moves_exactly_the_quoted_amounts(
    sandbox_factory: Any, token_program: str
) -> None:
    box: Sandbox = sandbox_factory(token_program=token_program)
    mint = str(box.token_mint)
    async with (
        httpx.AsyncClient(base_url=box.jupiter_url) as http,
        AsyncClient(box.rpc_url, commitment=Confirmed) as rpc,
    ):
        user = wallet(box, http, rpc)
        pool_sol, pool_tok = pool_reserves(box)

        # First buy: also creates the user's token account, whose rent the user pays.
        quote = await user.quote(SOL, mint, LAMPORTS // 2, 300)
        swap = await user.swap(quote)
        sol0 = await user.sol()
        sig = await user.send(user.sign(swap))
        meta = await user.landed(sig)
        assert meta.err is None
        ata = box.chain.get_account(box.pool.ata(user.pubkey))
        assert ata is not None
        rent = box.chain.minimum_balance_for_rent_exemption(len(ata.data))
        assert sol0 - await user.sol() == int(quote["inAmount"]) + meta.fee + rent
        assert await user.tokens() == int(quote["outAmount"])
        # The fee is two signatures (user and pool vault) plus the priority fee /swap reported.
        assert meta.fee == 2 * 5_000 + swap["prioritizationFeeLamports"]
        pool_out = int(quote["routePlan"][0]["swapInfo"]["outAmount"])
        assert pool_reserves(box) == (pool_sol + LAMPORTS // 2, pool_tok - pool_out)

        # Second buy: the account exists, so SOL out is exactly inAmount + fee.
        quote = await user.quote(SOL, mint, LAMPORTS // 4, 300)
        sol1, tok1 = await user.sol(), await user.tokens()
        meta = await user.landed(await user.send(user.sign(await user.swap(quote))))
        assert sol1 - await user.sol() == int(quote["inAmount"]) + meta.fee
        assert await user.tokens() - tok1 == int(quote["outAmount"])

        # Sell half back: tokens out exactly inAmount, SOL in exactly outAmount less the fee.
        tok2 = await user.tokens()
        quote = await user.quote(mint, SOL, tok2 // 2, 300)
        sol2 = await user.sol()
        meta = await user.landed(await user.send(user.sign(await user.swap(quote))))
        assert meta.err is None
        assert tok2 - await user.tokens() == int(quote["inAmount"])
        assert await user.sol() - sol2 == int(quote["outAmount"]) - meta.fee


async def test_token_2022_quote_is_net_of_the_transfer_fee(sandbox_factory: Any) -> None:
    box: Sandbox = sandbox_factory(token_program="token-2022")
    async with httpx.AsyncClient(base_url=box.jupiter_url) as http:
        params = {"inputMint": SOL, "outputMint": str(box.token_mint), "amount": "1000000000"}
        quote = (await http.get("/swap/v1/quote", params=params)).json()
    pool_out = int(quote["routePlan"][0]["swapInfo"]["outAmount"])
    assert box.pool.transfer_fee is not None
    # The user receives what leaves the pool less the 1% withheld by Token-2022.
    assert int(quote["outAmount"]) == box.pool.transfer_fee.net(pool_out)
    assert pool_out - int(quote["outAmount"]) == pytest.approx(pool_out / 100, abs=1)


async def test_a_move_within_slippage_still_pays_exactly_the_quote(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    mint = str(sandbox.token_mint)
    user, other = wallet(sandbox, http, rpc), wallet(sandbox, http, rpc)
    quote = await user.quote(SOL, mint, LAMPORTS, 300)
    tx = user.sign(await user.swap(quote))
    await other.buy_or_sell(SOL, mint, LAMPORTS // 2)  # about 1% against the user: within 3%
    meta = await user.landed(await user.send(tx))
    assert meta.err is None
    assert await user.tokens() == int(quote["outAmount"])


async def test_a_stale_swap_fails_on_chain_with_6001_and_only_the_fee_is_charged(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    mint = str(sandbox.token_mint)
    user, whale = wallet(sandbox, http, rpc), wallet(sandbox, http, rpc, sol=50)
    quote = await user.quote(SOL, mint, LAMPORTS, 100)
    tx = user.sign(await user.swap(quote))
    await whale.buy_or_sell(SOL, mint, 20 * LAMPORTS)  # ~40% against the user: beyond 1%

    # With preflight the RPC refuses it, as a real node's simulation would.
    with pytest.raises(RPCException) as refused:
        await user.send(tx)
    assert "6001" in str(refused.value) or "Custom(6001)" in repr(refused.value)

    sol0, tok0 = await user.sol(), await user.tokens()
    meta = await user.landed(await user.send(tx, preflight=False))
    memo_index = next(
        i
        for i, ix in enumerate(tx.message.instructions)
        if tx.message.account_keys[ix.program_id_index] == MEMO_PROGRAM_ID
    )
    assert meta.err == TransactionErrorInstructionError(memo_index, InstructionErrorCustom(6001))
    assert sol0 - await user.sol() == meta.fee > 0
    assert await user.tokens() == tok0 == 0


# -- faults ----------------------------------------------------------------------------------------


async def test_price_move_fault_moves_the_pool_against_the_buyer(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    user = wallet(sandbox, http, rpc)
    quote = await user.quote(SOL, str(sandbox.token_mint), LAMPORTS, 300)
    sol_before, tok_before = pool_reserves(sandbox)
    sandbox.faults.update(price_move_bps=500)
    tx = user.sign(await user.swap(quote))
    sol_after, tok_after = pool_reserves(sandbox)
    moved = (sol_after / tok_after) / (sol_before / tok_before) - 1
    assert 0.05 <= moved < 0.051  # SOL per token up 5%: the buyer gets less
    meta = await user.landed(await user.send(tx, preflight=False))
    assert isinstance(meta.err, TransactionErrorInstructionError)
    assert meta.err.err == InstructionErrorCustom(6001)


async def test_price_move_fault_moves_the_pool_against_the_seller(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    mint = str(sandbox.token_mint)
    user = wallet(sandbox, http, rpc)
    await user.buy_or_sell(SOL, mint, LAMPORTS)
    quote = await user.quote(mint, SOL, await user.tokens(), 300)
    sol_before, tok_before = pool_reserves(sandbox)
    sandbox.faults.update(price_move_bps=500)
    tx = user.sign(await user.swap(quote))
    sol_after, tok_after = pool_reserves(sandbox)
    moved = (tok_after / sol_after) / (tok_before / sol_before) - 1
    assert 0.05 <= moved < 0.051  # tokens per SOL up 5%: the seller gets less
    meta = await user.landed(await user.send(tx, preflight=False))
    assert isinstance(meta.err, TransactionErrorInstructionError)
    assert meta.err.err == InstructionErrorCustom(6001)


async def test_rate_limit_fault_answers_429_with_jupiters_headers(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, _ = clients
    sandbox.faults.update(jupiter_429_rate=1.0)
    now = int(time.time())
    answers = [
        await http.get("/swap/v1/quote", params={"inputMint": SOL, "outputMint": SOL, "amount": 1}),
        await http.post("/swap/v1/swap", json={}),
        await http.get("/price/v3", params={"ids": SOL}),
    ]
    for answer in answers:
        assert answer.status_code == 429
        assert answer.headers["x-ratelimit-remaining"] == "0"
        assert now < int(answer.headers["x-ratelimit-reset"]) <= now + 5
    sandbox.faults.update(jupiter_429_rate=0.0)
    assert (await http.get("/price/v3", params={"ids": SOL})).status_code == 200


async def test_malicious_swap_fault_also_moves_the_users_sol_to_an_attacker(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    user = wallet(sandbox, http, rpc)
    quote = await user.quote(SOL, str(sandbox.token_mint), LAMPORTS // 10, 300)
    sandbox.faults.update(malicious_swap=True)
    tx = user.sign(await user.swap(quote))
    keys = tx.message.account_keys
    assert sandbox.attacker in keys
    assert any(keys[ix.program_id_index] == SYSTEM_PROGRAM_ID for ix in tx.message.instructions)
    balance = await user.sol()
    await user.send(tx)
    stolen = sandbox.chain.balance(sandbox.attacker)
    assert stolen == balance * 9 // 10


# -- shapes and errors ---------------------------------------------------------------------------


async def test_answers_validate_against_jupiters_published_schema(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    mint = str(sandbox.token_mint)
    user = wallet(sandbox, http, rpc)
    buy = await user.quote(SOL, mint, LAMPORTS, 50)
    jsonschema.validate(buy, QUOTE_RESPONSE)
    assert buy["swapMode"] == "ExactIn" and buy["platformFee"] is None
    assert buy["routePlan"][0]["percent"] == 100
    swap = await user.swap(buy, prioritizationFeeLamports=5_000, dynamicComputeUnitLimit=False)
    jsonschema.validate(swap, SWAP_RESPONSE)
    assert swap["simulationError"] is None
    assert swap["computeUnitLimit"] == 1_400_000
    assert swap["prioritizationFeeLamports"] <= 5_000
    await user.send(user.sign(swap))
    sell = await user.quote(mint, SOL, await user.tokens(), 50)
    jsonschema.validate(sell, QUOTE_RESPONSE)

    prices = (await http.get("/price/v3", params={"ids": f"{SOL},{mint}"})).json()
    jsonschema.validate(prices, PRICE_V3_RESPONSE)
    for entry in prices.values():
        jsonschema.validate(entry, PRICE_V3_ENTRY)
    assert prices[SOL]["usdPrice"] == 150.0 and prices[SOL]["decimals"] == 9
    assert prices[mint]["decimals"] == 6


async def test_the_swap_is_partially_signed_by_the_pool_only(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    user = wallet(sandbox, http, rpc)
    swap = await user.swap(await user.quote(SOL, str(sandbox.token_mint), LAMPORTS, 50))
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    assert tx.signatures[0] == Signature.default()  # the user's slot is left for the user
    assert tx.message.account_keys[0] == user.pubkey
    assert tx.verify_with_results()[1:] == [True] * (len(tx.signatures) - 1)
    memo = next(
        bytes(ix.data)
        for ix in tx.message.instructions
        if tx.message.account_keys[ix.program_id_index] == MEMO_PROGRAM_ID
    )
    assert memo.decode().startswith(f"jupiter-sandbox swap v1 pool={sandbox.pool.address} in=")


async def test_price_of_the_token_follows_the_pool(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, rpc = clients
    mint = str(sandbox.token_mint)
    before = (await http.get("/price/v3", params={"ids": mint})).json()[mint]["usdPrice"]
    # 100 SOL against 1e9 tokens at $150/SOL: 1.5e-5 USD per token
    assert before == pytest.approx(1.5e-5)
    await wallet(sandbox, http, rpc, sol=20).buy_or_sell(SOL, mint, 10 * LAMPORTS)
    after = (await http.get("/price/v3", params={"ids": mint})).json()[mint]["usdPrice"]
    assert after > before * 1.2


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (
            {"inputMint": SOL, "outputMint": str(Keypair().pubkey()), "amount": "1"},
            "NO_ROUTES_FOUND",
        ),
        ({"inputMint": SOL, "outputMint": SOL, "amount": "1"}, "CIRCULAR_ARBITRAGE_IS_DISABLED"),
        ({"inputMint": SOL, "outputMint": "not-a-key", "amount": "1"}, "INVALID_REQUEST"),
        ({"inputMint": SOL, "amount": "1"}, "INVALID_REQUEST"),
        ({"inputMint": SOL, "outputMint": "{mint}", "amount": "-5"}, "INVALID_REQUEST"),
        ({"inputMint": SOL, "outputMint": "{mint}", "amount": "0"}, "INVALID_AMOUNT"),
        (
            {"inputMint": SOL, "outputMint": "{mint}", "amount": "1", "swapMode": "ExactOut"},
            "NOT_SUPPORTED",
        ),
    ],
)
async def test_quote_errors_look_like_jupiters(
    sandbox: Sandbox,
    clients: tuple[httpx.AsyncClient, AsyncClient],
    params: dict[str, str],
    code: str,
) -> None:
    http, _ = clients
    query = {k: v.replace("{mint}", str(sandbox.token_mint)) for k, v in params.items()}
    answer = await http.get("/swap/v1/quote", params=query)
    assert answer.status_code == 400
    jsonschema.validate(answer.json(), ERROR_RESPONSE)
    assert answer.json()["errorCode"] == code


async def test_swap_refuses_a_quote_that_is_not_this_pools(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, _ = clients
    user = str(Keypair().pubkey())
    bad_quote = {"inputMint": SOL, "outputMint": str(Keypair().pubkey()), "inAmount": "1"}
    for body in (
        {"userPublicKey": user, "quoteResponse": {**bad_quote, "outAmount": "1"}},
        {"userPublicKey": user},
        {"userPublicKey": "nope", "quoteResponse": bad_quote},
    ):
        answer = await http.post("/swap/v1/swap", json=body)
        assert answer.status_code == 400
        jsonschema.validate(answer.json(), ERROR_RESPONSE)
    garbage = await http.post("/swap/v1/swap", content=b"{not json")
    assert garbage.status_code == 400


async def test_price_leaves_out_what_it_cannot_price(
    sandbox: Sandbox, clients: tuple[httpx.AsyncClient, AsyncClient]
) -> None:
    http, _ = clients
    unknown = str(Keypair().pubkey())
    answer = (await http.get("/price/v3", params={"ids": f"{unknown},{SOL}"})).json()
    assert set(answer) == {SOL}
