"""The ads step's own failure count, apart from the circuit breaker's.

An ads failure (X refused the credentials, no funding instrument, the X Ads API down...) fails
the ads step, not the epoch's buyback: the epoch ends `ads-failed`, the breaker counts it as the
success its buyback was, and the budget stays available for the next campaign. What counts the
ads failures is this: the consecutive live epochs whose ads step failed, newest first, until one
whose ads step ran and did not fail. Epochs that failed before the ads step say nothing about
ads and are passed over. It is read from the epochs' journals in the state database, so it
survives restarts (as the breaker's count does) and counts the epochs `flywheel epoch` ran too.
"""

from __future__ import annotations

from collections.abc import Iterable

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus

# How far back the count looks: a count this high already says "for a long time".
LOOKBACK_EPOCHS = 100


def ads_step_failed(state: EpochState) -> bool:
    return any(error.step == "ads" for error in state.errors)


def consecutive_ads_failures(newest_first: Iterable[EpochState]) -> int:
    count = 0
    for state in newest_first:
        if state.mode is not EpochMode.LIVE or state.status is EpochStatus.RUNNING:
            continue
        if ads_step_failed(state):
            count += 1
        elif "ads" in state.steps_done:
            break  # the ads step ran and did its work
    return count
