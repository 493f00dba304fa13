"""Metrics after real epochs: the registry's values equal what the epochs' journals say, and
/metrics serves them in the Prometheus text format."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.errors import InFlight, OperationalError
from flywheel.service.metrics import FlywheelMetrics
from tests.core.fakes import START_LAMPORTS, EpochWorld, PendingAds
from tests.service.harness import make_service, serving


async def test_values_after_real_epochs(world: EpochWorld) -> None:
    service = make_service(world)
    m = service.metrics
    states: list[EpochState] = []
    for failing in (False, False, True):
        world.failing = failing
        state = await service.run_scheduled()
        assert state is not None
        states.append(state)
    assert [s.status for s in states] == [
        EpochStatus.SUCCEEDED,
        EpochStatus.SUCCEEDED,
        EpochStatus.FAILED,
    ]
    ok = states[:2]
    assert m.sample("flywheel_epochs_total", {"status": "succeeded"}) == 2
    assert m.sample("flywheel_epochs_total", {"status": "failed"}) == 1
    assert m.sample("flywheel_epochs_total", {"status": "interrupted"}) == 0
    assert m.sample("flywheel_errors_total", {"kind": "GuardRefused"}) == 1
    assert m.sample("flywheel_fees_detected_lamports_total") == sum(
        s.fees_in_lamports for s in states
    )
    spent = sum(s.buyback_spent_lamports for s in ok)
    assert spent > 0 and m.sample("flywheel_buyback_spent_lamports_total") == spent
    bought = sum(s.tokens_bought for s in ok)
    assert bought > 0 and m.sample("flywheel_tokens_bought_total") == bought
    assert m.sample("flywheel_tokens_burned_total") == sum(s.tokens_settled for s in ok)
    # Dry-run plans (RecordingAds) commit nothing: each shows the whole available budget again,
    # so counting them would count one budget once per epoch. Only committed specs count.
    planned = [s.ads.spec.budget_micro_usd for s in ok if s.ads and s.ads.spec]
    assert len(planned) == 2 and planned[1] > planned[0]
    assert m.sample("flywheel_ads_budget_usd_total") == 0
    assert m.sample("flywheel_epoch_duration_seconds_count") == 3
    assert states[2].finished_at is not None and ok[1].finished_at is not None
    assert m.sample("flywheel_last_epoch_timestamp_seconds") == states[2].finished_at.timestamp()
    assert m.sample("flywheel_last_success_timestamp_seconds") == ok[1].finished_at.timestamp()
    assert m.sample("flywheel_executor_balance_lamports") == world.ledger.executor_lamports
    assert world.ledger.executor_lamports != START_LAMPORTS
    assert m.sample("flywheel_circuit_breaker_state") == 0.0
    assert (
        m.sample(
            "flywheel_info",
            {"version": service.options.version, "mode": "live", "ads_mode": "dry-run"},
        )
        == 1.0
    )

    m.rpc_hook("getBalance", "ok", 0.02)
    m.rpc_hook("getBalance", "ok", 0.03)
    m.rpc_hook("sendTransaction", "http_429", 0.1)
    assert m.sample("flywheel_rpc_requests_total", {"method": "getBalance", "outcome": "ok"}) == 2
    assert (
        m.sample(
            "flywheel_rpc_requests_total", {"method": "sendTransaction", "outcome": "http_429"}
        )
        == 1
    )

    # A new process on the same state starts from the stored history, not from zero.
    restarted = make_service(world)
    assert (
        restarted.metrics.sample("flywheel_last_success_timestamp_seconds")
        == ok[1].finished_at.timestamp()
    )


async def test_epochs_ended_by_an_exception(world: EpochWorld) -> None:
    raised: list[Exception] = [InFlight("swap in flight"), OperationalError("rpc down")]

    async def trigger() -> EpochState:
        raise raised.pop(0)

    service = make_service(world, trigger=trigger)
    assert await service.run_scheduled() is None
    assert await service.run_scheduled() is None
    m = service.metrics
    assert m.sample("flywheel_epochs_total", {"status": "interrupted"}) == 1
    assert m.sample("flywheel_epochs_total", {"status": "failed"}) == 1
    assert m.sample("flywheel_errors_total", {"kind": "InFlight"}) == 1
    assert m.sample("flywheel_errors_total", {"kind": "OperationalError"}) == 1
    assert service.breaker.failures == 2, "both count toward the breaker"


async def test_metrics_endpoint_serves_the_text_format(world: EpochWorld) -> None:
    service = make_service(world)
    await service.run_scheduled()
    async with serving(service) as run:
        response = await run.http.get(run.metrics_url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        for name in (
            "flywheel_epochs",
            "flywheel_errors",
            "flywheel_circuit_breaker_state",
            "flywheel_last_epoch_timestamp_seconds",
            "flywheel_epoch_duration_seconds",
            "flywheel_fees_detected_lamports",
            "flywheel_buyback_spent_lamports",
            "flywheel_tokens_bought",
            "flywheel_tokens_burned",
            "flywheel_ads_budget_usd",
            "flywheel_rpc_requests",
            "flywheel_executor_balance_lamports",
            "flywheel_info",
        ):
            assert name in families, name
        succeeded = [
            s.value
            for s in families["flywheel_epochs"].samples
            if s.name == "flywheel_epochs_total" and s.labels == {"status": "succeeded"}
        ]
        assert succeeded == [1.0]
        # The breaker gauge is read at scrape time: a reset elsewhere shows at once.
        service.breaker.record_failure()
        service.breaker.record_failure()
        service.breaker.record_failure()
        text = (await run.http.get(run.metrics_url)).text
        assert "flywheel_circuit_breaker_state 1.0" in text


def test_balance_is_unknown_and_error_kinds_exist_before_the_first_epoch() -> None:
    metrics = FlywheelMetrics(CollectorRegistry())
    balance = metrics.registry.get_sample_value("flywheel_executor_balance_lamports")
    assert balance is not None and math.isnan(balance)  # not 0: no false "balance low" alert
    guard = metrics.registry.get_sample_value("flywheel_errors_total", {"kind": "GuardRefused"})
    assert guard == 0.0  # present, so increase() sees the first one


async def test_the_ads_budget_counts_each_committed_spec_once(world: EpochWorld) -> None:
    world.ads = PendingAds()  # type: ignore[assignment]
    service = make_service(world)
    states = [await service.run_scheduled() for _ in range(2)]
    budgets = [s.ads.spec.budget_micro_usd for s in states if s and s.ads and s.ads.spec]
    assert len(budgets) == 2
    assert service.metrics.sample("flywheel_ads_budget_usd_total") == sum(budgets) / 1_000_000
