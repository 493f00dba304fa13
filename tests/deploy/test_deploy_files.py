"""The deployment files: the compose file, the Dockerfile (its HEALTHCHECK run against real HTTP
servers), .dockerignore, the Grafana dashboard and the Prometheus install script. Docker itself is
not run here: the test machines have no Docker engine. The Prometheus rules and config are in
test_alert_rules.py, the live scrape in test_prometheus_scrape.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath
from typing import Any

import pytest

from tests.deploy.harness import (
    ALERTMANAGER_CONFIG,
    ALERTS,
    COMPOSE,
    DASHBOARD,
    DOCKERFILE,
    ENSURE_SCRIPT,
    FLYWHEEL_METRICS,
    PROMETHEUS_CONFIG,
    QUERYABLE_SERIES,
    ROOT,
    SERVICE,
    free_port,
    load_yaml,
    series_names,
)

TOOL_TIMEOUT = 30


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, **kwargs
    )


# --- docker-compose.yml -----------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = load_yaml(COMPOSE)
    return compose


def _bind_mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{container path: (host path, mode)} of a service's short-syntax volumes."""
    mounts: dict[str, tuple[str, str]] = {}
    for volume in service.get("volumes", []):
        # The host side may hold `${VAR:-default}`: split at the colon before the absolute
        # container path, not at the first colon.
        match = re.fullmatch(r"(.+?):(/[^:]*)(?::(ro|rw))?", volume)
        assert match, volume
        host, container, mode = match.groups()
        mounts[container] = (host, mode or "rw")
    return mounts


def test_compose_has_the_runbooks_services() -> None:
    services = _compose()["services"]
    assert {SERVICE, "prometheus", "alertmanager"} <= set(services)
    # Grafana is opt-in, so that `docker-compose up -d` starts what the runbook describes.
    assert services["grafana"]["profiles"] == ["grafana"]


def test_compose_flywheel_service() -> None:
    service = _compose()["services"][SERVICE]
    assert service["build"] == "."
    assert service["env_file"] == ".env"
    assert service["restart"] == "unless-stopped"
    assert service["environment"]["HTTP_HOST"] == "0.0.0.0"
    mounts = _bind_mounts(service)
    host, mode = mounts["/secure"]
    assert mode == "ro"
    assert host.endswith("./secure}")
    assert mounts["/app/data"][0] == "./data"
    assert mounts["/app/reports"][0] == "./reports"
    assert sorted(service["ports"]) == ["127.0.0.1:3000:3000", "127.0.0.1:9090:9090"]
    # By default the container runs as the image's own user (see the Dockerfile's ARGs).
    args = dict(a.split("=", 1) for word, a in _instructions() if word == "ARG" and "=" in a)
    default_user = f"{args['FLYWHEEL_UID']}:{args['FLYWHEEL_GID']}"
    assert (
        service["user"]
        == f"${{FLYWHEEL_UID:-{args['FLYWHEEL_UID']}}}:${{FLYWHEEL_GID:-{args['FLYWHEEL_GID']}}}"
    )
    assert default_user != "0:0"


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_compose_mounts_the_deploy_files_where_their_commands_read_them() -> None:
    services = _compose()["services"]
    expected = {
        "prometheus": {
            "/etc/prometheus/prometheus.yml": PROMETHEUS_CONFIG,
            "/etc/prometheus/alerts.yml": ALERTS,  # beside it: rule_files names it relatively
        },
        "alertmanager": {"/etc/alertmanager/alertmanager.yml": ALERTMANAGER_CONFIG},
        "grafana": {"/etc/grafana/dashboards/flywheel.json": DASHBOARD},
    }
    for name, files in expected.items():
        mounts = _bind_mounts(services[name])
        for container, source in files.items():
            host, mode = mounts[container]
            assert (ROOT / host).resolve() == source, (name, container)
            assert mode == "ro"
    for flag in services["prometheus"]["command"] + services["alertmanager"]["command"]:
        if flag.startswith("--config.file="):
            container = flag.split("=", 1)[1]
            assert any(container in _bind_mounts(s) for s in services.values()), flag
    provisioning = _bind_mounts(services["grafana"])["/etc/grafana/provisioning"][0]
    providers = load_yaml(ROOT / provisioning / "dashboards" / "flywheel.yml")["providers"]
    assert providers[0]["options"]["path"] == "/etc/grafana/dashboards"
    sources = load_yaml(ROOT / provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert sources[0]["type"] == "prometheus"
    assert sources[0]["url"] == "http://prometheus:9090"


def test_env_example_paths_land_in_the_containers_mounts() -> None:
    # `cp .env.example .env` must give paths that exist inside the container: the keypair in
    # the read-only /secure mount, state and reports in the two volumes (relative to /app).
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    workdir = PurePosixPath("/app")
    assert PurePosixPath(values["EXECUTOR_KEYPAIR_PATH"]).parent == PurePosixPath("/secure")
    state = workdir / values.get("STATE_DB_PATH", "data/flywheel.sqlite")
    reports = workdir / values.get("REPORTS_DIR", "reports")
    assert PurePosixPath(os.path.normpath(state)).parent == PurePosixPath("/app/data")
    assert PurePosixPath(os.path.normpath(reports)) == PurePosixPath("/app/reports")


# --- Dockerfile and .dockerignore -------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _one(instruction: str) -> str:
    found = [args for word, args in _instructions() if word == instruction]
    assert len(found) == 1, (instruction, found)
    return found[0]


def test_dockerfile_runs_flywheel_as_a_non_root_user() -> None:
    instructions = _instructions()
    bases = [args for word, args in instructions if word == "FROM"]
    assert bases and all(base.startswith("python:3.11-slim") for base in bases)
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}
    assert json.loads(_one("ENTRYPOINT")) == ["flywheel"]
    assert json.loads(_one("CMD")) == ["run"]
    assert set(_one("EXPOSE").split()) == {"3000", "9090"}
    assert set(json.loads(_one("VOLUME"))) == {"/app/data", "/app/reports"}
    assert [args for word, args in instructions if word == "WORKDIR"][-1] == "/app"
    env = " ".join(args for word, args in instructions if word == "ENV")
    assert "HTTP_HOST=0.0.0.0" in env.split()
    installs = [args for word, args in instructions if word == "RUN" and "pip install" in args]
    assert installs and not any("[dev]" in args or "-e " in args for args in installs)


