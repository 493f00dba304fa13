"""The X-Ads-compatible sandbox served by uvicorn on 127.0.0.1, and clients signed for it."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from flywheel.ads.x_ads.client import XAdsClient
from flywheel.sandbox.x_ads.app import XAdsSandboxState, build_x_ads_app

CONSUMER_KEY = "test-consumer-key"
CONSUMER_SECRET = "test-consumer-secret-0f9a8b"
ACCESS_TOKEN = "1234567890-test-access-token"
ACCESS_TOKEN_SECRET = "test-access-token-secret-7c6d5e"
SECRETS = (CONSUMER_SECRET, ACCESS_TOKEN_SECRET)


@dataclass
class RunningSandbox:
    state: XAdsSandboxState
    base_url: str
    http: httpx.Client  # unsigned, for raw requests and the /_sandbox control endpoints


class _SwappableApp:
    """One server for the session; each test mounts a fresh sandbox app behind it."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no sandbox mounted"
        await self.app(scope, receive, send)


@dataclass
class _Server:
    mount: _SwappableApp
    base_url: str
    http: httpx.Client


@pytest.fixture(scope="session")
def _x_ads_server() -> Iterator[_Server]:
    mount = _SwappableApp()
    # Port 0: the kernel picks a free port; uvicorn reports it once it listens.
    config = uvicorn.Config(
        mount, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the X Ads sandbox did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=5) as http:
            yield _Server(mount, base_url, http)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def x_ads_clock() -> Callable[[], float]:
    """The sandbox's clock (rate windows, spend): the wall clock unless a test parametrizes it."""
    return time.time


@pytest.fixture
def x_ads_state(x_ads_clock: Callable[[], float]) -> XAdsSandboxState:
    return XAdsSandboxState(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        access_token=ACCESS_TOKEN,
        access_token_secret=ACCESS_TOKEN_SECRET,
        spend_micro_per_second=0,  # tests bill through the hook, so amounts are exact
        clock=x_ads_clock,
    )


@pytest.fixture
def x_ads_sandbox(
    _x_ads_server: _Server, x_ads_state: XAdsSandboxState
) -> Iterator[RunningSandbox]:
    _x_ads_server.mount.app = build_x_ads_app(x_ads_state)
    try:
        yield RunningSandbox(x_ads_state, _x_ads_server.base_url, _x_ads_server.http)
    finally:
        _x_ads_server.mount.app = None


class ClientFactory:
    """Makes clients signed for the sandbox (overrides change any option) and closes them."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.made: list[XAdsClient] = []

    def __call__(self, **overrides: Any) -> XAdsClient:
        options: dict[str, Any] = {
            "base_url": self.sandbox.base_url,
            "account_id": self.sandbox.state.account_id,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
            "access_token": ACCESS_TOKEN,
            "access_token_secret": ACCESS_TOKEN_SECRET,
            "timeout": 5,
            "retry_backoff_seconds": 0.05,
            **overrides,
        }
        client = XAdsClient(**options)
        self.made.append(client)
        return client


@pytest.fixture
async def make_x_ads_client(x_ads_sandbox: RunningSandbox) -> AsyncIterator[ClientFactory]:
    factory = ClientFactory(x_ads_sandbox)
    try:
        yield factory
    finally:
        for client in factory.made:
            await client.aclose()


@pytest.fixture
def x_ads_client(make_x_ads_client: ClientFactory) -> XAdsClient:
    return make_x_ads_client()
