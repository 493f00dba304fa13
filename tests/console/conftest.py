"""Fixtures of the console tests: one sandbox, one `flywheel run` and one browser a module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flywheel.sandbox.runner import Sandbox
from tests.console.harness import CHROMEDRIVER, CHROMIUM, Service, start_service
from tests.sandbox.harness import start_sandbox


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def service(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = start_service(box, tmp_path_factory.mktemp("flywheel"))
    try:
        yield running
    finally:
        running.stop()
    assert running.secret not in running.log.read_text()  # never logged


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "chromium and chromedriver are not installed: run scripts/ensure-chromium.sh "
            "(Debian's chromium and chromium-driver packages)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,2200")
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
