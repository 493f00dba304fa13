"""The state memo's format (domain/anchor.py): versioned, within its size, and never read from
text that only looks like ours."""

from __future__ import annotations

import json

import pytest

from flywheel.domain.anchor import (
    MAX_MEMO_BYTES,
    MAX_TX_MEMO_BYTES,
    Anchor,
    after_landing,
    parse_anchor,
)

SIG = "5" * 88


def anchor(**changes: object) -> Anchor:
    fields: dict[str, object] = {
        "epoch_id": "20261202T040000Z-abcdef",
        "cursor": SIG,
        "carried_lamports": 12_345,
        "ads_available_micro_usd": 7,
        "ads_reserve_lamports": 8,
        "unsettled_tokens": 9,
        "quarantined_lamports": 0,
    }
    fields.update(changes)
    return Anchor(**fields)  # type: ignore[arg-type]


def test_every_field_round_trips_through_the_memo() -> None:
    original = anchor(kind="swap", quarantined_lamports=3, quarantined=((SIG, 3),), ads_tokens=11)
    text = original.memo()
    assert text.startswith("flywheel:v2 ")
    assert parse_anchor(text) == original
    # As getSignaturesForAddress shows memos: a length prefix, several joined by "; ".
    assert parse_anchor(f"[3] gm; [{len(text)}] {text}") == original


def test_the_widest_transaction_memo_fits_its_budget() -> None:
    widest = anchor(
        kind="ads-transfer",
        carried_lamports=2**64 - 1,
        ads_available_micro_usd=2**64 - 1,
        ads_reserve_lamports=2**64 - 1,
        unsettled_tokens=2**64 - 1,
        quarantined_lamports=2**64 - 1,
        ads_tokens=2**64 - 1,
    )
    assert len(widest.memo(MAX_TX_MEMO_BYTES).encode()) <= MAX_TX_MEMO_BYTES


def test_quarantined_receipts_that_do_not_fit_are_left_to_the_total() -> None:
    many = tuple((f"{i:088d}", 10**9 + i) for i in range(40))
    big = anchor(quarantined=many, quarantined_lamports=sum(n for _, n in many))
    text = big.memo()
    assert len(text.encode()) <= MAX_MEMO_BYTES
    parsed = parse_anchor(text)
    assert parsed is not None and 0 < len(parsed.quarantined) < len(many)
    assert parsed.quarantined == many[: len(parsed.quarantined)]
    assert parsed.quarantined_lamports == big.quarantined_lamports
    assert not parsed.complete_quarantine


def test_a_version_1_anchor_is_still_read() -> None:
    body = {"e": "e1", "k": "epoch", "c": None, "cl": 1, "ab": 2, "ar": 3, "ut": 4}
    parsed = parse_anchor("flywheel:v1 " + json.dumps(body))
    assert parsed == Anchor("e1", None, 1, 2, 3, 4)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "gm",
        "flywheel:v2 not json",
        "flywheel:v3 " + json.dumps({"e": "x"}),
        'flywheel:v2 {"e":"x","k":"swap"}',  # a tag without the state
        'flywheel:v2 {"e":"x","k":"swap","c":null,"cl":-1,"ab":0,"ar":0,"ut":0}',
        'flywheel:v2 {"e":"x","k":"swap","c":null,"cl":true,"ab":0,"ar":0,"ut":0}',
        'flywheel:v2 {"e":"x","k":"swap","c":null,"cl":"1","ab":0,"ar":0,"ut":0}',
        'flywheel:v2 {"e":"x","k":"","c":null,"cl":1,"ab":0,"ar":0,"ut":0}',
        'flywheel:v2 {"e":"x","k":"epoch","c":null,"cl":1,"ab":0,"ar":0,"ut":0,"q":[["s"]]}',
        'flywheel:v2 {"e":"x","k":"epoch","c":null,"cl":1,"ab":0,"ar":0,"ut":0,"q":"s"}',
        'flywheel:v2 ["e"]',
    ],
)
def test_text_that_only_looks_like_a_state_memo_is_none(text: str | None) -> None:
    assert parse_anchor(text) is None


def test_a_landed_transaction_applies_what_its_own_balances_show() -> None:
    swap = anchor(kind="swap", unsettled_tokens=5, carried_lamports=100)
    assert after_landing(swap, token_delta=40, sol_in=-999).unsettled_tokens == 45
    assert after_landing(swap, token_delta=40, sol_in=-999).carried_lamports == 100
    burn = anchor(kind="burn", unsettled_tokens=45)
    assert after_landing(burn, token_delta=-45, sol_in=0).unsettled_tokens == 0
    claim = anchor(kind="claim", carried_lamports=100)
    assert after_landing(claim, token_delta=0, sol_in=30).carried_lamports == 130
    closing = anchor(kind="epoch", unsettled_tokens=3)
    assert after_landing(closing, token_delta=-3, sol_in=9) == closing  # already the final word
