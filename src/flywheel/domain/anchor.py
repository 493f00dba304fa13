"""The state anchor: what a rebuild needs, as the memo text of an epoch's last transaction.

`flywheel:v1 {json}` with short keys, so it stays well within a memo: the epoch id (`e`), the
kind (`k`), the fee cursor after the epoch, i.e. the last fee signature it examined (`c`),
the lamports it carried out (`cl`), the ads budget still available (`ab`, micro-USD) and the
ads ledger's SOL still in the executor (`ar`), the tokens bought and not yet settled (`ut`), and
the quarantined fees' total (`ql`, lamports; their signatures stay in the database).
A new field needs a new version; readers ignore versions they do not know.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

PREFIX = "flywheel:v1 "
MAX_MEMO_BYTES = 512  # a memo instruction's data, well under a transaction's 1232 bytes


@dataclass(frozen=True)
class Anchor:
    epoch_id: str
    cursor: str | None
    carried_lamports: int
    ads_available_micro_usd: int
    ads_reserve_lamports: int
    unsettled_tokens: int
    quarantined_lamports: int = 0
    kind: str = "epoch"

    def memo(self) -> str:
        fields = asdict(self)
        body = {
            "e": fields["epoch_id"],
            "k": fields["kind"],
            "c": fields["cursor"],
            "cl": fields["carried_lamports"],
            "ab": fields["ads_available_micro_usd"],
            "ar": fields["ads_reserve_lamports"],
            "ut": fields["unsettled_tokens"],
            "ql": fields["quarantined_lamports"],
        }
        text = PREFIX + json.dumps(body, separators=(",", ":"), sort_keys=True)
        if len(text.encode()) > MAX_MEMO_BYTES:
            raise ValueError(f"anchor memo of {len(text.encode())} bytes is too long")
        return text


def parse_anchor(memo: str | None) -> Anchor | None:
    """The anchor in a memo (as written, or as getSignaturesForAddress shows it:
    `[<length>] <text>`, several joined by `; `), or None when there is none."""
    if not memo or PREFIX not in memo:
        return None
    start = memo.index(PREFIX) + len(PREFIX)
    try:
        body, _ = json.JSONDecoder().raw_decode(memo[start:])
        return Anchor(
            epoch_id=_text(body["e"]),
            kind=_text(body["k"]),
            cursor=None if body["c"] is None else _text(body["c"]),
            carried_lamports=_count(body["cl"]),
            ads_available_micro_usd=_count(body["ab"]),
            ads_reserve_lamports=_count(body["ar"]),
            unsettled_tokens=_count(body["ut"]),
            quarantined_lamports=_count(body.get("ql", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None  # someone else's text that happens to start like ours: not an anchor


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not text")
    return value


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("not a count")
    return value


def tag_memo(kind: str, epoch_id: str | None) -> str:
    """The memo of a flywheel transaction that is not an anchor (a collect, a sweep): who
    signed it and why, in the same versioned format, without the anchor's state."""
    body = {"e": epoch_id, "k": kind}
    return PREFIX + json.dumps(body, separators=(",", ":"), sort_keys=True)
