"""The token2022 claim's pieces against the real Token-2022 program (the sandbox's LiteSVM).

The instruction bytes are checked against the Token-2022 interface (TransferFeeExtension = 26;
WithdrawWithheldTokensFromMint = 2, HarvestWithheldTokensToMint = 4; account order and flags
as spl-token-2022's `instruction.rs` lists them), the account parsers against accounts the real
program wrote, and the claimer against the sandbox's JSON-RPC, including getProgramAccounts'
filters and what it says about a malformed request.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from flywheel.errors import ConfigError
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.fee_sources.token2022 import (
    TOKEN_2022_PROGRAM_ID,
    Token2022Claimer,
    check_authority,
    claim_instructions,
    extensions,
    transfer_fee_config,
    withheld_in_account,
)
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender
from tests.fee_sources.harness import withheld
from tests.sandbox.harness import SandboxFactory

ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")


def test_instructions_byte_for_byte() -> None:
    mint, executor = Keypair().pubkey(), Keypair().pubkey()
    sources = [Keypair().pubkey() for _ in range(3)]
    create, harvest, withdraw = claim_instructions(mint, executor, sources)
    destination = get_associated_token_address(executor, mint, TOKEN_2022_PROGRAM_ID)

    assert create.program_id == ASSOCIATED_TOKEN_PROGRAM
    assert bytes(create.data) == bytes([1])  # CreateIdempotent
    assert [m.pubkey for m in create.accounts][:4] == [executor, destination, executor, mint]

    assert harvest.program_id == TOKEN_2022_PROGRAM_ID
    assert bytes(harvest.data) == bytes([26, 4])
    assert [(m.pubkey, m.is_signer, m.is_writable) for m in harvest.accounts] == [
        (mint, False, True),
        *((s, False, True) for s in sources),
    ]

    assert withdraw.program_id == TOKEN_2022_PROGRAM_ID
    assert bytes(withdraw.data) == bytes([26, 2])
    assert [(m.pubkey, m.is_signer, m.is_writable) for m in withdraw.accounts] == [
        (mint, False, True),
        (destination, False, True),
        (executor, True, False),
    ]


def test_no_source_account_means_no_harvest() -> None:
    mint, executor = Keypair().pubkey(), Keypair().pubkey()
    kinds = [bytes(i.data)[:2] for i in claim_instructions(mint, executor, [])]
    assert kinds == [bytes([1]), bytes([26, 2])]


@pytest.mark.parametrize(
    "data",
    [b"", bytes(82), bytes(165), bytes(166), bytes(165) + bytes([1]) + b"\x01\x00\xff\xff"],
    ids=["empty", "spl-mint", "spl-account", "type-only", "length-past-end"],
)
def test_parsers_never_invent_an_extension(data: bytes) -> None:
    assert transfer_fee_config(data) is None
    assert withheld_in_account(data) == 0


def test_parsers_read_what_the_real_program_wrote(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(fee_source="token2022")
    mint = box.chain.get_account(box.token_mint)
    assert mint is not None
    config = transfer_fee_config(bytes(mint.data))
    assert config is not None
    assert config.withdraw_withheld_authority == box.executor.pubkey()
    assert config.withheld_amount == 0
    assert set(extensions(bytes(mint.data), 1)) == {1}  # TransferFeeConfig only
    box.traders.step(2)
    with box.chain.lock:
        accounts = box.chain.svm.get_program_accounts(TOKEN_2022_PROGRAM_ID)
    assert any(withheld_in_account(bytes(a.data)) > 0 for _, a in accounts)


def test_authority_problems_are_config_errors(sandbox_factory: SandboxFactory) -> None:
    spl = sandbox_factory()
    executor = spl.executor.pubkey()
    with pytest.raises(ConfigError, match="has no Token-2022 transfer fee"):
        check_authority(spl.token_mint, spl.chain.get_account(spl.token_mint), executor)
    with pytest.raises(ConfigError, match="is not a token mint"):
        check_authority(executor, spl.chain.get_account(executor), executor)
    creator_withdraws = sandbox_factory(token_program="token-2022", seed=1)
    mint = creator_withdraws.token_mint
    with pytest.raises(ConfigError, match="withdraw-withheld authority") as caught:
        check_authority(mint, creator_withdraws.chain.get_account(mint), executor)
    assert str(creator_withdraws.scenario.creator.pubkey()) in caught.value.problems[0]


async def test_claim_moves_exactly_the_withheld_fees(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(fee_source="token2022")
    box.traders.step(3)
    async with RpcClient(box.rpc_url, backoff_initial=0.01, backoff_max=0.05) as rpc:
        claimer = Token2022Claimer(rpc, box.executor, box.token_mint, max_sources=1)
        first = await claimer.claimable()
        assert first > 0
        sender = Sender(rpc, box.executor.pubkey(), box.token_mint, poll_interval=0.01)
        landing = await sender.land(await claimer.prepare_claim())
        assert landing.status.value == "confirmed"
        # One source per claim here: the claim moved exactly the fullest account's fees.
        assert landing.token_delta == first
        rest = await claimer.claimable()
        assert rest > 0  # the other accounts wait for the next claim
        second = await sender.land(await claimer.prepare_claim())
        assert second.token_delta == rest


def test_get_program_accounts_filters_and_refuses_malformed(sandbox: Sandbox) -> None:
    def call(params: Sequence[object]) -> dict[str, object]:
        body = {"jsonrpc": "2.0", "id": 1, "method": "getProgramAccounts", "params": list(params)}
        answer: dict[str, object] = httpx.post(sandbox.rpc_url, json=body, timeout=10).json()
        return answer

    program = str(sandbox.token_program_id)
    mint = str(sandbox.token_mint)
    found = call(
        [program, {"encoding": "base64", "filters": [{"memcmp": {"offset": 0, "bytes": mint}}]}]
    )
    result = found["result"]
    assert isinstance(result, list) and len(result) == 2  # the pool's and the market maker's
    sized = call([program, {"filters": [{"dataSize": 82}]}])
    assert isinstance(sized["result"], list) and len(sized["result"]) == 1  # the mint itself
    for bad in (
        [program, {"filters": "memcmp"}],
        [program, {"filters": [{"memcmp": {"offset": 0, "bytes": "0OIl"}}]}],
        [program, {"filters": [{"memcmp": {"offset": 0, "bytes": 7}}]}],
        [program, {"filters": [{"dataSlice": 1}]}],
    ):
        error = call(bad)["error"]
        assert isinstance(error, dict) and error["code"] == -32602, bad


async def test_what_counts_is_what_the_claim_moved_not_the_estimate(
    sandbox_factory: SandboxFactory,
) -> None:
    """Trades between the decision and the landing withhold more: the landing's own balances
    show the larger amount that really moved, and the estimate is only ever a decision."""
    box = sandbox_factory(fee_source="token2022")
    box.traders.step(2)
    async with RpcClient(box.rpc_url, backoff_initial=0.01, backoff_max=0.05) as rpc:
        claimer = Token2022Claimer(rpc, box.executor, box.token_mint)
        estimate = await claimer.claimable()
        prepared = await claimer.prepare_claim()
        box.traders.step(2)  # more fees land in the accounts the claim will harvest
        before = withheld(box)
        sender = Sender(rpc, box.executor.pubkey(), box.token_mint, poll_interval=0.01)
        landing = await sender.land(prepared)
        moved = before - withheld(box)
        assert landing.token_delta == moved
        assert moved > estimate
