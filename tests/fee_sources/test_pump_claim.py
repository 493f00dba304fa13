"""The pump claimer against the sandbox's JSON-RPC and its emulated pump.fun coin: what it
decides from one getMultipleAccounts, what it refuses (a mint that is no pump coin, a curve
that lies about its owner or is too short, a stranger executor, a fee-sharing coin, a wSOL
account whose balance a close would count as fees), and that what counts is what the claim
moved, not the estimate."""

from __future__ import annotations

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import TransferParams, transfer
from spl.token.instructions import create_idempotent_associated_token_account

from flywheel.errors import ConfigError, OperationalError
from flywheel.sandbox.jupiter.dex import build_v0
from flywheel.sandbox.pump import layout
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.fee_sources.pump import (
    PUMP_FEES_PROGRAM,
    PUMP_PROGRAM,
    SWEEP_CREATOR_FEE,
    TOKEN_PROGRAM,
    WSOL_MINT,
    sharing_config,
)
from flywheel.solana.fee_sources.pump_claim import PumpClaimer, parse_curve
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender
from tests.sandbox.harness import SandboxFactory


def _claimer(rpc: RpcClient, box: Sandbox, keypair: Keypair | None = None) -> PumpClaimer:
    return PumpClaimer(rpc, keypair or box.executor, box.token_mint)


def _rpc(box: Sandbox) -> RpcClient:
    return RpcClient(box.rpc_url, backoff_initial=0.01, backoff_max=0.05)


async def test_counted_is_what_the_claim_moved_not_the_estimate(
    sandbox_factory: SandboxFactory,
) -> None:
    box = sandbox_factory(fee_source="pump")
    box.traders.step(3)  # one fee to each place: vault, curve (v3), PumpSwap
    async with _rpc(box) as rpc:
        claimer = _claimer(rpc, box)
        vaults = await claimer.vaults()
        assert vaults.curve_vault > 0 and vaults.curve.creator_fee > 0 and vaults.amm_vault > 0
        tx = await claimer.prepare_claim()
        # A fee paid after the estimate, before the claim lands: the claim moves it too, and
        # what counts is the claim's own balances.
        box.traders.step(1)
        late = box.traders.fees[-1].lamports
        landing = await Sender(rpc, box.executor.pubkey(), box.token_mint, poll_interval=0.01).land(
            tx
        )
        assert landing.status.value == "confirmed"
        assert landing.sol_delta + landing.fee_lamports == vaults.total + late
        assert await claimer.claimable() == 0


async def test_the_sweep_is_sent_only_when_the_curve_holds_fees(
    sandbox_factory: SandboxFactory,
) -> None:
    box = sandbox_factory(fee_source="pump")
    box.traders.step(1)  # the vault only
    async with _rpc(box) as rpc:
        claimer = _claimer(rpc, box)
        vaults = await claimer.vaults()
        assert vaults.curve.creator_fee == 0 and vaults.amm_vault == 0
        [only] = claimer.instructions(vaults)
        assert only.program_id == PUMP_PROGRAM and bytes(only.data)[:8] != SWEEP_CREATOR_FEE
        box.traders.step(1)  # the curve
        first = claimer.instructions(await claimer.vaults())[0]
        assert bytes(first.data)[:8] == SWEEP_CREATOR_FEE


async def test_a_mint_that_is_no_pump_coin_is_a_config_error(
    sandbox_factory: SandboxFactory,
) -> None:
    box = sandbox_factory()  # the wallet sandbox: no pump world at all
    async with _rpc(box) as rpc:
        with pytest.raises(ConfigError, match=r"has no pump\.fun bonding curve"):
            await _claimer(rpc, box).claimable()


