"""SandboxChain's Python API directly: time, threads, signatures, checks in simulation."""

from __future__ import annotations

import threading
import time

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from flywheel.sandbox.chain.runtime import STATUS_CACHE_SLOTS, SandboxChain
from flywheel.sandbox.chain.types import PreflightFailure, SignatureVerificationFailure

SOL = 1_000_000_000


def transfer_tx(payer: Keypair, lamports: int, blockhash: Hash) -> VersionedTransaction:
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=lamports)
    )
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash), [payer])


def test_wall_clock_moves_slots_and_blockhashes() -> None:
    chain = SandboxChain(slot_ms=20)
    slot, (blockhash, _) = chain.slot(), chain.latest_blockhash()
    time.sleep(0.15)
    assert chain.slot() >= slot + 5
    assert chain.latest_blockhash()[0] != blockhash
    assert chain.is_blockhash_valid(blockhash)
    chain.advance(100)
    assert chain.slot() >= slot + 105
    assert chain.block_time(slot + 100) - chain.block_time(slot) == 2  # 100 slots of 20 ms


def test_concurrent_senders_are_serialised() -> None:
    chain = SandboxChain(slot_ms=0)
    wallets = [Keypair() for _ in range(4)]
    for wallet in wallets:
        chain.airdrop(wallet.pubkey(), 10 * SOL)
    errors: list[BaseException] = []

    def run(wallet: Keypair) -> None:
        try:
            for i in range(25):
                chain.send(transfer_tx(wallet, SOL // 100 + i, chain.latest_blockhash()[0]))
                if i % 5 == 0:
                    chain.advance(1)
        except BaseException as exc:  # surfaced below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in wallets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for wallet in wallets:
        history = chain.signatures_for_address(wallet.pubkey(), limit=1000)
        assert len(history) == 26  # the airdrop and 25 transfers
        sent = sum(SOL // 100 + i for i in range(25))
        assert chain.balance(wallet.pubkey()) == 10 * SOL - sent - 25 * 5_000


def test_bad_signature_and_unpayable_fee_never_land() -> None:
    chain = SandboxChain(slot_ms=0)
    payer = Keypair()
    chain.airdrop(payer.pubkey(), SOL)
    tx = transfer_tx(payer, 1_000_000, chain.latest_blockhash()[0])
    forged = VersionedTransaction.populate(tx.message, [Signature.new_unique()])
    with pytest.raises(SignatureVerificationFailure):
        chain.send(forged, skip_preflight=True)

    broke = Keypair()  # no account at all: the fee cannot be paid
    orphan = transfer_tx(broke, 1_000_000, chain.latest_blockhash()[0])
    with pytest.raises(PreflightFailure):
        chain.send(orphan)
    assert chain.send(orphan, skip_preflight=True) == orphan.signatures[0]
    assert chain.get_transaction(orphan.signatures[0]) is None
    assert chain.signatures_for_address(broke.pubkey()) == []


def test_airdrop_checks() -> None:
    chain = SandboxChain(slot_ms=0)
    with pytest.raises(ValueError, match="positive"):
        chain.airdrop(Keypair().pubkey(), 0)
    with pytest.raises(PreflightFailure):  # below rent exemption for a new account
        chain.airdrop(Keypair().pubkey(), 1_000)
    wallet = Keypair().pubkey()
    first, second = chain.airdrop(wallet, SOL), chain.airdrop(wallet, SOL)
    assert first != second and chain.balance(wallet) == 2 * SOL


def test_execution_check_applies_to_simulation_without_charging() -> None:
    chain = SandboxChain(slot_ms=0)
    payer = Keypair()
    chain.airdrop(payer.pubkey(), SOL)
    seen: list[VersionedTransaction] = []

    def check(tx: object) -> tuple[int, int] | None:
        assert isinstance(tx, VersionedTransaction)
        seen.append(tx)
        return (0, 6001)

    chain.add_execution_check(check)
    tx = transfer_tx(payer, 1_000_000, chain.latest_blockhash()[0])
    result = chain.simulate(tx, accounts=[payer.pubkey()])
    assert result.err == TransactionErrorInstructionError(0, InstructionErrorCustom(6001))
    assert result.fee == 5_000
    assert result.accounts is not None and result.accounts[0] is not None
    assert result.accounts[0].lamports == SOL
    assert chain.balance(payer.pubkey()) == SOL and seen[0] == tx


def test_status_cache_window_without_history_search() -> None:
    chain = SandboxChain(slot_ms=0)
    sig = chain.airdrop(Keypair().pubkey(), SOL)
    assert chain.signature_status(sig, search_history=False) is not None
    chain.advance(STATUS_CACHE_SLOTS + 1)
    assert chain.signature_status(sig, search_history=False) is None
    found = chain.signature_status(sig, search_history=True)
    assert found is not None and found[1] is None and found[2] == "finalized"
