"""A real Prometheus server scrapes the flywheel's metrics on loopback and gives the values back.

The exporter is the service's own `FlywheelMetrics` registry served by its ASGI app on uvicorn;
the Prometheus server (Debian's package) runs the deploy config's `x-coin-flywheel` job pointed
at it, with deploy/prometheus/alerts.yml evaluated every second instead of every 30 s. Every wait
is bounded; the server is killed after the module.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from flywheel.service.metrics import FlywheelMetrics
from tests.deploy.harness import (
    ALERTS,
    DASHBOARD,
    FLYWHEEL_METRICS,
    PROMETHEUS_CONFIG,
    SERVICE,
    free_port,
    load_yaml,
)

START_TIMEOUT = 30.0  # Prometheus starts in ~1 s here; CI machines may be slower
SCRAPE_TIMEOUT = 20.0  # scrapes and rule evaluations run every second
POLL = 0.2

# What the exporter holds before the first scrape: distinct values, each exact in a float64.
EPOCHS = {"succeeded": 7, "failed": 2}
ERRORS = {"rpc": 3, "slippage": 1}
DURATIONS = (0.8, 3.0, 42.0)
FEES_LAMPORTS = 1_234_567_890
SPENT_LAMPORTS = 864_197_523
TOKENS_BOUGHT = 987_654_321_000
TOKENS_BURNED = 987_654_000_000
ADS_BUDGET_USD = 123.45
RPC = {("getBalance", "ok"): 11, ("sendTransaction", "error"): 2}
BALANCE_LAMPORTS = 50_000_000  # 0.05 SOL: below the ExecutorBalanceLow threshold (0.1 SOL)
LAST_EPOCH = float(int(time.time()) - 60)  # a minute ago: not stale
BREAKER_OPEN = 1


def _fill(metrics: FlywheelMetrics) -> None:
    for status, count in EPOCHS.items():
        metrics.epochs.labels(status=status).inc(count)
    for kind, count in ERRORS.items():
        for _ in range(count):
            metrics.error(kind)
    for seconds in DURATIONS:
        metrics.duration.observe(seconds)
    metrics.fees.inc(FEES_LAMPORTS)
    metrics.spent.inc(SPENT_LAMPORTS)
    metrics.bought.inc(TOKENS_BOUGHT)
    metrics.burned.inc(TOKENS_BURNED)
    metrics.ads_budget.inc(ADS_BUDGET_USD)
    for (method, outcome), count in RPC.items():
        for _ in range(count):
            metrics.rpc_hook(method, outcome, 0.01)
    metrics.executor_balance.set(BALANCE_LAMPORTS)
    metrics.last_epoch.set(LAST_EPOCH)
    metrics.breaker.set(BREAKER_OPEN)


@dataclass
class Exporter:
    metrics: FlywheelMetrics
    url: str


@dataclass
class Prometheus:
    url: str
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = self._get("/api/v1/query", {"query": expr})
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def api(self, path: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(path, {})["data"]
        return data

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        response = httpx.get(self.url + path, params=params, timeout=5.0)
        answer: dict[str, Any] = response.json()
        assert response.status_code == 200 and answer["status"] == "success", answer
        return answer


def _wait_until(what: str, check: Callable[[], bool], timeout: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(POLL)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    metrics = FlywheelMetrics(CollectorRegistry())
    _fill(metrics)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(metrics.asgi_app(), log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until("the metrics server", lambda: server.started, START_TIMEOUT, None)
        yield Exporter(metrics, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _prometheus_config(workdir: Path, target: str) -> Path:
    """The deploy config's flywheel job, pointed at `target`, with the deploy rules evaluated
    every second (Alertmanager left out: nothing listens for it here)."""
    deployed = load_yaml(PROMETHEUS_CONFIG)
    job = next(j for j in deployed["scrape_configs"] if j["job_name"] == SERVICE)
    job["static_configs"] = [{"targets": [target]}]
    rules = load_yaml(ALERTS)
    for group in rules["groups"]:
        group["interval"] = "1s"
    (workdir / "alerts.yml").write_text(json.dumps(rules))  # JSON is YAML
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [job],
    }
    path = workdir / "prometheus.yml"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str, exporter: Exporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    config = _prometheus_config(workdir, exporter.url.removeprefix("http://"))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", log)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()}")
            try:
                return httpx.get(server.url + "/-/ready", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        _wait_until("prometheus to be ready", ready, START_TIMEOUT, log)

        def scraped_thrice() -> bool:
            # Three samples of every series: enough for rate() and increase() in the queries.
            up = server.query(f'up{{job="{SERVICE}"}} == 1')
            counts = server.query("count_over_time(flywheel_circuit_breaker_state[1m]) >= 3")
            return bool(up) and bool(counts)

        _wait_until("three scrapes of the flywheel", scraped_thrice, SCRAPE_TIMEOUT, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_prometheus_reads_back_every_value_we_set(prometheus: Prometheus) -> None:
    expected: dict[str, float] = {
        f'up{{job="{SERVICE}"}}': 1,
        "flywheel_circuit_breaker_state": BREAKER_OPEN,
        "flywheel_last_epoch_timestamp_seconds": LAST_EPOCH,
        "flywheel_executor_balance_lamports": BALANCE_LAMPORTS,
        "flywheel_fees_detected_lamports_total": FEES_LAMPORTS,
        "flywheel_buyback_spent_lamports_total": SPENT_LAMPORTS,
        "flywheel_tokens_bought_total": TOKENS_BOUGHT,
        "flywheel_tokens_burned_total": TOKENS_BURNED,
        "flywheel_ads_budget_usd_total": ADS_BUDGET_USD,
        "flywheel_epoch_duration_seconds_count": len(DURATIONS),
        "flywheel_epoch_duration_seconds_sum": sum(DURATIONS),
        'flywheel_epoch_duration_seconds_bucket{le="5.0"}': 2,
        'flywheel_epoch_duration_seconds_bucket{le="+Inf"}': 3,
        'flywheel_epochs_total{status="interrupted"}': 0,  # exported before the first one
    }
    for status, count in EPOCHS.items():
        expected[f'flywheel_epochs_total{{status="{status}"}}'] = count
    for kind, count in ERRORS.items():
        expected[f'flywheel_errors_total{{kind="{kind}"}}'] = count
    for (method, outcome), count in RPC.items():
        expected[f'flywheel_rpc_requests_total{{method="{method}",outcome="{outcome}"}}'] = count
    for expr, value in expected.items():
        assert math.isclose(prometheus.value(expr), value, rel_tol=1e-12), expr
    # Series carry the scrape's job and instance labels, which the alerts group by.
    sample = prometheus.query("flywheel_circuit_breaker_state")[0]["metric"]
    assert sample["job"] == SERVICE and sample["instance"].startswith("127.0.0.1:")


def test_a_later_change_reaches_prometheus(prometheus: Prometheus, exporter: Exporter) -> None:
    exporter.metrics.error("late-kind")
    exporter.metrics.epochs.labels(status="interrupted").inc()

    def seen() -> bool:
        late = prometheus.query('flywheel_errors_total{kind="late-kind"}')
        interrupted = prometheus.value('flywheel_epochs_total{status="interrupted"}')
        return bool(late) and float(late[0]["value"][1]) == 1 and interrupted == 1

    _wait_until("the new values in Prometheus", seen, SCRAPE_TIMEOUT, prometheus.log)


def test_the_alert_rules_load_and_judge_the_scraped_values(prometheus: Prometheus) -> None:
    rules = [r for g in prometheus.api("/api/v1/rules")["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == {
        "FlywheelDown",
        "CircuitBreakerOpen",
        "HighErrorRate",
        "ExecutorBalanceLow",
        "EpochStale",
        "AdsStepFailing",  # quiet: no ads step has failed
    }
    active: dict[str, str] = {}

    def both_pending() -> bool:
        active.clear()
        for alert in prometheus.api("/api/v1/alerts")["alerts"]:
            active[alert["labels"]["alertname"]] = alert["state"]
        return {"CircuitBreakerOpen", "ExecutorBalanceLow"} <= set(active)

    _wait_until("the breaker and balance alerts", both_pending, SCRAPE_TIMEOUT, prometheus.log)
    # Open breaker and 0.05 SOL: both alerts wait out their `for` (1m, 5m) as pending. The
    # service is up, the last epoch recent and the error counters flat: nothing else fires.
    assert active == {"CircuitBreakerOpen": "pending", "ExecutorBalanceLow": "pending"}
    assert all(r["health"] == "ok" for r in rules), [r.get("lastError") for r in rules]


def test_every_dashboard_query_runs_and_finds_data(prometheus: Prometheus) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 15
    for expr in exprs:
        # What Grafana substitutes: every instance, and a rate window of a few scrapes.
        concrete = expr.replace("$instance", ".*").replace("$__rate_interval", "1m")
        assert prometheus.query(concrete), expr


def test_promtool_check_metrics_accepts_our_exposition(promtool: str, exporter: Exporter) -> None:
    text = httpx.get(exporter.url + "/metrics", timeout=5.0).text
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == ""


def test_the_exposition_has_every_metric_of_the_issue(exporter: Exporter) -> None:
    text = httpx.get(exporter.url + "/metrics", timeout=5.0).text
    samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    histogram = "flywheel_epoch_duration_seconds"
    assert {f"{histogram}_bucket", f"{histogram}_sum", f"{histogram}_count"} <= samples
    assert FLYWHEEL_METRICS - {histogram} <= samples, FLYWHEEL_METRICS - samples
