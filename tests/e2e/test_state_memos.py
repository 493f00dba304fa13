"""Issue 11, item 4: every transaction the flywheel signs carries its state memo (docs/state.md).

By subprocess against the sandbox: each kind (collect, swap, burn, ads transfer, anchor, claim,
sweep) is read back with getTransaction and its memo decoded from the transaction's own bytes;
the figures are checked against the state database and the chain's balances. A Jupiter v1 swap
(API-built) carries none, as documented, and the closing anchor witnesses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from flywheel.domain.anchor import Anchor
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.keypair import write_keypair_file
from flywheel.solana.memo import memo_instruction
from flywheel.solana.settle import signed_transaction
from tests.e2e.harness import (
    ChainView,
    describe,
    finished_epochs,
    flywheel_env,
    run_cli,
    state_db,
)
from tests.e2e.memo_reading import state_memo
from tests.sandbox.harness import SandboxFactory, start_sandbox

pytestmark = pytest.mark.slow


def edit_env(directory: Path, **values: str) -> None:
    path = directory / ".env"
    lines = [line for line in path.read_text().splitlines() if line.split("=")[0] not in values]
    lines += [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


def memo_of(env: dict[str, str], signature: str | None, kind: str, epoch: EpochState) -> Anchor:
    assert signature is not None, f"no {kind} transaction"
    memo = state_memo(env["SOLANA_RPC_URL"], signature)
    assert memo is not None, f"the {kind} {signature} carries no state memo"
    assert (memo.kind, memo.epoch_id) == (kind, epoch.id)
    return memo


def cursor_of(env: dict[str, str]) -> str | None:
    with SqliteStore.open(state_db(env)) as store:
        return store.fee_cursor()


def test_every_transaction_of_an_epoch_carries_its_state_memo(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(separate_fee_collector=True)
    key = tmp_path / "secure" / "fee-collector.json"
    write_keypair_file(key, sandbox.scenario.fee_collector_keypair)
    ads_treasury = str(Keypair().pubkey())
    env = flywheel_env(
        sandbox,
        tmp_path,
        FEE_COLLECTOR_KEYPAIR_PATH=str(key),
        ANCHOR_STATE="true",
        JUPITER_SWAP_API="v2",
        ADS_TREASURY_PUBKEY=ads_treasury,
        MIN_BUYBACK_SOL="0",
    )
    view = ChainView(sandbox)
    sandbox.traders.step(4)
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    assert epoch.buyback_spent_lamports > 0 and epoch.ads_reserved_lamports > 0

    collect = memo_of(env, epoch.collect_signature, "collect", epoch)
    assert collect.cursor == cursor_of(env)  # the fees it moves are the ones counted
    assert collect.carried_lamports == epoch.input_lamports  # nothing spent yet
    swap = memo_of(env, epoch.swap_intents[-1].signature, "swap", epoch)
    # If the swap lands, its input is spent: the memo already says so, before it is sent.
    assert swap.carried_lamports == epoch.input_lamports - epoch.buyback_spent_lamports
    assert swap.unsettled_tokens == epoch.tokens_carried_in
    assert epoch.ads_transfer_intent is not None
    ads = memo_of(env, epoch.ads_transfer_intent.signature, "ads-transfer", epoch)
    assert ads.carried_lamports == epoch.carried_out_lamports
    assert ads.ads_reserve_lamports == 0, "landed, the share is in the ads treasury"
    assert view.sol(Pubkey.from_string(ads_treasury)) == epoch.ads_reserved_lamports
    # The ads transfer came last and its memo is where the epoch ended: no anchor is needed.
    assert epoch.anchor_signature is None
    assert ads.unsettled_tokens == epoch.tokens_carried_out == view.token_amount()
    with SqliteStore.open(state_db(env)) as store:
        ledger = (store.ads_available_micro_usd(), store.ads_reserve_in_executor_lamports())
    assert (ads.ads_available_micro_usd, ads.ads_reserve_lamports) == ledger

    # A v1 swap is Jupiter's as built: no memo in it; its separate burn has one, and the ads
    # share that now stays in the executor (no ads treasury) needs the closing anchor.
    edit_env(tmp_path, JUPITER_SWAP_API="v1", ADS_TREASURY_PUBKEY="")
    sandbox.traders.step(4)
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    second = finished_epochs(env)[-1]
    assert second.buyback_spent_lamports > 0
    assert state_memo(env["SOLANA_RPC_URL"], second.swap_intents[-1].signature) is None
    assert second.settle_intent is not None
    burn = memo_of(env, second.settle_intent.signature, "burn", second)
    assert burn.unsettled_tokens == second.tokens_to_settle
    assert second.tokens_to_settle == second.tokens_carried_in + second.tokens_bought > 0
    assert burn.carried_lamports == second.input_lamports - second.buyback_spent_lamports
    closing = memo_of(env, second.anchor_signature, "epoch", second)
    assert closing.unsettled_tokens == 0 == view.token_amount()
    assert closing.carried_lamports == second.carried_out_lamports
    with SqliteStore.open(state_db(env)) as store:
        assert closing.ads_reserve_lamports == store.ads_reserve_in_executor_lamports() > 0

    verified = run_cli(["state", "verify"], tmp_path)
    assert verified.returncode == 0, describe(verified)


def test_a_sweep_carries_the_standing_state(sandbox: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(sandbox, tmp_path, ANCHOR_STATE="true", JUPITER_SWAP_API="v2")
    sandbox.traders.step(3)
    assert run_cli(["epoch"], tmp_path).returncode == 0
    [epoch] = finished_epochs(env)
    cursor = cursor_of(env)
    new = str(Keypair().pubkey())
    swept = run_cli(["wallet", "sweep", "--to", new, "--yes"], tmp_path)
    assert swept.returncode == 0, describe(swept)
    with SqliteStore.open(state_db(env)) as store:
        sweeps = sorted(store.known_flywheel_signatures() - store.intent_signatures())
    assert sweeps, "the sweep journaled its transactions"
    for signature in sweeps:
        memo = state_memo(env["SOLANA_RPC_URL"], signature)
        assert memo is not None and memo.kind == "sweep" and memo.epoch_id is None
        assert memo.carried_lamports == epoch.carried_out_lamports
        assert memo.cursor == cursor  # the sweep then rebinds the state to the new wallet
    # The sweep is the database's own: the start-up check of the old executor still passes.
    verified = run_cli(["state", "verify"], tmp_path)
    assert verified.returncode == 0, describe(verified)


def test_a_token2022_claim_and_its_sale_carry_their_state_memos(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sandbox", fee_source="token2022")
    try:
        box.traders.step(6)
        env = flywheel_env(box, tmp_path / "bot", ANCHOR_STATE="true", JUPITER_SWAP_API="v2")
        result = run_cli(["epoch"], tmp_path / "bot")
        assert result.returncode == 0, describe(result)
        [epoch] = finished_epochs(env)
        [claim] = epoch.claim_intents
        memo = memo_of(env, claim.signature, "claim", epoch)
        # Signed before detect: the cursor and the carry are the previous epoch's (none).
        assert (memo.cursor, memo.carried_lamports, memo.unsettled_tokens) == (None, 0, 0)
        assert epoch.settle_intent is not None
        burn = memo_of(env, epoch.settle_intent.signature, "burn", epoch)
        assert burn.unsettled_tokens == epoch.tokens_settled > 0  # before it; it burns them all
        assert burn.ads_tokens == epoch.ads_tokens_for_sale > 0  # the ads share, not yet sold
        # The sale (composed by us on v2) states the ads tokens as they are once it lands.
        [sale] = [i for i in epoch.sell_intents if i.status == "confirmed"]
        sold = memo_of(env, sale.signature, "sell", epoch)
        assert epoch.ads_tokens_sold > 0
        assert sold.ads_tokens == epoch.ads_tokens_carried_out == 0
        # The sale's SOL became ads budget without a transaction: only an anchor says so.
        assert epoch.anchor_signature is not None
        assert ChainView(box).token_amount() == epoch.ads_tokens_carried_out
    finally:
        box.stop()


def test_a_memo_someone_else_signed_is_not_the_flywheels(sandbox: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(sandbox, tmp_path, ANCHOR_STATE="true", JUPITER_SWAP_API="v2")
    sandbox.traders.step(3)
    assert run_cli(["epoch"], tmp_path).returncode == 0
    [epoch] = finished_epochs(env)
    # A stranger sends the executor a lamport with a memo that claims a huge carried amount.
    stranger = Keypair()
    sandbox.chain.airdrop(stranger.pubkey(), 10**9)
    forged = Anchor(epoch.id, epoch.id, 10**15, 0, 0, 0, kind="epoch").memo()
    ixs = [
        transfer(
            TransferParams(
                from_pubkey=stranger.pubkey(), to_pubkey=sandbox.executor.pubkey(), lamports=1
            )
        ),
        memo_instruction(forged, stranger.pubkey()),
    ]
    blockhash, _ = sandbox.chain.latest_blockhash()
    sandbox.chain.send(signed_transaction(stranger, ixs, blockhash))
    verified = run_cli(["state", "verify"], tmp_path)
    assert verified.returncode == 0, describe(verified)
    Path(state_db(env)).unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{state_db(env)}{suffix}").unlink(missing_ok=True)
    rebuilt = run_cli(["state", "rebuild"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    with SqliteStore.open(state_db(env)) as store:
        assert store.carried_lamports(EpochMode.LIVE) == epoch.carried_out_lamports