async def test_a_curve_that_lies_is_refused(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(fee_source="pump")
    pump = box.pump
    assert pump is not None
    curve = box.chain.get_account(pump.curve)
    assert curve is not None
    async with _rpc(box) as rpc:
        # The right bytes under the wrong owner: anyone can write such an account.
        box.chain.set_account(
            pump.curve, Account(curve.lamports, curve.data, SYSTEM_PROGRAM, False, 0)
        )
        with pytest.raises(ConfigError, match=r"no pump\.fun bonding curve"):
            await _claimer(rpc, box).claimable()
        # An account of the program, but no BondingCurve (another discriminator, or too short).
        for data in (bytes(8) + bytes(curve.data)[8:], bytes(curve.data)[:60]):
            box.chain.set_account(pump.curve, Account(curve.lamports, data, PUMP_PROGRAM, False, 0))
            with pytest.raises(ConfigError, match=r"no pump\.fun bonding curve"):
                await _claimer(rpc, box).claimable()
    # A curve of the layout before the v3 upgrade (shorter): its creator fee reads as 0.
    legacy = parse_curve(bytes(curve.data)[:81])
    assert legacy is not None and legacy.creator_fee == 0


async def test_a_stranger_executor_is_told_who_the_creator_is(
    sandbox_factory: SandboxFactory,
) -> None:
    box = sandbox_factory(fee_source="pump")
    stranger = Keypair()
    async with _rpc(box) as rpc:
        with pytest.raises(ConfigError) as caught:
            await _claimer(rpc, box, stranger).claimable()
    [problem] = caught.value.problems
    assert str(stranger.pubkey()) in problem and str(box.executor.pubkey()) in problem
    assert "EXECUTOR_KEYPAIR_PATH" in problem


async def test_a_sharing_config_is_reported_even_before_the_curve_says_so(
    sandbox_factory: SandboxFactory,
) -> None:
    box = sandbox_factory(fee_source="pump")
    config = sharing_config(box.token_mint)
    box.chain.set_account(config, Account(10**7, bytes(8), PUMP_FEES_PROGRAM, False, 0))
    async with _rpc(box) as rpc:
        with pytest.raises(ConfigError, match="fee-sharing config") as caught:
            await _claimer(rpc, box).claimable()
    assert str(config) in caught.value.problems[0]
    # A look-alike account at that address not owned by Pump Fees is not a sharing config.
    box.chain.set_account(config, Account(10**7, bytes(8), SYSTEM_PROGRAM, False, 0))
    async with _rpc(box) as rpc:
        assert await _claimer(rpc, box).claimable() == 0


async def test_an_existing_wsol_account_is_not_closed_into_the_fees(
    sandbox_factory: SandboxFactory,
) -> None:
    box = sandbox_factory(fee_source="pump")
    box.traders.step(3)
    executor = box.executor
    with box.chain.lock:
        blockhash, _ = box.chain.latest_blockhash()
        create = create_idempotent_associated_token_account(
            executor.pubkey(), executor.pubkey(), WSOL_MINT, token_program_id=TOKEN_PROGRAM
        )
        box.chain.send(build_v0(executor.pubkey(), [create], blockhash, [executor]))
    async with _rpc(box) as rpc:
        claimer = _claimer(rpc, box)
        with pytest.raises(OperationalError, match=r"wSOL account .* already exists"):
            await claimer.prepare_claim()


async def test_nothing_waiting_means_nothing_claimable(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(fee_source="pump")
    pump = box.pump
    assert pump is not None
    # A lamport sent to the vault of someone else's coin changes nothing here.
    trader = box.traders.keypairs[0]
    box.chain.airdrop(trader.pubkey(), 10**9)
    with box.chain.lock:
        blockhash, _ = box.chain.latest_blockhash()
        gift = transfer(
            TransferParams(
                from_pubkey=trader.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**6
            )
        )
        box.chain.send(build_v0(trader.pubkey(), [gift], blockhash, [trader]))
    async with _rpc(box) as rpc:
        claimer = _claimer(rpc, box)
        assert await claimer.claimable() == 0
        with pytest.raises(OperationalError, match="nothing to collect"):
            await claimer.prepare_claim()
    curve = box.chain.get_account(pump.curve)
    assert curve is not None and layout.curve_creator_fee(bytes(curve.data)) == 0
