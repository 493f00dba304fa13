"""The console in a real headless chromium, against `flywheel run` on the sandbox.

It loads `/` (login first: CONSOLE_PUBLIC is off), sees the last epoch and the charts, logs
in, and clicks through every action: launch a manual ads spec, release a quarantined fee, run
an epoch (whose report then spends the released fee), cancel the next spec, reset an opened
circuit breaker. Each result is checked in the state database, not only on the page.
Screenshots of every page are kept in tests/artifacts/console/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flywheel.ads.manual import ads_file
from flywheel.domain.fees import ReceiptStatus
from flywheel.persistence.store import SqliteStore
from flywheel.service.circuit_breaker import BreakerState, CircuitBreaker
from tests.console.harness import Service, screenshot
from tests.e2e.harness import finished_epochs, wait_for

pytestmark = pytest.mark.slow


def store_of(service: Service) -> SqliteStore:
    return SqliteStore.open(Path(service.env["STATE_DB_PATH"]))


def by_css(driver: Any, selector: str) -> Any:
    """The element, once the page that has it has loaded (a click does not wait for one)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector))
    return WebDriverWait(driver, 60).until(located)


def submit(driver: Any, button: Any) -> None:
    """Click a form's button and wait until the next page replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 60).until(expected_conditions.staleness_of(page))


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def test_the_operator_logs_in_and_every_action_reaches_the_state(
    service: Service, browser: Any
) -> None:
    driver = browser
    [first] = finished_epochs(service.env)
    quarantined = first.quarantined_signatures
    assert len(quarantined) == 1

    driver.get(service.base + "/")
    assert driver.current_url.endswith("/login")  # read-only pages are not public here
    screenshot(driver, "login")
    by_css(driver, "#secret").send_keys("not-the-secret-" + "x" * 20)
    submit(driver, by_css(driver, "#login-submit"))
    assert "Wrong secret." in by_css(driver, "#login-error").text
    by_css(driver, "#secret").send_keys(service.secret)
    submit(driver, by_css(driver, "#login-submit"))

    # The overview: the last epoch, four charts drawn, the pending spec and the fee.
    assert by_css(driver, "#last-epoch-id").text == first.id
    assert len(all_css(driver, ".chart svg polyline, .chart svg circle")) >= 4
    assert all_css(driver, f'tr[data-epoch="{first.id}"]')
    cookie = driver.get_cookie("flywheel_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    screenshot(driver, "overview")

    spec = by_css(driver, f'[data-spec="{first.id}"]')
    spec.find_element("css selector", "input[name=campaign_id]").send_keys("cmp-4242")
    submit(driver, spec.find_element("css selector", "button.launch"))
    assert "recorded as launched" in by_css(driver, "#flash").text
    with store_of(service) as store:
        assert any(e.campaign_id == "cmp-4242" for e in store.ads_entries(first.id))
    spec_file = ads_file(Path(service.env["REPORTS_DIR"]), first.id)
    assert json.loads(spec_file.read_text())["campaign_id"] == "cmp-4242"

    submit(driver, by_css(driver, f'[data-fee="{quarantined[0]}"] button.release'))
    assert "released" in by_css(driver, "#flash").text
    with store_of(service) as store:
        [receipt] = [r for r in store.receipts() if r.signature == quarantined[0]]
        assert receipt in store.receipts(ReceiptStatus.AVAILABLE)

    submit(driver, by_css(driver, "#trigger-epoch"))
    assert "An epoch has started" in by_css(driver, "#flash").text
    wait_for(lambda: len(finished_epochs(service.env)) == 2, timeout=90)
    second = finished_epochs(service.env)[-1]
    assert second.receipt_signatures == quarantined  # the next report spends the released fee
    report = json.loads(Path(second.report_path or "").read_text())
    assert report["fees"]["receipt_signatures"] == quarantined
    driver.get(service.base + "/")
    assert by_css(driver, "#last-epoch-id").text == second.id

    # The second epoch's spec: cancelled, its budget back in the reserve.
    with store_of(service) as store:
        available_before = store.ads_available_micro_usd()
    submit(driver, by_css(driver, f'[data-spec="{second.id}"] button.cancel'))
    assert "cancelled" in by_css(driver, "#flash").text
    with store_of(service) as store:
        assert any(e.kind == "released" for e in store.ads_entries(second.id))
        assert store.ads_available_micro_usd() > available_before

    with store_of(service) as store:
        CircuitBreaker(store, threshold=1).record_failure()
    driver.get(service.base + "/")
    assert by_css(driver, "#card-breaker .big").text == "open"
    submit(driver, by_css(driver, "#reset-breaker"))
    assert "circuit breaker is closed" in by_css(driver, "#flash").text
    with store_of(service) as store:
        assert CircuitBreaker(store).state is BreakerState.CLOSED

    driver.get(service.base + "/epochs")
    assert len(all_css(driver, "table.epochs tbody tr[data-epoch]")) == 2
    links = [a.get_attribute("href") for a in all_css(driver, "table.epochs a.mono")]
    assert links and all("solscan.io/tx/" in h and "cluster=custom" in h for h in links)
    screenshot(driver, "epochs")
    submit(driver, by_css(driver, f'tr[data-epoch="{second.id}"] a[href^="/reports/"]'))
    assert second.id in driver.page_source

    driver.set_window_size(390, 1800)  # a phone
    driver.get(service.base + "/")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390 + 1  # nothing but the tables (which scroll inside) is wider
    screenshot(driver, "overview-phone")
    driver.set_window_size(1280, 2200)

    driver.get(service.base + "/")
    submit(driver, by_css(driver, "#logout"))
    driver.get(service.base + "/")
    assert driver.current_url.endswith("/login")