def test_docker_build_installs_the_locked_set_then_the_project_alone() -> None:
    installs = [args for word, args in _instructions() if word == "RUN" and "pip install" in args]
    assert installs[0].endswith("pip install --require-hashes -r requirements.lock")
    assert all("--no-deps" in args for args in installs[1:]) and len(installs) == 2


def test_dockerignore_keeps_secrets_out_of_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # an allowlist: new files (a .env, a keypair) stay out
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "requirements.lock", "src"}
    for word, args in _instructions():
        if word == "COPY" and "--from=" not in args:
            *sources, _ = shlex.split(args)
            assert set(sources) <= allowed, sources


def _healthcheck_argv() -> list[str]:
    args = _one("HEALTHCHECK")
    options, _, command = args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv: list[str] = json.loads(command)
    assert argv[0] == "python"  # the image has no curl
    return [sys.executable, *argv[1:]]


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/health" else 404
        body = json.dumps({"status": "healthy" if code == 200 else "unhealthy"}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Health", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_healthcheck_follows_the_health_endpoints_status(
    health_server: tuple[ThreadingHTTPServer, type[_Health]],
) -> None:
    server, handler = health_server
    env = {**os.environ, "HTTP_PORT": str(server.server_address[1])}
    argv = _healthcheck_argv()
    assert _run(argv, env=env).returncode == 0
    handler.status = 503  # breaker open or stale epochs: /health says unhealthy
    failed = _run(argv, env=env)
    assert failed.returncode == 1
    assert "503" in failed.stdout


def test_healthcheck_fails_when_nothing_listens() -> None:
    env = {**os.environ, "HTTP_PORT": str(free_port())}
    result = _run(_healthcheck_argv(), env=env)
    assert result.returncode == 1
    assert "unhealthy" in result.stdout


# --- Grafana dashboard ------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_dashboard_is_a_grafana_dashboard_with_a_datasource_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == SERVICE
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"


def test_dashboard_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in _dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


def test_dashboard_queries_use_only_the_flywheels_metrics_and_cover_them_all() -> None:
    used: set[str] = set()
    for target in _targets(_dashboard()):
        names = series_names(target["expr"])
        assert names, target["expr"]
        assert names <= QUERYABLE_SERIES, (target["expr"], names - QUERYABLE_SERIES)
        used |= names
    covered = {name.removesuffix("_bucket") for name in used}
    assert covered >= FLYWHEEL_METRICS, FLYWHEEL_METRICS - covered


def test_dashboard_shows_the_issues_views() -> None:
    titles = " | ".join(panel["title"].lower() for panel in _dashboard()["panels"])
    for words in (
        "epochs by status",
        "errors by kind",
        "circuit breaker",
        "fees detected vs spent",
        "tokens bought / burned",
        "ads budget",
        "rpc requests by method and outcome",
        "executor balance",
        "p50 / p95",
    ):
        assert words in titles, words


# --- scripts/ensure-*.sh ----------------------------------------------------------------------


def test_ensure_scripts_are_valid_bash_and_share_one_installer() -> None:
    shared = ENSURE_SCRIPT.with_name("ensure-debian-tools.sh")
    chromium = ENSURE_SCRIPT.with_name("ensure-chromium.sh")
    for script in (ENSURE_SCRIPT, chromium, shared):
        assert os.access(script, os.X_OK), script
        result = _run(["bash", "-n", str(script)])
        assert result.returncode == 0, result.stderr
    assert "apt-get install -y" in shared.read_text()
    assert 'ensure-debian-tools.sh" prometheus promtool -- prometheus' in ENSURE_SCRIPT.read_text()
    assert "chromium chromedriver -- chromium chromium-driver" in chromium.read_text()


def test_the_shared_installer_refuses_a_call_without_commands_or_packages() -> None:
    shared = ENSURE_SCRIPT.with_name("ensure-debian-tools.sh")
    for args in ([], ["promtool"], ["promtool", "--"], ["--", "prometheus"]):
        result = _run(["bash", str(shared), *args])
        assert result.returncode == 2 and "usage:" in result.stderr, (args, result.stderr)


def test_ensure_script_is_a_quiet_no_op_when_the_tools_are_there(
    promtool: str, prometheus_binary: str
) -> None:
    result = _run(["bash", str(ENSURE_SCRIPT)])
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
