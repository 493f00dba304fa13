"""Victims for the sandbox market's tests: pool buys sent over the real send paths."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal

import httpx
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction

from flywheel.sandbox.jupiter.dex import SOL_MINT, Quote, build_v0
from flywheel.sandbox.runner import Sandbox

SOL = 1_000_000_000
MARKER = Pubkey.from_string("jitodontfront111111111111111111111111111111")


@dataclass(frozen=True)
class Victim:
    keypair: Keypair
    quote: Quote
    tx: VersionedTransaction

    @property
    def signature(self) -> Signature:
        return self.tx.signatures[0]


def victim_buy(
    sandbox: Sandbox,
    lamports: int,
    slippage_bps: int,
    *,
    marker: bool,
    wallet: Keypair | None = None,
    marker_writable: bool = False,
) -> Victim:
    """A pool buy signed by a fresh funded wallet (or `wallet`), quoted on the pool as it is."""
    chain, pool = sandbox.chain, sandbox.pool
    if wallet is None:
        wallet = Keypair()
        chain.airdrop(wallet.pubkey(), lamports + SOL)
    quote = pool.quote(chain, SOL_MINT, pool.mint, lamports, slippage_bps)
    price = set_compute_unit_price(1)
    if marker:  # as flywheel.solana.compose_swap carries it: read-only, on the price instruction
        meta = AccountMeta(MARKER, is_signer=False, is_writable=marker_writable)
        price = Instruction(price.program_id, price.data, [meta])
    ixs = [set_compute_unit_limit(200_000), price, *pool.swap_instructions(wallet.pubkey(), quote)]
    blockhash, _ = chain.latest_blockhash()
    tx = build_v0(wallet.pubkey(), ixs, blockhash, [wallet, pool.authority])
    return Victim(wallet, quote, tx)


def send_public(sandbox: Sandbox, tx: VersionedTransaction) -> str:
    """sendTransaction on the sandbox's JSON-RPC server, with preflight."""
    return _post(f"{sandbox.rpc_url}/", tx)


def send_jito(sandbox: Sandbox, tx: VersionedTransaction) -> str:
    """sendTransaction on the sandbox's Jito-compatible block engine."""
    return _post(f"{sandbox.jupiter_url}/jito/api/v1/transactions", tx)


def _post(url: str, tx: VersionedTransaction) -> str:
    encoded = base64.b64encode(bytes(tx)).decode()
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "sendTransaction",
        "params": [encoded, {"encoding": "base64"}],
    }
    answer = httpx.post(url, json=body, timeout=10).json()
    assert "result" in answer, answer
    return str(answer["result"])


def tokens_of(sandbox: Sandbox, owner: Pubkey) -> int:
    account = sandbox.chain.get_account(sandbox.pool.ata(owner))
    return 0 if account is None else TokenAccount.from_bytes(bytes(account.data[:165])).amount


def mid(sandbox: Sandbox) -> Decimal:
    reserves = sandbox.pool.reserves(sandbox.chain)
    return Decimal(reserves.sol) / Decimal(reserves.token)
