"""`flywheel fees reject SIG --reason TEXT` and MAX_FEES_PER_EPOCH_SOL holding back only the
inflows beyond it, against the sandbox with `flywheel` as a subprocess; the console's reject
action over HTTP. Every lamport detected is spent, reserved, carried, quarantined or rejected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flywheel.domain.fees import ReceiptStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from tests.console.harness import start_service
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

REASON = "an airdrop from an exchange, not a trading fee"


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def receipts_by_status(env: dict[str, str]) -> dict[ReceiptStatus, set[str]]:
    with SqliteStore.open(Path(env["STATE_DB_PATH"])) as store:
        return {s: {r.signature for r in store.receipts(s)} for s in ReceiptStatus}


def check_every_lamport(env: dict[str, str], box: Sandbox) -> None:
    """Detected on chain = spent + reserved + carried (the epochs) + quarantined + rejected."""
    epochs = finished_epochs(env)
    check_identity(epochs)
    with SqliteStore.open(Path(env["STATE_DB_PATH"])) as store:
        totals = store.receipt_totals()
        rejected = sum(r.lamports for r in store.rejected_receipts())
    assert totals["rejected"] == rejected
    assert totals["available"] == 0  # every epoch claimed what was available
    claimed = sum(e.fees_in_lamports for e in epochs)
    assert totals["claimed"] == claimed
    assert (
        claimed
        == sum(e.buyback_spent_lamports + e.ads_reserved_lamports for e in epochs)
        + epochs[-1].carried_out_lamports
        - epochs[0].carried_in_lamports
    )
    assert sum(totals.values()) == ChainView(box).fee_inflows()


def test_the_cap_holds_back_only_the_excess_and_a_rejected_fee_is_never_spent(
    box: Sandbox, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path, MAX_FEES_PER_EPOCH_SOL="0.1", MAX_SINGLE_FEE_SOL="0.5")
    trades = {str(s) for s in box.traders.step(4)}  # at most 0.02 SOL of creator fees
    fits = str(box.chain.airdrop(box.fee_collector, 6 * 10**7))  # 0.06: under the cap
    straddles = str(box.chain.airdrop(box.fee_collector, 6 * 10**7))  # crosses 0.1
    big = str(box.chain.airdrop(box.fee_collector, 10**9))  # over MAX_SINGLE_FEE_SOL
    after = str(box.chain.airdrop(box.fee_collector, 10**6))  # small, but after the cap
    assert run_cli(["epoch"], tmp_path).returncode == 0
    [first] = finished_epochs(env)
    # The epoch's normal fees are spent; only the inflows beyond the cap are held.
    assert set(first.receipt_signatures) == trades | {fits}
    assert set(first.quarantined_signatures) == {straddles, big, after}
    assert first.buyback_spent_lamports > 0
    assert report_of(first)["fees"]["rejected"] == []

    for refused_args, phrase in (
        (["fees", "reject", "1" * 88, "--reason", REASON], "is not a fee the flywheel detected"),
        (["fees", "reject", fits, "--reason", REASON], "is not quarantined (it is claimed)"),
        (["fees", "reject", big, "--reason", "   "], "--reason must say why"),
        (["fees", "reject", big], "--reason"),
    ):
        refused = run_cli(refused_args, tmp_path)
        assert refused.returncode == 2, describe(refused)
        assert phrase in refused.stderr.replace("\n", ""), describe(refused)
        assert "Traceback" not in refused.stderr
    assert receipts_by_status(env)[ReceiptStatus.QUARANTINED] == {straddles, big, after}

    rejected = run_cli(["fees", "reject", big, "--reason", REASON], tmp_path)
    assert rejected.returncode == 0, describe(rejected)
    assert f"rejected {big}" in rejected.stdout.replace("\n", "")
    again = run_cli(["fees", "reject", big, "--reason", REASON], tmp_path)
    assert again.returncode == 2 and "(it is rejected)" in again.stderr.replace("\n", "")
    released_instead = run_cli(["fees", "release", big], tmp_path)
    assert released_instead.returncode == 1, describe(released_instead)
    fetched = run_cli(["fetch-fees"], tmp_path)
    assert fetched.returncode == 0, describe(fetched)
    flat = fetched.stdout.replace("\n", "")
    assert f"rejected {big}: 1.000000000 SOL ({REASON})" in flat
    assert f"quarantined {big}" not in flat
    status = run_cli(["status"], tmp_path)
    assert status.returncode == 0, describe(status)
    assert "1.000000000 SOL (1, never spent)" in status.stdout

    assert run_cli(["fees", "release", straddles], tmp_path).returncode == 0
    assert run_cli(["epoch"], tmp_path).returncode == 0
    second = finished_epochs(env)[-1]
    assert straddles in second.receipt_signatures and big not in second.receipt_signatures
    assert report_of(second)["fees"]["rejected"] == [
        {"signature": big, "lamports": 10**9, "reason": REASON}
    ]
    assert run_cli(["epoch"], tmp_path).returncode == 0
    third = finished_epochs(env)[-1]
    assert report_of(third)["fees"]["rejected"] == []  # reported once
    statuses = receipts_by_status(env)
    assert statuses[ReceiptStatus.REJECTED] == {big}
    assert statuses[ReceiptStatus.QUARANTINED] == {after}
    assert all(big not in e.receipt_signatures for e in finished_epochs(env))
    check_every_lamport(env, box)


def test_the_console_rejects_a_quarantined_fee_with_a_reason(box: Sandbox, tmp_path: Path) -> None:
    service = start_service(box, tmp_path)
    try:
        [epoch] = finished_epochs(service.env)
        [fee] = epoch.quarantined_signatures
        path = f"{service.base}/actions/fees/{fee}/reject"
        anonymous = httpx.post(path, data={"reason": REASON}, timeout=30)
        assert anonymous.status_code == 401
        bearer = {"Authorization": f"Bearer {service.secret}"}
        empty = httpx.post(path, data={"reason": "  "}, headers=bearer, timeout=30)
        assert empty.status_code == 409 and "say why" in empty.text
        assert receipts_by_status(service.env)[ReceiptStatus.QUARANTINED] == {fee}
        hostile = "<script>alert(1)</script> " + REASON  # kept as text, shown escaped
        done = httpx.post(path, data={"reason": hostile}, headers=bearer, timeout=30)
        assert done.status_code == 303 and done.headers["location"] == "/?done=rejected"
        twice = httpx.post(path, data={"reason": REASON}, headers=bearer, timeout=30)
        assert twice.status_code == 409 and "is not a quarantined fee" in twice.text
        page = httpx.get(service.base + "/", headers=bearer, timeout=30).text
        assert f'data-fee="{fee}"' not in page  # no longer offered for release or reject
        assert f'data-rejected="{fee}"' in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    finally:
        service.stop()
    assert run_cli(["epoch"], tmp_path).returncode == 0
    second = finished_epochs(service.env)[-1]
    assert report_of(second)["fees"]["rejected"] == [
        {"signature": fee, "lamports": 10**9, "reason": hostile}
    ]
    assert receipts_by_status(service.env)[ReceiptStatus.REJECTED] == {fee}
