"""The sandbox JSON-RPC server through solana-py's AsyncClient over real HTTP on loopback."""

from __future__ import annotations

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.jsonrpc import JsonRpcRequest, SolanaJsonRpcError
from solana.rpc.models import TxOpts
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    InstructionErrorCustom,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    UiRawMessage,
    UiTransaction,
)

from flywheel.sandbox.chain.runtime import BLOCK_HEIGHT_LAG, SandboxChain

SOL = 1_000_000_000
FEE = 5_000
SKIP = TxOpts(skip_preflight=True)


def transfer_ix(src: Keypair, dst: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=src.pubkey(), to_pubkey=dst, lamports=lamports))


def v0_tx(payer: Keypair, ixs: list[Instruction], blockhash: Hash) -> VersionedTransaction:
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash), [payer])


def account_keys(got: EncodedConfirmedTransactionWithStatusMeta) -> list[Pubkey]:
    """The keys of a transaction fetched with encoding "json"."""
    tx = got.transaction.transaction
    assert isinstance(tx, UiTransaction) and isinstance(tx.message, UiRawMessage)
    return list(tx.message.account_keys)


async def is_valid(client: AsyncClient, blockhash: Hash) -> bool:
    """isBlockhashValid, which AsyncClient has no method for."""
    request = JsonRpcRequest(method="isBlockhashValid", params=[str(blockhash)])
    result = await client.send_rpc_request(request, dict[str, object])
    assert isinstance(result["value"], bool)
    return result["value"]


def preflight_data(exc: RPCException) -> SendTransactionPreflightFailureMessage:
    detail = exc.args[0]
    assert isinstance(detail, SendTransactionPreflightFailureMessage)
    return detail


async def test_health_version_slot_and_block_height(
    rpc_server: tuple[SandboxChain, str], rpc_client: AsyncClient
) -> None:
    chain, url = rpc_server
    assert await rpc_client.is_connected()
    assert (await rpc_client.get_version()).value.solana_core
    slot = (await rpc_client.get_slot()).value
    assert slot == chain.slot()
    assert (await rpc_client.get_block_height()).value == slot - BLOCK_HEIGHT_LAG
    async with httpx.AsyncClient() as http:
        moved = await http.post(f"{url}/_sandbox/advance", json={"slots": 7})
    assert moved.json() == {"slot": slot + 7, "blockHeight": slot + 7 - BLOCK_HEIGHT_LAG}
    assert (await rpc_client.get_slot()).value == slot + 7


