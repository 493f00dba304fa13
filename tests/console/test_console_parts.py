"""The console's pure parts: explorer links per cluster, sessions and CSRF under a moved
clock, the SVG charts (escaped, with the supply read back from today's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from starlette.requests import Request

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.service.console.auth import COOKIE, SESSION_SECONDS, ConsoleAuth
from flywheel.service.console.charts import Series, epoch_series, svg
from flywheel.service.console.explorer import cluster_query, tx_url

SECRET = "s" * 40


def test_explorer_links_follow_the_cluster_of_the_rpc() -> None:
    assert cluster_query("https://api.mainnet-beta.solana.com") == ""
    assert cluster_query("https://mainnet.helius-rpc.com/?api-key=k") == ""
    assert cluster_query("https://api.devnet.solana.com") == "?cluster=devnet"
    assert cluster_query("https://api.testnet.solana.com") == "?cluster=testnet"
    local = cluster_query("http://127.0.0.1:8899")
    assert local == "?cluster=custom&customUrl=http%3A%2F%2F127.0.0.1%3A8899"
    assert tx_url("https://solscan.io/", "https://api.devnet.solana.com", "abc") == (
        "https://solscan.io/tx/abc?cluster=devnet"
    )
    assert tx_url("https://explorer.solana.com", "https://x.org", "a/b?c") == (
        "https://explorer.solana.com/tx/a%2Fb%3Fc"
    )


def request_with(cookie: str | None = None, authorization: str | None = None) -> Request:
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    if authorization is not None:
        headers.append((b"authorization", authorization.encode("latin-1")))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_a_session_expires_and_cannot_be_forged_or_moved_to_another_secret() -> None:
    clock = [1_000_000.0]
    auth = ConsoleAuth(SECRET, now=lambda: clock[0])
    cookie = auth.new_session()
    assert auth.identify(request_with(cookie)).who == "operator"
    expiry, nonce, mac = cookie.split(".")
    assert auth.session_nonce(f"{int(expiry) + 999}.{nonce}.{mac}") is None  # extended by hand
    assert auth.session_nonce(f"{expiry}.{nonce}x.{mac}") is None
    assert auth.session_nonce("garbage") is None and auth.session_nonce("") is None
    assert ConsoleAuth("t" * 40, now=lambda: clock[0]).session_nonce(cookie) is None
    clock[0] += SESSION_SECONDS + 1
    assert auth.identify(request_with(cookie)).who == "anonymous"


def test_csrf_tokens_are_bound_to_their_session() -> None:
    auth = ConsoleAuth(SECRET)
    one = auth.identify(request_with(auth.new_session()))
    two = auth.identify(request_with(auth.new_session()))
    assert one.session_nonce and two.session_nonce
    assert auth.csrf_ok(one, auth.csrf_token(one.session_nonce))
    assert not auth.csrf_ok(one, auth.csrf_token(two.session_nonce))
    assert not auth.csrf_ok(one, None) and not auth.csrf_ok(one, "")
    bearer = auth.identify(request_with(authorization=f"Bearer {SECRET}"))
    assert bearer.who == "operator" and auth.csrf_ok(bearer, None)


def test_a_wrong_or_short_secret_is_never_an_operator() -> None:
    auth = ConsoleAuth(SECRET)
    assert auth.identify(request_with(authorization="Bearer nope")).who == "refused"
    assert auth.identify(request_with(authorization=f"Basic {SECRET}")).who == "refused"
    short = ConsoleAuth("short")
    assert not short.enabled
    assert short.identify(request_with(authorization="Bearer short")).who == "refused"
    assert not short.secret_matches(b"short")


def epoch(minute: int, spent: int, bought: int, destination: str = "burn") -> EpochState:
    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=minute)
    return EpochState(
        id=f"e{minute}",
        mode=EpochMode.LIVE,
        started_at=at,
        finished_at=at,
        status=EpochStatus.SUCCEEDED,
        buyback_spent_lamports=spent,
        tokens_bought=bought,
        tokens_settled=bought,
        destination=destination,
    )


def test_the_series_are_cumulative_and_the_supply_is_read_back() -> None:
    epochs = [
        epoch(0, 10**9, 100),
        epoch(1, 0, 0),
        epoch(2, 2 * 10**9, 50, "hold"),
        epoch(3, 7 * 10**8, 7),
    ]
    spent, burned, supply, price = epoch_series(epochs, supply_now=1_000)
    assert [str(v) for _, v in spent.points] == ["1", "1", "3", "3.7"]
    assert [int(v) for _, v in burned.points] == [100, 100, 100, 107]  # held: not burned
    # Supply after an epoch = today's + what later epochs burned.
    assert [int(v) for _, v in supply.points] == [1_007, 1_007, 1_007, 1_000]
    assert [str(v) for _, v in price.points] == ["10000000", "40000000", "100000000"]
    _, _, none, _ = epoch_series(epochs, supply_now=None)
    assert none.points == []


def test_an_svg_escapes_its_title_and_says_when_it_has_no_data() -> None:
    hostile = Series("x", '<script>alert("x")</script>', "", [])
    drawing = str(svg(hostile))
    assert "<script>" not in drawing and "no data yet" in drawing
    at = datetime(2026, 12, 1, tzinfo=UTC)
    one = str(svg(Series("y", "t", "", [(at, Decimal(5))])))
    assert "<circle" in one and "<polyline" in one
