"""The state memo: what a rebuild needs, in every transaction the flywheel signs.

`flywheel:v2 {json}` (docs/state.md), short keys so it fits in a swap: the epoch id (`e`,
null for a sweep), the kind (`k`: epoch, swap, burn, transfer, ads-transfer, claim, collect,
sweep), the fee cursor the epoch counted up to (`c`), the lamports it carries (`cl`), the ads
budget still available (`ab`, micro-USD) and the ads ledger's SOL still in the executor (`ar`),
the tokens bought and not yet settled (`ut`), the ads share of fee tokens held in the executor
(`at`, token2022, never settled) and the quarantined fees' total (`ql`); the
closing anchor also lists the quarantined receipts (`q`: [signature, lamports], as many as fit).

What the figures mean is the state the epoch is in *if this transaction lands*, as far as it is
known at signing time: a swap's `cl` already deducts what it spends, its `ut` is what was
unsettled before it, and the tokens it delivers are read from the landed transaction's own
balances (`delta_rule`). The closing anchor (kind `epoch`) states the epoch's final figures.
v1 memos (`flywheel:v1`, no `q`) are still read; a new field needs a new version; readers ignore
versions they do not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

PREFIX = "flywheel:v2 "
PREFIXES = ("flywheel:v2 ", "flywheel:v1 ")
MAX_MEMO_BYTES = 900  # a memo-only transaction holds ~1,050 bytes of memo within 1,232
# Inside a swap, which needs the room for its own accounts: every field at its widest
# (a 20-digit count, an 88-character signature) still fits; ~230 bytes is typical.
MAX_TX_MEMO_BYTES = 400
CLOSING = "epoch"
# Kinds whose landed transaction changes the unsettled tokens (swap: +bought, settle: -sent)
# or, for a claim, the SOL counted, by what its own balances show.
TOKEN_DELTA_KINDS = frozenset({"swap", "burn", "transfer", "claim"})


@dataclass(frozen=True)
class Anchor:
    epoch_id: str | None
    cursor: str | None
    carried_lamports: int
    ads_available_micro_usd: int
    ads_reserve_lamports: int
    unsettled_tokens: int
    quarantined_lamports: int = 0
    kind: str = CLOSING
    quarantined: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    ads_tokens: int = 0

    @property
    def closing(self) -> bool:
        return self.kind == CLOSING

    def memo(self, max_bytes: int = MAX_MEMO_BYTES) -> str:
        """The memo text; quarantined receipts that do not fit are left to `ql` alone."""
        listed = list(self.quarantined)
        while True:
            text = _render(self, listed)
            if len(text.encode()) <= max_bytes:
                return text
            if not listed:
                raise ValueError(f"state memo of {len(text.encode())} bytes is too long")
            listed.pop()

    @property
    def complete_quarantine(self) -> bool:
        return sum(lamports for _, lamports in self.quarantined) == self.quarantined_lamports


def _render(anchor: Anchor, listed: list[tuple[str, int]]) -> str:
    body: dict[str, object] = {
        "e": anchor.epoch_id,
        "k": anchor.kind,
        "c": anchor.cursor,
        "cl": anchor.carried_lamports,
        "ab": anchor.ads_available_micro_usd,
        "ar": anchor.ads_reserve_lamports,
        "ut": anchor.unsettled_tokens,
        "ql": anchor.quarantined_lamports,
        "at": anchor.ads_tokens,
    }
    if listed:
        body["q"] = [[s, n] for s, n in listed]
    return PREFIX + json.dumps(body, separators=(",", ":"), sort_keys=True)


def parse_anchor(memo: str | None) -> Anchor | None:
    """The state memo in a memo (as written, or as getSignaturesForAddress shows it:
    `[<length>] <text>`, several joined by `; `), or None when there is none."""
    if not memo:
        return None
    found = [(memo.index(p), p) for p in PREFIXES if p in memo]
    if not found:
        return None
    at, prefix = min(found)
    try:
        body, _ = json.JSONDecoder().raw_decode(memo[at + len(prefix) :])
        return Anchor(
            epoch_id=None if body["e"] is None else _text(body["e"]),
            kind=_text(body["k"]),
            cursor=None if body["c"] is None else _text(body["c"]),
            carried_lamports=_count(body["cl"]),
            ads_available_micro_usd=_count(body["ab"]),
            ads_reserve_lamports=_count(body["ar"]),
            unsettled_tokens=_count(body["ut"]),
            quarantined_lamports=_count(body.get("ql", 0)),
            quarantined=tuple((_text(s), _count(n)) for s, n in body.get("q", [])),
            ads_tokens=_count(body.get("at", 0)),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # someone else's text that happens to start like ours: not a state memo


def after_landing(anchor: Anchor, *, token_delta: int, sol_in: int) -> Anchor:
    """The state after a landed transaction whose memo is `anchor`, from its own balances:
    the executor's token change (a swap's tokens, a settle's), and the SOL a claim brought."""
    if anchor.kind not in TOKEN_DELTA_KINDS:
        return anchor
    carried = anchor.carried_lamports + (max(sol_in, 0) if anchor.kind == "claim" else 0)
    return replace(
        anchor,
        unsettled_tokens=max(anchor.unsettled_tokens + token_delta, 0),
        carried_lamports=carried,
    )


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not text")
    return value


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("not a count")
    return value
