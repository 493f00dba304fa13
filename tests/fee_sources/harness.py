"""Helpers the token2022 tests share: what is withheld on the chain, and a claim of all of it."""

from __future__ import annotations

from flywheel.sandbox.runner import Sandbox
from flywheel.solana.fee_sources.token2022 import (
    TOKEN_2022_PROGRAM_ID,
    Token2022Claimer,
    transfer_fee_config,
    withheld_in_account,
)
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender


def withheld(box: Sandbox) -> int:
    """Every fee of the mint still withheld: in token accounts and in the mint."""
    with box.chain.lock:
        accounts = box.chain.svm.get_program_accounts(TOKEN_2022_PROGRAM_ID)
    in_accounts = sum(withheld_in_account(bytes(a.data)) for _, a in accounts)
    mint = box.chain.get_account(box.token_mint)
    assert mint is not None
    config = transfer_fee_config(bytes(mint.data))
    assert config is not None
    return in_accounts + config.withheld_amount


async def claim_all(box: Sandbox) -> int:
    """Claim every withheld fee into the executor (as the claim step does); the tokens moved."""
    async with RpcClient(box.rpc_url, backoff_initial=0.01, backoff_max=0.05) as rpc:
        claimer = Token2022Claimer(rpc, box.executor, box.token_mint)
        await claimer.claimable()
        sender = Sender(rpc, box.executor.pubkey(), box.token_mint, poll_interval=0.01)
        landing = await sender.land(await claimer.prepare_claim())
    assert landing.status.value == "confirmed" and landing.token_delta > 0
    return landing.token_delta
