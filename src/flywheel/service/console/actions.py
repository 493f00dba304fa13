"""What the operator can do from the console, on the state database (and the ads file).

Each action checks the state first and says, in one sentence, why it cannot be done; it never
raises for an operator's mistake. The ledger rules are `flywheel ads`'s: a launch is a zero
`committed` entry carrying the campaign id; a cancel is a `released` entry for the committed
budget, which makes it available to the next campaign.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flywheel.ads.manual import ads_file, write_ads_file
from flywheel.persistence.store import SqliteStore

CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _update_ads_file(reports_dir: Path, epoch: str, **fields: str) -> None:
    path = ads_file(reports_dir, epoch)
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
        document.update(fields)
        write_ads_file(path, document)


def _pending_commitment(store: SqliteStore, epoch: str) -> tuple[int, int] | str:
    """(micro-USD, lamports) of the epoch's pending spec, or why it is not pending."""
    entries = store.ads_entries(epoch)
    committed = [e for e in entries if e.kind == "committed" and e.micro_usd > 0]
    if not committed:
        return f"epoch {epoch} has no campaign spec"
    launched = next((e.campaign_id for e in entries if e.campaign_id), None)
    if launched is not None:
        return f"epoch {epoch} is already marked launched as {launched}"
    if any(e.kind == "released" for e in entries):
        return f"epoch {epoch}'s spec was cancelled"
    return sum(e.micro_usd for e in committed), sum(e.lamports for e in committed)


def mark_launched(
    store: SqliteStore, reports_dir: Path, epoch: str, campaign_id: str, spent_micro_usd: int = 0
) -> str:
    """'' when done, else why not. `spent_micro_usd`: what the campaign cost (manual mode has
    no API to read it from), at most the spec's budget."""
    if not CAMPAIGN_ID.match(campaign_id):
        return "a campaign id is 1-64 letters, digits, '-' or '_' (copy it from X Ads Manager)"
    with store.transaction():
        pending = _pending_commitment(store, epoch)
        if isinstance(pending, str):
            return pending
        budget, _ = pending
        if not 0 <= spent_micro_usd <= budget:
            return (
                f"spent {spent_micro_usd / 1_000_000:.6f} USD is not within the spec's budget"
                f" of {budget / 1_000_000:.6f} USD"
            )
        store.add_ads_entry(epoch, "committed", 0, 0, campaign_id=campaign_id, note="launched")
        if spent_micro_usd:
            store.add_ads_entry(
                epoch, "spent", spent_micro_usd, 0, campaign_id=campaign_id, note="by the operator"
            )
    _update_ads_file(reports_dir, epoch, status="launched", campaign_id=campaign_id)
    return ""


def cancel_spec(store: SqliteStore, reports_dir: Path, epoch: str) -> str:
    """Release a pending spec's budget back to the ads reserve; '' when done, else why not."""
    with store.transaction():
        pending = _pending_commitment(store, epoch)
        if isinstance(pending, str):
            return pending
        micro_usd, lamports = pending
        store.add_ads_entry(epoch, "released", micro_usd, lamports, note="cancelled in the console")
    _update_ads_file(reports_dir, epoch, status="cancelled")
    return ""


def release_fee(store: SqliteStore, signature: str) -> str:
    if not store.release_receipt(signature):
        return f"{signature} is not a quarantined fee"
    return ""


MAX_REASON_CHARS = 500


def reject_fee(store: SqliteStore, signature: str, reason: str) -> str:
    """Quarantined -> rejected (never spent), with the operator's reason; '' or why not."""
    reason = " ".join(reason.split())
    if not reason:
        return "say why the fee is rejected: the reason is kept in the state and the report"
    if len(reason) > MAX_REASON_CHARS:
        return f"the reason is longer than {MAX_REASON_CHARS} characters"
    if not store.reject_receipt(signature, reason):
        return f"{signature} is not a quarantined fee"
    return ""