async def test_balance_account_info_and_multiple_accounts(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    nobody = Keypair().pubkey()
    balance = await rpc_client.get_balance(funded_wallet.pubkey())
    assert balance.value == 10 * SOL
    assert balance.context.slot == rpc_chain.slot()
    info = (await rpc_client.get_account_info(funded_wallet.pubkey())).value
    assert info is not None
    assert (info.lamports, info.owner, info.data, info.executable) == (
        10 * SOL,
        SYSTEM_PROGRAM_ID,
        b"",
        False,
    )
    assert (await rpc_client.get_account_info(nobody)).value is None
    many = (await rpc_client.get_multiple_accounts([funded_wallet.pubkey(), nobody])).value
    assert many[0] is not None and many[0].lamports == 10 * SOL
    assert many[1] is None
    assert (await rpc_client.get_balance(nobody)).value == 0


async def test_sol_transfer_shows_in_history_with_balance_deltas(
    rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    receiver = Keypair().pubkey()
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    tx = v0_tx(funded_wallet, [transfer_ix(funded_wallet, receiver, 2 * SOL)], blockhash)
    sig = (await rpc_client.send_transaction(tx)).value
    assert sig == tx.signatures[0]

    status = (await rpc_client.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err is None
    listed = (await rpc_client.get_signatures_for_address(receiver)).value
    assert [s.signature for s in listed] == [sig]
    assert listed[0].err is None and listed[0].block_time is not None

    got = (await rpc_client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None
    meta = got.transaction.meta
    assert meta is not None and meta.err is None and meta.fee == FEE
    keys = [str(k) for k in account_keys(got)]
    sender_i, receiver_i = keys.index(str(funded_wallet.pubkey())), keys.index(str(receiver))
    assert meta.pre_balances[sender_i] - meta.post_balances[sender_i] == 2 * SOL + FEE
    assert meta.post_balances[receiver_i] - meta.pre_balances[receiver_i] == 2 * SOL
    assert got.transaction.version == 0
    assert got.block_time is not None and got.slot == status.slot
    assert (await rpc_client.get_balance(receiver)).value == 2 * SOL


async def test_airdrop_is_a_transfer_in_history(
    rpc_chain: SandboxChain, rpc_client: AsyncClient
) -> None:
    wallet = Keypair().pubkey()
    sig = (await rpc_client.request_airdrop(wallet, 3 * SOL)).value
    listed = (await rpc_client.get_signatures_for_address(wallet)).value
    assert [s.signature for s in listed] == [sig]
    got = (await rpc_client.get_transaction(sig)).value  # legacy: no version needed
    assert got is not None and got.transaction.version is not None
    meta = got.transaction.meta
    assert meta is not None
    keys = [str(k) for k in account_keys(got)]
    i = keys.index(str(wallet))
    assert (meta.pre_balances[i], meta.post_balances[i]) == (0, 3 * SOL)
    assert str(rpc_chain.faucet.pubkey()) in keys


async def test_v0_transaction_needs_max_supported_version_legacy_does_not(
    rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    v0 = v0_tx(funded_wallet, [transfer_ix(funded_wallet, Keypair().pubkey(), SOL)], blockhash)
    await rpc_client.send_transaction(v0)
    with pytest.raises(RPCException) as caught:
        await rpc_client.get_transaction(v0.signatures[0])
    assert "maxSupportedTransactionVersion" in str(caught.value)

    message = Message([transfer_ix(funded_wallet, Keypair().pubkey(), SOL)], funded_wallet.pubkey())
    legacy = Transaction([funded_wallet], message, blockhash)
    await rpc_client.send_raw_transaction(bytes(legacy))
    got = (await rpc_client.get_transaction(legacy.signatures[0])).value
    assert got is not None
    assert got.transaction.meta is not None and got.transaction.meta.err is None
    assert (await rpc_client.get_transaction(Signature.new_unique())).value is None


async def test_preflight_failure_raises_with_logs_and_lands_nothing(
    rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    tx = v0_tx(funded_wallet, [transfer_ix(funded_wallet, Keypair().pubkey(), 50 * SOL)], blockhash)
    with pytest.raises(RPCException) as caught:
        await rpc_client.send_transaction(tx)
    detail = preflight_data(caught.value)
    assert detail.data.err == TransactionErrorInstructionError(0, InstructionErrorCustom(1))
    assert any("insufficient lamports" in line for line in detail.data.logs or [])
    assert (await rpc_client.get_signature_statuses([tx.signatures[0]])).value == [None]
    assert (await rpc_client.get_balance(funded_wallet.pubkey())).value == 10 * SOL


async def test_resending_identical_bytes_executes_once(
    rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    receiver = Keypair().pubkey()
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    tx = v0_tx(funded_wallet, [transfer_ix(funded_wallet, receiver, SOL)], blockhash)
    first = (await rpc_client.send_raw_transaction(bytes(tx), SKIP)).value
    again = (await rpc_client.send_raw_transaction(bytes(tx), SKIP)).value
    assert first == again == tx.signatures[0]
    with pytest.raises(RPCException) as caught:
        await rpc_client.send_raw_transaction(bytes(tx))
    assert preflight_data(caught.value).data.err == TransactionErrorFieldless.AlreadyProcessed
    assert (await rpc_client.get_balance(receiver)).value == SOL
    assert (await rpc_client.get_balance(funded_wallet.pubkey())).value == 9 * SOL - FEE
    assert len((await rpc_client.get_signatures_for_address(receiver)).value) == 1


async def test_blockhash_valid_for_its_lifetime_then_not_found(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    latest = (await rpc_client.get_latest_blockhash()).value
    height = (await rpc_client.get_block_height()).value
    assert latest.last_valid_block_height == height + 150
    rpc_chain.advance(150)  # the last block at which it is still valid
    assert (await is_valid(rpc_client, latest.blockhash)) is True
    ok = v0_tx(
        funded_wallet, [transfer_ix(funded_wallet, Keypair().pubkey(), SOL)], latest.blockhash
    )
    await rpc_client.send_transaction(ok)  # an old-but-valid blockhash still lands
    assert (await rpc_client.get_signature_statuses([ok.signatures[0]])).value[0] is not None

    rpc_chain.advance(1)
    assert (await rpc_client.get_block_height()).value > latest.last_valid_block_height
    assert (await is_valid(rpc_client, latest.blockhash)) is False
    late = v0_tx(
        funded_wallet, [transfer_ix(funded_wallet, Keypair().pubkey(), SOL)], latest.blockhash
    )
    with pytest.raises(RPCException) as caught:
        await rpc_client.send_transaction(late)
    detail = preflight_data(caught.value)
    assert detail.data.err == TransactionErrorFieldless.BlockhashNotFound
    assert "Blockhash not found" in detail.message
    # Without preflight a node accepts it, and it never lands.
    assert (await rpc_client.send_transaction(late, SKIP)).value == late.signatures[0]
    statuses = await rpc_client.get_signature_statuses([late.signatures[0]], True)
    assert statuses.value == [None]
    assert (await is_valid(rpc_client, Hash.new_unique())) is False


async def test_execution_check_fails_tx_with_custom_error_and_charges_fee(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    victim = Keypair().pubkey()
    rpc_chain.add_execution_check(
        lambda tx: (1, 6001) if victim in tx.message.account_keys else None
    )
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    ixs = [set_compute_unit_limit(10_000), transfer_ix(funded_wallet, victim, SOL)]
    tx = v0_tx(funded_wallet, ixs, blockhash)

    with pytest.raises(RPCException) as caught:
        await rpc_client.send_transaction(tx)
    expected = TransactionErrorInstructionError(1, InstructionErrorCustom(6001))
    assert preflight_data(caught.value).data.err == expected
    assert (await rpc_client.get_balance(funded_wallet.pubkey())).value == 10 * SOL

    sig = (await rpc_client.send_transaction(tx, SKIP)).value
    status = (await rpc_client.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err == expected
    got = (await rpc_client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.meta is not None
    meta = got.transaction.meta
    assert meta.err == expected and meta.fee == FEE
    assert meta.pre_balances[0] - meta.post_balances[0] == FEE
    assert f"Program {SYSTEM_PROGRAM_ID} failed: custom program error: 0x1771" in (
        meta.log_messages or []
    )
    await rpc_client.send_transaction(tx, SKIP)  # the signature cannot be reused
    assert (await rpc_client.get_balance(funded_wallet.pubkey())).value == 10 * SOL - FEE
    assert (await rpc_client.get_balance(victim)).value == 0
    listed = (await rpc_client.get_signatures_for_address(funded_wallet.pubkey(), limit=1)).value
    assert listed[0].signature == sig and listed[0].err == expected


async def test_signatures_for_address_pages_newest_first_exclusive_bounds(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    receiver = Keypair().pubkey()
    sigs = []
    for i in range(5):
        blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
        tx = v0_tx(funded_wallet, [transfer_ix(funded_wallet, receiver, SOL + i)], blockhash)
        sigs.append((await rpc_client.send_transaction(tx)).value)
        rpc_chain.advance(1)
    newest_first = list(reversed(sigs))

    async def page(**kw: object) -> list[Signature]:
        resp = await rpc_client.get_signatures_for_address(receiver, **kw)  # type: ignore[arg-type]
        return [s.signature for s in resp.value]

    assert await page() == newest_first
    assert await page(limit=2) == newest_first[:2]
    assert await page(before=newest_first[1], limit=2) == newest_first[2:4]
    assert await page(until=newest_first[3]) == newest_first[:3]
    assert await page(before=newest_first[0], until=newest_first[4]) == newest_first[1:4]
    slots = [s.slot for s in (await rpc_client.get_signatures_for_address(receiver)).value]
    assert slots == sorted(slots, reverse=True) and len(set(slots)) == 5


async def test_simulate_returns_post_state_without_changing_anything(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    receiver = Keypair().pubkey()
    latest = (await rpc_client.get_latest_blockhash()).value
    tx = v0_tx(funded_wallet, [transfer_ix(funded_wallet, receiver, 3 * SOL)], latest.blockhash)
    sim = (
        await rpc_client.simulate_transaction(
            tx, accounts_addresses=[funded_wallet.pubkey(), receiver]
        )
    ).value
    assert sim.err is None and sim.units_consumed and sim.units_consumed > 0
    assert sim.accounts is not None
    payer_after, receiver_after = sim.accounts
    assert payer_after is not None and payer_after.lamports == 7 * SOL - FEE
    assert receiver_after is not None and receiver_after.lamports == 3 * SOL
    assert (await rpc_client.get_balance(receiver)).value == 0

    forged = VersionedTransaction.populate(tx.message, [Signature.new_unique()])
    with pytest.raises(RPCException):
        await rpc_client.simulate_transaction(forged, sig_verify=True)
    assert (await rpc_client.simulate_transaction(forged)).value.err is None

    rpc_chain.advance(151)
    expired = (await rpc_client.simulate_transaction(tx)).value
    assert expired.err == TransactionErrorFieldless.BlockhashNotFound
    replaced = (await rpc_client.simulate_transaction(tx, replace_recent_blockhash=True)).value
    assert replaced.err is None
    assert replaced.replacement_blockhash is not None
    assert replaced.replacement_blockhash.blockhash != latest.blockhash
    assert (await rpc_client.get_balance(receiver)).value == 0


async def test_prioritization_fees_and_rent_exemption(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    receiver = Keypair().pubkey()
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    ixs = [
        set_compute_unit_limit(1_000),
        set_compute_unit_price(7_000_000),
        transfer_ix(funded_wallet, receiver, SOL),
    ]
    sig = (await rpc_client.send_transaction(v0_tx(funded_wallet, ixs, blockhash))).value
    got = (await rpc_client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.meta is not None
    assert got.transaction.meta.fee == FEE + 7_000  # 7e6 micro-lamports x 1,000 CU
    slot = rpc_chain.slot()
    rpc_chain.advance(2)
    fees = (await rpc_client.get_recent_prioritization_fees([receiver])).value
    by_slot = {f.slot: f.prioritization_fee for f in fees}
    assert by_slot[slot] == 7_000_000 and by_slot[slot + 1] == 0
    assert max(by_slot) == rpc_chain.slot() and len(fees) <= 150
    other = (await rpc_client.get_recent_prioritization_fees([Keypair().pubkey()])).value
    assert all(f.prioritization_fee == 0 for f in other)

    rent = (await rpc_client.get_minimum_balance_for_rent_exemption(165)).value
    assert rent == rpc_chain.svm.minimum_balance_for_rent_exemption(165) == 2_039_280


async def test_json_rpc_errors_through_async_client(rpc_client: AsyncClient) -> None:
    with pytest.raises(SolanaJsonRpcError) as caught:
        await rpc_client.send_rpc_request(JsonRpcRequest(method="getNoSuchThing"), object)
    assert caught.value.code == -32601
    with pytest.raises(SolanaJsonRpcError) as caught:
        await rpc_client.send_rpc_request(
            JsonRpcRequest(method="getBalance", params=["not-a-key"]), object
        )
    assert caught.value.code == -32602
