"""The sandbox's sandwich searcher, over the real send paths (RPC and the Jito engine)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from solders.keypair import Keypair

from flywheel.sandbox.jupiter.pool import swap_out
from flywheel.sandbox.runner import Sandbox
from tests.sandbox.harness import start_sandbox
from tests.sandbox.market_helpers import SOL, mid, send_jito, send_public, tokens_of, victim_buy


@pytest.fixture
def sandwiching(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path, searcher=True)
    yield sandbox
    sandbox.stop()


def test_an_unprotected_public_swap_with_room_is_sandwiched(sandwiching: Sandbox) -> None:
    sandbox, searcher = sandwiching, sandwiching.market.searcher
    before = sandbox.pool.reserves(sandbox.chain)
    victim = victim_buy(sandbox, SOL, 300, marker=False)
    assert send_public(sandbox, victim.tx) == str(victim.signature)

    record = sandbox.chain.get_transaction(victim.signature)
    assert record is not None and record.err is None
    [sandwich] = searcher.sandwiches
    got = tokens_of(sandbox, victim.keypair.pubkey())
    # The victim lost to the searcher, but kept its minimum.
    assert victim.quote.min_out <= got < victim.quote.out_amount
    assert got == victim.quote.out_amount - sandwich.victim_tokens_lost
    # The front-run takes nearly all the room: what is left is under a tenth of it.
    assert got - victim.quote.min_out < (victim.quote.out_amount - victim.quote.min_out) // 10
    # Recompute the victim's fill independently: the curve after the searcher's buy.
    front = swap_out(sandwich.front_lamports, before.sol, before.token)
    after_front_sol = before.sol + sandwich.front_lamports
    assert got == swap_out(SOL, after_front_sol, before.token - front.amount_out).amount_out
    # The searcher made money, its fees paid, and its SOL balance says so.
    assert sandwich.profit_lamports > 0
    assert sandwich.back_lamports - sandwich.front_lamports - 20_000 == sandwich.profit_lamports
    assert sandwich.victim == victim.keypair.pubkey() and sandwich.route == "public"
    # Front-run, victim, back-run, in that order on the chain.
    seqs = [
        sandbox.chain.get_transaction(s).seq  # type: ignore[union-attr]
        for s in (sandwich.front_signature, victim.signature, sandwich.back_signature)
        if s is not None
    ]
    assert len(seqs) == 3 and seqs == sorted(seqs)


def test_a_marked_swap_sent_to_jito_is_untouched(sandwiching: Sandbox) -> None:
    victim = victim_buy(sandwiching, SOL, 300, marker=True)
    send_jito(sandwiching, victim.tx)
    record = sandwiching.chain.get_transaction(victim.signature)
    assert record is not None and record.err is None
    assert sandwiching.market.searcher.sandwiches == []
    assert tokens_of(sandwiching, victim.keypair.pubkey()) == victim.quote.out_amount


@pytest.mark.parametrize(("marker", "path"), [(True, "public"), (False, "jito")])
def test_the_marker_protects_only_through_jito(
    sandwiching: Sandbox, marker: bool, path: str
) -> None:
    victim = victim_buy(sandwiching, SOL, 300, marker=marker)
    (send_public if path == "public" else send_jito)(sandwiching, victim.tx)
    [sandwich] = sandwiching.market.searcher.sandwiches
    assert sandwich.route == path and sandwich.victim_tokens_lost > 0
    assert tokens_of(sandwiching, victim.keypair.pubkey()) < victim.quote.out_amount


@pytest.mark.parametrize("slippage_bps", [0, 10, 100, 300, 1_000, 5_000])
def test_the_searcher_never_pushes_a_victim_below_its_minimum(
    sandwiching: Sandbox, slippage_bps: int
) -> None:
    victim = victim_buy(sandwiching, 2 * SOL, slippage_bps, marker=False)
    send_public(sandwiching, victim.tx)
    record = sandwiching.chain.get_transaction(victim.signature)
    assert record is not None and record.err is None  # the searcher never makes it fail
    got = tokens_of(sandwiching, victim.keypair.pubkey())
    assert got >= victim.quote.min_out
    taken = sum(s.victim_tokens_lost for s in sandwiching.market.searcher.sandwiches)
    assert got == victim.quote.out_amount - taken
    # No room, nothing taken; any room on a 2 SOL buy is worth the searcher's two LP fees.
    assert (taken == 0) == (slippage_bps == 0)


def test_room_too_small_to_pay_the_searchers_fees_is_left_alone(sandwiching: Sandbox) -> None:
    # 3% of a 0.01 SOL buy is worth less than the LP fee on the front-run it would need.
    victim = victim_buy(sandwiching, SOL // 100, 300, marker=False)
    send_public(sandwiching, victim.tx)
    assert sandwiching.market.searcher.sandwiches == []
    assert tokens_of(sandwiching, victim.keypair.pubkey()) == victim.quote.out_amount


def test_a_resent_swap_is_sandwiched_once(sandwiching: Sandbox) -> None:
    victim = victim_buy(sandwiching, SOL, 300, marker=False)
    send_public(sandwiching, victim.tx)
    price = mid(sandwiching)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "sendTransaction",
        "params": [
            base64.b64encode(bytes(victim.tx)).decode(),
            {"encoding": "base64", "skipPreflight": True},
        ],
    }
    httpx.post(f"{sandwiching.rpc_url}/", json=body, timeout=10)
    assert len(sandwiching.market.searcher.sandwiches) == 1
    assert mid(sandwiching) == price


def test_the_searcher_is_off_by_default(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path)
    try:
        assert not sandbox.faults.sandwich and not sandbox.faults.arbitrage
        victim = victim_buy(sandbox, SOL, 300, marker=False)
        send_public(sandbox, victim.tx)
        assert sandbox.market.searcher.sandwiches == []
        assert tokens_of(sandbox, victim.keypair.pubkey()) == victim.quote.out_amount
    finally:
        sandbox.stop()


def test_the_control_endpoint_switches_the_searcher(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path)
    try:
        url = f"{sandbox.rpc_url}/_sandbox/faults"
        assert httpx.post(url, json={"sandwich": "yes"}, timeout=10).status_code == 400
        assert not sandbox.faults.sandwich
        assert httpx.post(url, json={"sandwich": True}, timeout=10).status_code == 200
        victim = victim_buy(sandbox, SOL, 300, marker=False)
        send_public(sandbox, victim.tx)
        assert len(sandbox.market.searcher.sandwiches) == 1
    finally:
        sandbox.stop()


def test_a_victim_that_fails_anyway_costs_the_searcher_nothing(sandwiching: Sandbox) -> None:
    # Funded for the fee but not for the buy: the swap cannot land, sandwiched or not.
    poor = Keypair()
    sandwiching.chain.airdrop(poor.pubkey(), SOL // 10)
    victim = victim_buy(sandwiching, SOL, 300, marker=False, wallet=poor)
    price = mid(sandwiching)
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "sendTransaction",
        "params": [base64.b64encode(bytes(victim.tx)).decode(), {"encoding": "base64"}],
    }
    answer = httpx.post(f"{sandwiching.rpc_url}/", json=body, timeout=10).json()
    assert "error" in answer  # preflight refuses it
    assert sandwiching.market.searcher.sandwiches == []
    assert mid(sandwiching) == price


def test_a_writable_marker_protects_nothing_even_through_jito(sandwiching: Sandbox) -> None:
    # Jito honours the marker only read-only: a writable one is just another account.
    victim = victim_buy(sandwiching, SOL, 300, marker=True, marker_writable=True)
    send_jito(sandwiching, victim.tx)
    [sandwich] = sandwiching.market.searcher.sandwiches
    assert sandwich.route == "jito" and sandwich.victim_tokens_lost > 0
