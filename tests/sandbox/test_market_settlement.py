"""Execution-time pricing: with the market on, a stale swap fills at the curve when it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.sandbox.jupiter.dex import SOL_MINT, sign_as
from flywheel.sandbox.jupiter.pool import TransferFee, swap_out
from tests.sandbox.harness import start_sandbox
from tests.sandbox.market_helpers import SOL, send_public, tokens_of, victim_buy


@pytest.mark.parametrize(
    ("market_on", "fee_source"), [(True, "wallet"), (False, "wallet"), (True, "token2022")]
)
def test_a_stale_buy_fills_at_the_curve_only_while_the_market_is_on(
    tmp_path: Path, market_on: bool, fee_source: str
) -> None:
    sandbox = start_sandbox(tmp_path, arbitrage=market_on, fee_source=fee_source)
    try:
        stale = victim_buy(sandbox, SOL, 500, marker=False)
        mover = victim_buy(sandbox, 2 * SOL, 500, marker=False)  # lands first, price up ~4%
        send_public(sandbox, mover.tx)
        reserves = sandbox.pool.reserves(sandbox.chain)
        send_public(sandbox, stale.tx)
        got = tokens_of(sandbox, stale.keypair.pubkey())
        gross = swap_out(SOL, reserves.sol, reserves.token).amount_out
        # Token-2022: the mint withholds 1% of every transfer (the sandbox's transfer fee).
        curve = gross if fee_source == "wallet" else TransferFee(100, 10**15).net(gross)
        assert curve < stale.quote.out_amount
        assert got == (curve if market_on else stale.quote.out_amount)
        # The transaction's own record says what the account holds.
        record = sandbox.chain.get_transaction(stale.signature)
        assert record is not None and record.err is None
        [post] = [b for b in record.post_token_balances if b.owner == stale.keypair.pubkey()]
        assert post.amount == got
        # The vault paid exactly what delivers that (with Token-2022, plus the fee withheld on
        # the way): nothing was created or lost.
        after = sandbox.pool.reserves(sandbox.chain)
        assert reserves.token - after.token == sandbox.pool.pool_out_for(got, buy=True)
    finally:
        sandbox.stop()


def test_a_sell_is_left_to_the_curve_and_not_sandwiched(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path, searcher=True)
    try:
        buyer = victim_buy(sandbox, SOL, 0, marker=False)
        send_public(sandbox, buyer.tx)
        assert sandbox.market.searcher.sandwiches == []  # no room: nothing to take
        chain, pool = sandbox.chain, sandbox.pool
        tokens = tokens_of(sandbox, buyer.keypair.pubkey())
        quote = pool.quote(chain, pool.mint, SOL_MINT, tokens, 500)
        tx, _ = pool.build_swap(
            chain, buyer.keypair.pubkey(), quote, compute_unit_limit=200_000, compute_unit_price=0
        )
        before = chain.balance(buyer.keypair.pubkey())
        send_public(sandbox, sign_as(tx, buyer.keypair))
        assert sandbox.market.searcher.sandwiches == []  # buybacks only buy: sells are not hunted
        assert chain.balance(buyer.keypair.pubkey()) - before == quote.out_amount - 10_000
    finally:
        sandbox.stop()
