"""The Prometheus side of the deployment: alerts.yml and prometheus.yml checked by promtool, the
alerts unit-tested (`promtool test rules`, which must also catch a weakened rule), the runbook's
alerts as written, the Alertmanager routing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from flywheel.config.settings import Settings
from tests.deploy.harness import (
    ALERTMANAGER_CONFIG,
    ALERTS,
    ALERTS_TEST,
    PROMETHEUS_CONFIG,
    QUERYABLE_SERIES,
    SERVICE,
    load_yaml,
    series_names,
)

TOOL_TIMEOUT = 30


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)


def _rules() -> dict[str, dict[str, Any]]:
    groups = load_yaml(ALERTS)["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


# --- promtool -------------------------------------------------------------------------------


def test_promtool_check_rules_passes(promtool: str) -> None:
    result = _run([promtool, "check", "rules", str(ALERTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_promtool_check_config_passes_and_loads_the_rules(promtool: str) -> None:
    result = _run([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    # The config names alerts.yml relative to itself: the check follows it and counts its rules.
    assert "SUCCESS: 1 rule files found" in result.stdout
    assert "SUCCESS: 6 rules found" in result.stdout


def test_promtool_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    # The check above means something only if promtool does fail on a bad expression.
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS.read_text().replace("== 1", "== = 1", 1))
    result = _run([promtool, "check", "rules", str(broken)])
    assert result.returncode != 0


def test_alert_unit_tests_pass(promtool: str) -> None:
    result = _run([promtool, "test", "rules", str(ALERTS_TEST)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_unit_tests_show_every_alert_firing() -> None:
    tests = load_yaml(ALERTS_TEST)["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if not case.get("exp_alerts")
    }
    assert firing == set(_rules())
    assert quiet == set(_rules())  # and each one quiet where it should be


def test_alert_unit_tests_fail_when_an_alert_is_weakened(promtool: str, tmp_path: Path) -> None:
    # The runbook's literal HighErrorRate (`rate(...) > 1`, per second) would need 300 errors in
    # five minutes: the unit tests must catch that, or they prove nothing.
    rules = ALERTS.read_text()
    ours = "sum without (kind) (increase(flywheel_errors_total[5m])) > 1"
    assert ours in rules
    (tmp_path / "alerts.yml").write_text(rules.replace(ours, "rate(flywheel_errors_total[5m]) > 1"))
    (tmp_path / "alerts_test.yml").write_text(ALERTS_TEST.read_text())
    result = _run([promtool, "test", "rules", str(tmp_path / "alerts_test.yml")])
    assert result.returncode != 0
    assert "HighErrorRate" in result.stdout + result.stderr


# --- the rules themselves ---------------------------------------------------------------------


def test_the_runbooks_alerts_are_there_as_written() -> None:
    rules = _rules()
    assert set(rules) == {
        "FlywheelDown",
        "CircuitBreakerOpen",
        "HighErrorRate",
        "ExecutorBalanceLow",
        "EpochStale",
        "AdsStepFailing",
    }
    assert rules["FlywheelDown"]["expr"] == f'up{{job="{SERVICE}"}} == 0'
    assert rules["FlywheelDown"]["for"] == "5m"
    assert rules["CircuitBreakerOpen"]["expr"] == "flywheel_circuit_breaker_state == 1"
    assert rules["CircuitBreakerOpen"]["for"] == "1m"
    assert rules["FlywheelDown"]["annotations"]["summary"] == "Flywheel service is down"
    assert rules["CircuitBreakerOpen"]["annotations"]["summary"] == "Circuit breaker triggered"
    assert (
        rules["HighErrorRate"]["annotations"]["summary"] == "Error rate exceeding 1 per 5 minutes"
    )
    group = load_yaml(ALERTS)["groups"][0]
    assert (group["name"], group["interval"]) == ("flywheel", "30s")


def test_low_balance_threshold_matches_the_default_minimum() -> None:
    # 0.1 SOL is MIN_EXECUTOR_BALANCE_SOL's default; the flywheel notifies at the same level.
    default_sol = Settings.model_fields["min_executor_balance_sol"].default
    expr = _rules()["ExecutorBalanceLow"]["expr"]
    assert expr == f"flywheel_executor_balance_lamports < {int(default_sol * 10**9)}"


def test_epoch_stale_waits_three_default_intervals() -> None:
    interval = Settings.model_fields["epoch_interval_seconds"].default
    expr = " ".join(_rules()["EpochStale"]["expr"].split())
    assert f"> 3 * {interval}" in expr
    assert "flywheel_last_epoch_timestamp_seconds > 0" in expr


def test_every_alert_tells_the_operator_what_to_do() -> None:
    for name, rule in _rules().items():
        notes = rule["annotations"]
        assert notes["summary"], name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert "Runbook" in notes["description"] or "Scenario" in notes["description"], name


def test_alerts_use_only_the_flywheels_metrics() -> None:
    for name, rule in _rules().items():
        used = series_names(rule["expr"])
        assert used, name
        assert used <= QUERYABLE_SERIES, (name, used - QUERYABLE_SERIES)


def test_prometheus_scrapes_the_compose_service_under_the_alerts_job() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs[SERVICE]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["static_configs"] == [{"targets": [f"{SERVICE}:9090"]}]
    assert config["rule_files"] == ["alerts.yml"]
    managers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert managers == ["alertmanager:9093"]


def test_alertmanager_routes_every_alert_to_a_declared_receiver() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    receivers = {receiver["name"] for receiver in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    assert all(child["receiver"] in receivers for child in route.get("routes", []))
    inhibited = {m for rule in config["inhibit_rules"] for m in rule["source_matchers"]}
    assert inhibited <= {f'alertname="{name}"' for name in _rules()}
