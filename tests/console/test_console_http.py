"""The console's guard, over HTTP against `flywheel run` on the sandbox.

Without the secret every action is refused and the state does not change; a session cookie
without its CSRF token is refused; a blocked client is refused even with the secret; pages are
private unless CONSOLE_PUBLIC=true; without a usable WEBHOOK_SECRET nobody can act. Each test
speaks as its own client (X-Forwarded-For, which uvicorn trusts from loopback), so the
failures one test provokes never block another.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.domain.fees import ReceiptStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from tests.console.harness import Service, start_service
from tests.e2e.harness import ChainView, epoch_reports, finished_epochs, wait_for

pytestmark = pytest.mark.slow


def client(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def actions_of(service: Service) -> list[str]:
    [epoch] = finished_epochs(service.env)[:1]
    fee = epoch.quarantined_signatures[0]
    return [
        f"/actions/ads/{epoch.id}/launch",
        f"/actions/ads/{epoch.id}/cancel",
        f"/actions/fees/{fee}/release",
        "/actions/breaker/reset",
        "/actions/epoch/trigger",
    ]


def state_of(service: Service) -> dict[str, Any]:
    with SqliteStore.open(Path(service.env["STATE_DB_PATH"])) as store:
        return {
            "quarantined": [r.signature for r in store.receipts(ReceiptStatus.QUARANTINED)],
            "ads": [(e.kind, e.micro_usd, e.campaign_id) for e in store.ads_entries()],
            "breaker": store.breaker_state(),
            "epochs": [e.id for e in store.epochs(limit=100)],
        }


@contextmanager
def login(service: Service, ip: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base, headers=client(ip), timeout=30) as session:
        answer = session.post("/login", data={"secret": service.secret})
        assert answer.status_code == 303, answer.text
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        yield session


def test_without_the_secret_every_action_is_refused_and_nothing_changes(
    service: Service,
) -> None:
    before = state_of(service)
    form = {"campaign_id": "cmp-1", "csrf": "guessed"}
    for index, path in enumerate(actions_of(service)):
        anonymous = httpx.post(
            service.base + path, data=form, headers=client(f"10.1.0.{index}"), timeout=30
        )
        assert anonymous.status_code == 401, (path, anonymous.text)
        wrong = httpx.post(
            service.base + path,
            data=form,
            headers={**client(f"10.2.0.{index}"), "Authorization": "Bearer " + "x" * 40},
            timeout=30,
        )
        assert wrong.status_code == 401, (path, wrong.text)
        forged = httpx.post(
            service.base + path,
            data=form,
            headers=client(f"10.3.0.{index}"),
            cookies={"flywheel_session": "9999999999.nonce.deadbeef"},
            timeout=30,
        )
        assert forged.status_code == 401, (path, forged.text)
    assert state_of(service) == before


def test_a_session_without_its_csrf_token_cannot_act(service: Service) -> None:
    before = state_of(service)
    with login(service, "10.4.0.1") as session, login(service, "10.4.0.2") as other:
        for path in actions_of(service):
            missing = session.post(path, data={"campaign_id": "cmp-1"})
            assert missing.status_code == 403 and "CSRF" in missing.text
        # Another session's token does not fit this one.
        page = other.get("/").text
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        refused = session.post("/actions/breaker/reset", data={"csrf": token})
        assert refused.status_code == 403
    assert state_of(service) == before


def test_a_script_with_the_bearer_header_reads_and_acts(service: Service) -> None:
    bearer = {**client("10.5.0.1"), "Authorization": f"Bearer {service.secret}"}
    page = httpx.get(service.base + "/epochs", headers=bearer, timeout=30)
    assert page.status_code == 200 and "table" in page.text
    [epoch] = finished_epochs(service.env)[:1]
    assert epoch.report_path is not None
    name = Path(epoch.report_path).name
    report = httpx.get(f"{service.base}/reports/{name}", headers=bearer, timeout=30)
    assert report.status_code == 200 and report.json()["epoch_id"] == epoch.id
    reset = httpx.post(service.base + "/actions/breaker/reset", headers=bearer, timeout=30)
    assert reset.status_code == 303 and reset.headers["location"] == "/?done=breaker-reset"


def test_the_proof_is_served_with_the_reports_totals(service: Service) -> None:
    bearer = {**client("10.5.0.2"), "Authorization": f"Bearer {service.secret}"}
    document = httpx.get(service.base + "/proof.json", headers=bearer, timeout=30).json()
    buybacks = [r["execution"]["buyback"] for r in epoch_reports(service.env)]
    assert document["totals"]["spent_lamports"] == sum(b["spent_lamports"] for b in buybacks)
    assert document["totals"]["tokens_burned"] == sum(
        b["settlement"]["tokens"] for b in buybacks if b["settlement"]
    )
    page = httpx.get(service.base + "/proof", headers=bearer, timeout=30)
    assert page.status_code == 200 and str(document["totals"]["tokens_burned"]) in page.text
    private = httpx.get(service.base + "/proof", headers=client("10.5.0.3"), timeout=30)
    assert private.status_code == 303  # public only with CONSOLE_PUBLIC=true


def test_pages_are_private_and_hardened(service: Service) -> None:
    for path in ("/", "/epochs", "/epochs?page=3", "/reports/epoch-20260101T000000Z-a.json"):
        answer = httpx.get(service.base + path, headers=client("10.6.0.1"), timeout=30)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    with login(service, "10.6.0.2") as session:
        page = session.get("/")
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert service.secret not in page.text
        for hostile in ("/reports/..%2Fdata%2Fflywheel.sqlite", "/reports/.env", "/reports/x.json"):
            assert session.get(hostile).status_code == 404, hostile
        assert session.get("/epochs?page=-1").status_code == 200
        assert session.get("/epochs?page=99999999999").status_code == 200
        huge = session.post("/actions/breaker/reset", content=b"csrf=" + b"a" * 5000)
        assert huge.status_code == 413
    css = httpx.get(service.base + "/static/console.css", timeout=30)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_blocked_client_is_refused_even_with_the_secret(service: Service) -> None:
    blocked = client("10.7.0.1")
    for _ in range(10):
        wrong = httpx.post(service.base + "/login", data={"secret": "no"}, headers=blocked)
        assert wrong.status_code == 401
    right = httpx.post(service.base + "/login", data={"secret": service.secret}, headers=blocked)
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    bearer = {**blocked, "Authorization": f"Bearer {service.secret}"}
    assert httpx.get(service.base + "/", headers=bearer).status_code == 429
    assert httpx.post(service.base + "/actions/breaker/reset", headers=bearer).status_code == 429
    with login(service, "10.7.0.2") as other:
        assert other.get("/").status_code == 200  # others are not blocked


def test_the_state_gauges_show_carried_quarantined_reserve_and_the_collectors_balance(
    service: Service, box: Sandbox
) -> None:
    metrics = httpx.get(f"http://127.0.0.1:{service.env['METRICS_PORT']}/metrics").text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }
    with SqliteStore.open(Path(service.env["STATE_DB_PATH"])) as store:
        totals = store.receipt_totals()
        reserve = store.ads_available_micro_usd() / 1_000_000
    last = finished_epochs(service.env)[-1]
    assert values["flywheel_carried_lamports"] == last.carried_out_lamports
    assert values["flywheel_quarantined_lamports"] == totals["quarantined"] > 0
    assert values["flywheel_ads_reserve_usd"] == pytest.approx(reserve)
    # Read at start-up, and nothing has moved it since (the public service starts later).
    collector = ChainView(box).sol(box.fee_collector)
    assert values["flywheel_fee_collector_balance_lamports"] == collector > 0


@pytest.fixture(scope="module")
def public_service(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = start_service(
        box, tmp_path_factory.mktemp("public"), CONSOLE_PUBLIC="true", WEBHOOK_SECRET=""
    )
    try:
        yield running
    finally:
        running.stop()


def test_public_pages_show_no_action_and_without_a_secret_nobody_can_act(
    public_service: Service,
) -> None:
    page = httpx.get(public_service.base + "/", timeout=30)
    assert page.status_code == 200 and "/actions/" not in page.text
    for path in ("/epochs", "/proof", "/proof.json"):
        assert httpx.get(public_service.base + path, timeout=30).status_code == 200, path
    login_page = httpx.post(public_service.base + "/login", data={"secret": "x" * 40})
    assert login_page.status_code == 403 and "Login is off" in login_page.text
    for path in ("/actions/breaker/reset", "/actions/epoch/trigger"):
        refused = httpx.post(public_service.base + path, timeout=30)
        assert refused.status_code == 403


def test_the_service_log_is_json_throughout_and_says_each_thing_once(service: Service) -> None:
    host, port = service.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn warns about it through stdlib logging
        raw.recv(1024)
    wait_for(lambda: "Invalid HTTP request" in service.log.read_text(), timeout=90)
    lines = [line for line in service.log.read_text().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line, uvicorn's included, is JSON
    warning = next(e for e in events if "Invalid HTTP request" in e["event"])
    assert warning["logger"] == "uvicorn.error" and warning["level"] == "warning"
    assert [e["event"] for e in events].count("service.started") == 1
    assert not any("Started server process" in e["event"] for e in events)
