"""FEE_SOURCES=token2022: the ads share of the fee tokens sold for SOL (the ads.sell step).

`flywheel epoch` as an operator runs it, against the sandbox's real Token-2022 mint and its
Jupiter, which serves the sale (token -> SOL) for its pool: the pool receives the tokens net
of the transfer fee. Everything is checked against the chain's own records: the sale's token
and SOL balances, the mint's supply, the pool's reserves, the attacker's balance.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.chain.ledger import TxRecord
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    describe,
    epochs_in,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
    run_crash_epoch,
    state_db,
)
from tests.fee_sources.harness import withheld
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow
TRADES = 12  # enough withheld fees that their ads share is worth more than MIN_CLAIM_SOL


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=5)


@pytest.fixture
def box(tmp_path: Path, faults: Faults) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox", fee_source="token2022", faults=faults)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def record_of(view: ChainView, signature: str) -> TxRecord:
    return next(r for r in view.history() if str(r.signature) == signature)


def executor_tokens(view: ChainView, record: TxRecord, *, post: bool) -> int:
    balances = record.post_token_balances if post else record.pre_token_balances
    mint = view.sandbox.token_mint
    return sum(b.amount for b in balances if b.owner == view.executor and b.mint == mint)


def only_epoch(env: dict[str, str]) -> EpochState:
    epochs = finished_epochs(env)
    assert len(epochs) == 1, [e.id for e in epochs]
    return epochs[0]


def check_token_identity(epoch: EpochState) -> None:
    """tokens in = tokens settled + tokens sold + tokens carried."""
    tokens_in = epoch.fee_tokens_in + epoch.ads_tokens_carried_in + epoch.tokens_carried_in
    tokens_in += epoch.tokens_bought
    out = epoch.tokens_settled + epoch.ads_tokens_sold
    out += epoch.tokens_carried_out + epoch.ads_tokens_carried_out
    assert tokens_in == out


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_epoch_burns_the_buyback_share_and_sells_the_ads_share(
    box: Sandbox, tmp_path: Path, api: str
) -> None:
    """In both JUPITER_SWAP_API modes: v1 /quote and /swap, or v2 /build composed by us."""
    view = ChainView(box)
    box.traders.step(TRADES)
    owed = withheld(box)
    supply_before, bookmark = view.supply(), view.next_seq()
    pool_tokens_before = box.pool.reserves(box.chain).token
    env = flywheel_env(box, tmp_path / "bot", JUPITER_SWAP_API=api)

    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    epoch = only_epoch(env)
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    assert epoch.fee_tokens_in == owed > 0
    # The chain's order: the claim, the burn of the buyback share (no swap), then the sale.
    txs = view.executor_txs(bookmark)
    # (ChainView names a swap by the pool's SOL vault: a v2 sale draws from its escrow instead.)
    sale_kind = "swap" if api == "v1" else "other"
    assert [t.kind for t in txs] == ["other", "burn", sale_kind], [t.kind for t in txs]
    assert supply_before - view.supply() == epoch.tokens_settled == epoch.fee_tokens_to_settle
    [sale] = epoch.sell_intents
    assert sale.status == "confirmed" and epoch.sale_signature == sale.signature
    assert txs[2].signature == sale.signature and txs[2].ok
    record = record_of(view, sale.signature)
    # Tokens sold and SOL received, from the sale's own balances.
    sold = executor_tokens(view, record, post=False) - executor_tokens(view, record, post=True)
    assert epoch.ads_tokens_sold == sold == epoch.fee_tokens_for_ads
    assert epoch.ads_sale_lamports == view.executor_delta(record) > 0
    assert epoch.ads_sale_lamports + sale.fee_lamports >= epoch.sell_min_lamports > 0
    # The pool received the tokens net of the Token-2022 transfer fee (withheld in its vault).
    pool_gain = box.pool.reserves(box.chain).token - pool_tokens_before
    assert 0 < pool_gain < sold
    assert view.token_amount() == 0 and epoch.ads_tokens_carried_out == 0
    check_token_identity(epoch)
    # The SOL became ads budget: booked in the ledger at the epoch's SOL price.
    with SqliteStore.open(state_db(env)) as store:
        [accrued] = [e for e in store.ads_entries(epoch.id) if e.kind == "accrued"]
        assert accrued.lamports == epoch.ads_planned_lamports + epoch.ads_sale_lamports
        assert accrued.micro_usd > 0
    assert epoch.ads_reserved_lamports == epoch.ads_planned_lamports  # SOL identity unchanged
    report = report_of(epoch)
    assert report["claims"]["sale"]["signature"] == sale.signature
    assert report["claims"]["sale"]["tokens_sold"] == sold
    assert report["claims"]["sale"]["lamports_received"] == epoch.ads_sale_lamports

    # Nothing new to sell: a second epoch signs nothing.
    again = run_cli(["epoch"], tmp_path / "bot")
    assert again.returncode == 0, describe(again)
    second = finished_epochs(env)[-1]
    assert second.sell_intents == [] and second.ads_tokens_carried_in == 0


def test_with_an_ads_treasury_the_sale_s_sol_goes_there(box: Sandbox, tmp_path: Path) -> None:
    view = ChainView(box)
    box.traders.step(TRADES)
    treasury = Keypair().pubkey()
    env = flywheel_env(box, tmp_path / "bot", ADS_TREASURY_PUBKEY=str(treasury))
    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    epoch = only_epoch(env)
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    assert epoch.ads_sale_lamports > 0 and epoch.ads_transfer_intent is not None
    assert view.sol(treasury) == epoch.ads_planned_lamports + epoch.ads_sale_lamports
    with SqliteStore.open(state_db(env)) as store:
        assert store.ads_reserve_in_executor_lamports() == 0  # all of it went to the treasury


def test_a_sale_worth_less_than_min_claim_sol_carries_then_sells(
    box: Sandbox, tmp_path: Path
) -> None:
    """All the fees are worth a claim, their ads share (ADS_PERCENT 30) not a sale: it carries;
    with a lower threshold the next epoch sells what was carried with its own share."""
    view = ChainView(box)
    box.traders.step(TRADES)
    env = flywheel_env(box, tmp_path / "bot", MIN_CLAIM_SOL="0.015")
    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    first = only_epoch(env)
    assert first.fee_tokens_in > 0, first.claim_notes
    assert any("below MIN_CLAIM_SOL" in n for n in first.sell_notes), first.sell_notes
    assert first.sell_intents == [] and first.ads_tokens_sold == 0
    assert view.token_amount() == first.ads_tokens_carried_out == first.fee_tokens_for_ads > 0
    check_token_identity(first)

    box.traders.step(4)
    env = flywheel_env(box, tmp_path / "bot", MIN_CLAIM_SOL="0.001")
    again = run_cli(["epoch"], tmp_path / "bot")
    assert again.returncode == 0, describe(again)
    second = finished_epochs(env)[-1]
    assert second.ads_tokens_carried_in == first.ads_tokens_carried_out
    assert second.sale_signature is not None, second.sell_notes
    assert second.ads_tokens_sold == first.ads_tokens_carried_out + second.fee_tokens_for_ads
    assert view.token_amount() == 0
    check_token_identity(second)


@pytest.mark.parametrize(
    ("api", "step", "send"),
    [
        ("v1", "buyback.settle", None),
        ("v1", None, 3),
        ("v2", None, 3),
        ("v1", "ads.sell", None),
    ],
    ids=["before-sale", "sale-sent", "v2-sale-sent", "after-sale-step"],
)
def test_sigkill_around_the_sale_never_sells_twice(
    box: Sandbox, tmp_path: Path, api: str, step: str | None, send: int | None
) -> None:
    """Sends: 1 the claim, 2 the burn, 3 the sale (killed right after it went out)."""
    view = ChainView(box)
    box.traders.step(TRADES)
    bookmark = view.next_seq()
    env = flywheel_env(box, tmp_path / "bot", JUPITER_SWAP_API=api)

    crashed = run_crash_epoch(tmp_path / "bot", after_step=step, after_send=send)
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    resumed = run_cli(["epoch"], tmp_path / "bot")
    assert resumed.returncode == 0, describe(resumed)

    assert not [e for e in epochs_in(env) if e.status is EpochStatus.RUNNING]
    epoch = only_epoch(env)
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    # The claim, the burn, then the sale, each once (a v2 sale is "other" to ChainView).
    txs = [t for t in view.executor_txs(bookmark) if t.ok]
    assert [t.kind for t in txs][:2] == ["other", "burn"] and len(txs) == 3, txs
    sales = txs[2:]
    assert epoch.sale_signature == sales[0].signature
    record = record_of(view, sales[0].signature)
    assert epoch.ads_sale_lamports == view.executor_delta(record)
    assert epoch.ads_tokens_sold == epoch.fee_tokens_for_ads
    assert view.token_amount() == 0
    check_token_identity(epoch)


def test_simulate_guards_the_sale_of_carried_tokens_and_sends_nothing(
    box: Sandbox, tmp_path: Path
) -> None:
    view = ChainView(box)
    box.traders.step(TRADES)
    flywheel_env(box, tmp_path / "bot", MIN_CLAIM_SOL="0.015")  # the ads share carries
    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    held, bookmark = view.token_amount(), view.next_seq()
    assert held > 0
    env = flywheel_env(box, tmp_path / "bot", MIN_CLAIM_SOL="0.001")

    rehearsal = run_cli(["simulate"], tmp_path / "bot")
    assert rehearsal.returncode == 0, describe(rehearsal)
    [simulated] = epochs_in(env, EpochMode.SIMULATE)
    assert simulated.status is EpochStatus.SUCCEEDED, simulated.errors
    assert simulated.ads_tokens_carried_in == held == simulated.ads_tokens_sold
    assert simulated.sell_intents == [] and simulated.sale_signature is None
    assert simulated.ads_sale_lamports > 0 and simulated.sell_quote is not None
    assert any("simulated" in n for n in simulated.sell_notes), simulated.sell_notes
    # Nothing was sent: the tokens are still there.
    assert view.executor_txs(bookmark) == [] and view.token_amount() == held


HOSTILE_SALES = [
    ("sell_extra_tokens", 1, "token overdraw"),
    ("sell_short_bps", 1_000, "short payment"),
    ("malicious_swap", True, "extra transfer"),
    ("loose_threshold", True, "otherAmountThreshold"),
    ("swap_delegate", True, "delegate"),
]


@pytest.mark.parametrize(
    ("api", "fault", "value", "reason"),
    [
        *(("v1", *case) for case in HOSTILE_SALES),
        # v1 only: with v2 the compute budget is ours, Jupiter's is dropped.
        ("v1", "inflated_compute_budget", True, "inflated compute budget"),
        *(("v2", *case) for case in HOSTILE_SALES),
    ],
)
def test_hostile_sales_are_refused_and_nothing_leaves(
    box: Sandbox,
    faults: Faults,
    tmp_path: Path,
    api: str,
    fault: str,
    value: object,
    reason: str,
) -> None:
    view = ChainView(box)
    box.traders.step(TRADES)
    # Held, not burned: the executor holds more tokens than it sells, so a sale that takes
    # more is possible on chain and only the guard stands in its way.
    env = flywheel_env(box, tmp_path / "bot", BUYBACK_DESTINATION="hold", JUPITER_SWAP_API=api)
    faults.update(**{fault: value})
    attacker_before = view.sol(box.attacker)

    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 1, describe(done)
    epoch = only_epoch(env)
    [error] = epoch.errors
    assert error.step == "ads.sell" and error.kind == "GuardRefused", error
    assert reason in error.message, error.message
    assert epoch.sell_intents == [] and epoch.sale_signature is None
    # Nothing left: the claim landed, the sale was never signed; every fee token is there.
    assert view.token_amount() == epoch.fee_tokens_in
    assert epoch.ads_tokens_carried_out == epoch.fee_tokens_for_ads
    assert view.sol(box.attacker) == attacker_before
    assert "GuardRefused" in report_of(epoch)["errors"][0]["kind"]
    check_token_identity(epoch)
