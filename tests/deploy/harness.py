"""The deployment tests' helpers: the repository's paths, Prometheus's tools, YAML.

promtool and prometheus come from Debian's `prometheus` package (scripts/ensure-prometheus.sh
installs it; .ci/run calls that script). Without them the tests that need them skip on a
developer's machine, but fail under CI=true: CI must prove the rules and the scrape work.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboard.json"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENSURE_SCRIPT = ROOT / "scripts" / "ensure-prometheus.sh"

SERVICE = "x-coin-flywheel"  # the runbook's compose service and Prometheus job name

# The metrics that issue 5 fixes; dashboards and alerts may use only these (and Prometheus's own
# `up`). A histogram is queried through its _bucket, _sum and _count series.
FLYWHEEL_METRICS = frozenset(
    {
        "flywheel_epochs_total",
        "flywheel_errors_total",
        "flywheel_circuit_breaker_state",
        "flywheel_last_epoch_timestamp_seconds",
        "flywheel_epoch_duration_seconds",
        "flywheel_fees_detected_lamports_total",
        "flywheel_buyback_spent_lamports_total",
        "flywheel_tokens_bought_total",
        "flywheel_tokens_burned_total",
        "flywheel_ads_budget_usd_total",
        "flywheel_rpc_requests_total",
        "flywheel_executor_balance_lamports",
    }
)
# Issue 15: the ads step's own failures, apart from the circuit breaker (its alert's series).
ADS_FAILURE_METRICS = frozenset(
    {"flywheel_ads_consecutive_failures", "flywheel_ads_failures_total"}
)
HISTOGRAMS = frozenset({"flywheel_epoch_duration_seconds"})
QUERYABLE_SERIES = (
    (FLYWHEEL_METRICS - HISTOGRAMS)
    | ADS_FAILURE_METRICS
    | {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | {"up"}
)

# PromQL words that look like identifiers but name no series.
_PROMQL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?")


def series_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def load_yaml(path: Path) -> Any:
    # PyYAML is installed with apprise (a runtime dependency) but ships no type stubs here;
    # importing it by name keeps mypy strict without an ignore that stubs would make stale.
    yaml = importlib.import_module("yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_tool(name: str) -> str:
    """The path of `name`; skips without it, except under CI=true where its absence fails."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = (
        f"`{name}` is not installed: run scripts/ensure-prometheus.sh "
        "(Debian's `prometheus` package provides prometheus and promtool)"
    )
    if in_ci():
        pytest.fail(f"{message}; under CI=true this test must run")
    pytest.skip(message)
