"""The one retry policy: what it retries, how long it waits, what it logs, when it stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from structlog.testing import capture_logs

from flywheel.errors import (
    OperationalError,
    OutcomeUnknown,
    RateLimited,
    TemporaryError,
    XAdsOutcomeUnknown,
)
from flywheel.retry import RetryPolicy, rate_limit_wait
from tests.clients.hostile import FakeTime


def policy(time: FakeTime, **changes: object) -> RetryPolicy:
    base = RetryPolicy(
        max_attempts=4,
        backoff_initial=1.0,
        backoff_max=4.0,
        max_rate_limit_wait=60.0,
        deadline_seconds=600.0,
        sleep=time.sleep,
        monotonic=time.monotonic,
        wall_clock=time.wall_clock,
        jitter=lambda low, high: high,
    )
    return base.but(**changes)


class Failing:
    """Raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_a_temporary_error_is_retried_with_exponential_backoff() -> None:
    time = FakeTime()
    attempt = Failing(TemporaryError("a"), TemporaryError("b"), TemporaryError("c"))
    assert await policy(time).call("RPC", "getBalance", attempt) == "ok"
    assert time.slept == [1.0, 2.0, 4.0]


async def test_retry_after_wins_over_the_backoff() -> None:
    time = FakeTime()
    attempt = Failing(RateLimited("slow down", retry_after=7.0))
    assert await policy(time).call("Jupiter", "quote", attempt) == "ok"
    assert time.slept == [7.0]


async def test_a_wait_beyond_the_budget_raises_at_once() -> None:
    time = FakeTime()
    attempt = Failing(RateLimited("slow down", retry_after=61.0))
    with pytest.raises(RateLimited):
        await policy(time).call("Jupiter", "quote", attempt)
    assert (attempt.calls, time.slept) == (1, [])


async def test_rate_limit_waits_share_one_budget_per_call() -> None:
    time = FakeTime()
    attempt = Failing(*(RateLimited("slow down", retry_after=25.0) for _ in range(3)))
    with pytest.raises(RateLimited):
        await policy(time).call("X Ads", "GET /12/accounts", attempt)
    assert time.slept == [25.0, 25.0]  # a third 25 s would pass the 60 s budget


@pytest.mark.parametrize(
    "error",
    [OutcomeUnknown("sent, no answer"), XAdsOutcomeUnknown("POST 503"), OperationalError("no")],
)
async def test_a_write_that_may_have_happened_and_a_refusal_are_not_retried(
    error: Exception,
) -> None:
    time = FakeTime()
    attempt = Failing(error)
    with pytest.raises(type(error)):
        await policy(time).call("X Ads", "POST /12/accounts/a/campaigns", attempt)
    assert (attempt.calls, time.slept) == (1, [])


async def test_attempts_are_bounded() -> None:
    time = FakeTime()
    attempt = Failing(*(TemporaryError(f"try {n}", status=503) for n in range(10)))
    with pytest.raises(TemporaryError, match="try 3"):
        await policy(time).call("RPC", "getBalance", attempt)
    assert attempt.calls == 4


async def test_no_backoff_runs_past_the_deadline() -> None:
    time = FakeTime()
    attempt = Failing(*(TemporaryError(f"try {n}") for n in range(10)))
    with pytest.raises(TemporaryError, match="try 1"):
        await policy(time, deadline_seconds=2.5, max_attempts=10).call("RPC", "x", attempt)
    assert time.slept == [1.0]  # the next backoff (2 s) would end past the deadline


async def test_an_attempt_that_never_ends_is_cut_at_the_deadline() -> None:
    async def hangs() -> str:
        await asyncio.Event().wait()
        return "never"

    quick = RetryPolicy(deadline_seconds=0.2, deadline_name="RPC_CALL_DEADLINE_SECONDS")
    with pytest.raises(TemporaryError, match=r"RPC getBalance: .*RPC_CALL_DEADLINE_SECONDS"):
        await quick.call("RPC", "getBalance", hangs)


async def test_every_retry_is_logged_at_info_with_method_attempt_wait_and_status() -> None:
    time = FakeTime()
    attempt = Failing(RateLimited("RPC getBalance: HTTP 429", retry_after=2.0))
    with capture_logs() as events:
        await policy(time).call("RPC", "getBalance", attempt)
    assert events == [
        {
            "event": "429 Too Many Requests: retrying",
            "log_level": "info",
            "service": "RPC",
            "method": "getBalance",
            "attempt": 1,
            "wait_s": 2.0,
            "status": 429,
            "error": "RPC getBalance: HTTP 429",
        }
    ]


def test_rate_limit_headers_are_read_against_the_given_clock() -> None:
    now = 1_800_000_000.0
    assert rate_limit_wait({"x-ratelimit-reset": str(int(now) + 12)}, lambda: now) == 12.0
    assert rate_limit_wait({"x-ratelimit-reset": "20"}, lambda: now) == 20.0
    assert rate_limit_wait({"retry-after": "3"}, lambda: now) == 3.0
    date = format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    assert rate_limit_wait({"retry-after": date}, lambda: now) == 30.0
    assert rate_limit_wait({"x-ratelimit-reset": str(int(now) - 5)}, lambda: now) == 0.1
    for junk in ({"retry-after": "soon"}, {"retry-after": "nan"}, {}):
        assert rate_limit_wait(junk, lambda: now) is None
