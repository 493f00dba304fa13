"""The ads step's own failure count: consecutive ads-failed epochs, apart from the breaker's."""

from __future__ import annotations

from datetime import UTC, datetime

from flywheel.domain.epoch_state import (
    STEPS,
    EpochError,
    EpochMode,
    EpochState,
    EpochStatus,
    final_status,
)
from flywheel.service.ads_failures import consecutive_ads_failures

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def epoch(n: int, *failed_steps: str, mode: EpochMode = EpochMode.LIVE) -> EpochState:
    errors = [EpochError(step=s, kind="XAdsAuthError", message="401") for s in failed_steps]
    first_failure = next((STEPS.index(s) for s in failed_steps), len(STEPS))
    # Steps after a failure are skipped (not done), except anchor and report.
    done = [s for i, s in enumerate(STEPS) if i <= first_failure or s in ("anchor", "report")]
    return EpochState(
        id=f"e{n}",
        mode=mode,
        started_at=T0,
        status=final_status(errors),
        steps_done=done,
        errors=errors,
    )


def test_final_status_names_what_failed() -> None:
    assert final_status([]) is EpochStatus.SUCCEEDED
    ads = EpochError(step="ads", kind="XAdsAuthError", message="401")
    swap = EpochError(step="buyback.send", kind="GuardRefused", message="no")
    anchor = EpochError(step="anchor", kind="OperationalError", message="rpc")
    assert final_status([ads]) is EpochStatus.ADS_FAILED
    assert final_status([ads, anchor]) is EpochStatus.FAILED  # more than the ads step failed
    assert final_status([swap]) is EpochStatus.FAILED
    assert EpochStatus.ADS_FAILED.buyback_succeeded and EpochStatus.SUCCEEDED.buyback_succeeded
    assert not EpochStatus.FAILED.buyback_succeeded


def test_the_count_is_the_ads_failures_in_a_row_newest_first() -> None:
    assert consecutive_ads_failures([]) == 0
    assert consecutive_ads_failures([epoch(3, "ads"), epoch(2, "ads"), epoch(1)]) == 2
    # A working ads step ends the run of failures, whatever came before it.
    assert consecutive_ads_failures([epoch(3), epoch(2, "ads"), epoch(1, "ads")]) == 0
    # An epoch that failed before the ads step says nothing about ads: passed over.
    newest_first = [epoch(4, "ads"), epoch(3, "buyback.quote"), epoch(2, "ads"), epoch(1)]
    assert consecutive_ads_failures(newest_first) == 2
    # Rehearsals and the running epoch do not count.
    running = epoch(5).model_copy(update={"status": EpochStatus.RUNNING, "errors": []})
    rehearsal = epoch(6, "ads", mode=EpochMode.SIMULATE)
    assert consecutive_ads_failures([rehearsal, running, epoch(2, "ads"), epoch(1)]) == 1
