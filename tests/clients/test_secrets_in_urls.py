"""A provider key inside a URL (query, path or user part) never reaches a log line, an error
message, a report or the state database, whatever goes wrong: every client shows its URL
through the one `redact_url`."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from solders.pubkey import Pubkey
from structlog.testing import capture_logs

from flywheel.ads.x_ads.client import XAdsClient
from flywheel.compose import open_flywheel
from flywheel.config.secrets import redact_url
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochStatus
from flywheel.errors import FlywheelError
from flywheel.jupiter.client import JupiterClient
from flywheel.logs import configure_logging
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.rpc import RpcClient
from tests.clients.hostile import HostileServer

KEY = "sk-live-7f3a9c0d1e2b4a68"


LIBRARY_LOGGERS = ("httpx", "httpx2", "httpcore")


@pytest.fixture(autouse=True)
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Logging as `flywheel` sets it up, at its most talkative level (LOG_LEVEL=DEBUG)."""
    configure_logging("DEBUG", "json")
    caplog.set_level(logging.DEBUG)
    for name in LIBRARY_LOGGERS:  # caplog lowers them too; put back what configure_logging set
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        structlog.reset_defaults()
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def keyed(base: str) -> list[str]:
    """`base` (http://host:port) with the key where providers put one."""
    host = base.removeprefix("http://")
    return [f"{base}/?api-key={KEY}", f"{base}/{KEY}", f"http://user:{KEY}@{host}"]


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rpc(url: str) -> RpcClient:
    return RpcClient(url, timeout=0.3, deadline_seconds=0.5, max_attempts=2, backoff_initial=0.01)


def _jupiter(url: str) -> JupiterClient:
    mint, user = str(Pubkey.new_unique()), str(Pubkey.new_unique())
    return JupiterClient(url, mint, user, 300, timeout=0.3, deadline_seconds=0.5)


def _x_ads(url: str) -> XAdsClient:
    return XAdsClient(
        base_url=url,
        account_id="18ce54d4x5t",
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_token_secret="ats",
        timeout=0.5,
        deadline_seconds=0.5,
        server_error_retries=1,
        retry_backoff_seconds=0.01,
        max_rate_limit_wait_seconds=0,
    )


async def _use(client: Any) -> Any:
    if isinstance(client, RpcClient):
        return await client.get_balance(Pubkey.new_unique())
    if isinstance(client, JupiterClient):
        return await client.quote(1_000)
    return await client.accounts()


CLIENTS: dict[str, Callable[[str], Any]] = {"rpc": _rpc, "jupiter": _jupiter, "x_ads": _x_ads}
SERVERS: dict[str, Callable[[], HostileServer]] = {
    "401": lambda: HostileServer(status=401, body=b'{"error": "bad key"}'),
    "404": lambda: HostileServer(status=404, body=b"not here"),
    "429": lambda: HostileServer(status=429, headers={"retry-after": "3600"}),
    "503": lambda: HostileServer(status=503, body=b"<html>down</html>"),
    "junk": lambda: HostileServer(body=b"<html>not json</html>"),
    "rpc-error": lambda: HostileServer(body=b'{"jsonrpc":"2.0","id":0,"error":{"code":-32000}}'),
    "hang": lambda: HostileServer("hang"),
    "trickle": lambda: HostileServer("trickle"),
}


def _texts(error: BaseException | None, client: Any, events: list[Any], caplog: Any) -> str:
    parts = [repr(client), str(error), repr(error), json.dumps(events, default=str)]
    parts += [record.getMessage() for record in caplog.records]
    return "\n".join(parts)


async def _failure(make: Callable[[str], Any], url: str) -> tuple[Any, BaseException | None]:
    client = make(url)
    try:
        await _use(client)
    except FlywheelError as exc:
        return client, exc
    finally:
        close: Callable[[], Awaitable[None]] = getattr(client, "close", None) or client.aclose
        await close()
    return client, None


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_a_key_in_the_url_never_shows_on_any_error_path(
    client: str, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with SERVERS[server]() as hostile:
        for url in keyed(hostile.url):
            with capture_logs() as events:
                made, error = await _failure(CLIENTS[client], url)
            assert KEY not in _texts(error, made, events, caplog), (client, server, url)


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_a_key_in_an_unreachable_url_never_shows(
    client: str, caplog: pytest.LogCaptureFixture
) -> None:
    for url in keyed(f"http://127.0.0.1:{dead_port()}"):
        with capture_logs() as events:
            made, error = await _failure(CLIENTS[client], url)
        assert error is not None
        assert redact_url(url) in str(error) or "unreachable" in str(error)
        assert KEY not in _texts(error, made, events, caplog)


def _stored(directory: Path) -> str:
    """Every byte under `directory` (reports, the database and its journal files) as text."""
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace")
        for path in directory.rglob("*")
        if path.is_file()
    )


async def test_keys_never_reach_reports_the_database_or_the_logs_of_failed_epochs(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.traders.step(3)
    bot = tmp_path / "bot"
    env = sandbox.env(bot)
    dead = f"127.0.0.1:{dead_port()}"
    jupiter_host = sandbox.jupiter_url.removeprefix("http://")
    env.update(
        {
            "SOLANA_RPC_URL": f"{sandbox.rpc_url}/?api-key={KEY}",
            "JUPITER_API_URL": f"http://user:{KEY}@{jupiter_host}",
            "X_ADS_API_URL": f"http://user:{KEY}@{dead}",
            "ADS_ENGINE_MODE": "api",
            "ADS_MIN_BUDGET_USD": "0.01",
            "API_CALL_DEADLINE_SECONDS": "2",
            "API_TIMEOUT_SECONDS": "1",
        }
    )
    states = []
    with capture_logs() as events:
        async with open_flywheel(Settings.from_mapping(env)) as flywheel:
            states.append(await flywheel.run_epoch())  # X Ads unreachable: the ads step fails
        sandbox.traders.step(3)
        env["JUPITER_API_URL"] = f"http://127.0.0.1:{dead_port()}/{KEY}"
        async with open_flywheel(Settings.from_mapping(env)) as flywheel:
            states.append(await flywheel.run_epoch())  # Jupiter unreachable: nothing bought
    # The ads failure leaves the buyback standing (ads-failed); no swap at all is a failure.
    assert [s.status for s in states] == [EpochStatus.ADS_FAILED, EpochStatus.FAILED]
    messages = [e.message for s in states for e in s.errors]
    assert any("X Ads" in m for m in messages) and any("Jupiter" in m for m in messages)
    assert KEY not in _stored(bot)
    assert KEY not in _texts(None, None, events, caplog)
