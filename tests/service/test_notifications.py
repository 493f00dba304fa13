"""Notifications delivered for real: apprise's json:// posts to a small receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from structlog.testing import capture_logs

from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec, Targeting
from flywheel.service.notifications import AppriseNotifier, NullNotifier, notifier_from, split_urls
from flywheel.service.servers import BackgroundServer, bind_socket
from tests.core.fakes import EpochWorld
from tests.service.harness import make_service


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.arrived = asyncio.Event()

    async def hook(self, request: Request) -> Response:
        self.received.append(await request.json())
        self.paths.append(request.url.path)
        self.arrived.set()
        return Response("ok")

    def titles(self) -> list[str]:
        return [str(r["title"]) for r in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    rec = Receiver()
    app = Starlette(routes=[Route("/{path:path}", rec.hook, methods=["POST"])])
    server = BackgroundServer(app, bind_socket("127.0.0.1", 0, "test"))
    server.start()
    try:
        yield rec, server.port
    finally:
        await server.stop()


def test_urls_split_on_commas_and_spaces() -> None:
    assert split_urls(" json://a/x, tgram://b/c\n  mailto://d ") == [
        "json://a/x",
        "tgram://b/c",
        "mailto://d",
    ]
    assert split_urls("mailto://u:p@mail.example?to=a@x.example,b@y.example json://h/p") == [
        "mailto://u:p@mail.example?to=a@x.example,b@y.example",
        "json://h/p",
    ]
    assert isinstance(notifier_from(None), NullNotifier)
    assert isinstance(notifier_from("  "), NullNotifier)


async def test_a_notification_arrives(receiver: tuple[Receiver, int]) -> None:
    rec, port = receiver
    notifier = AppriseNotifier(f"json://127.0.0.1:{port}/alerts")
    assert notifier.services == 1
    await notifier.notify("Flywheel: test", "hello operator", level="error")
    assert len(rec.received) == 1
    body = rec.received[0]
    assert (body["title"], body["message"], body["type"]) == (
        "Flywheel: test",
        "hello operator",
        "failure",
    )
    assert rec.paths == ["/alerts"]


async def test_failures_are_logged_never_raised_and_urls_never_logged() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    token_url = f"json://user:hunter2-token@127.0.0.1:{port}/x"
    with capture_logs() as logs:
        notifier = AppriseNotifier(f"{token_url}, notaservice://secret-token-123")
        await notifier.notify("title", "body")
    events = [e["event"] for e in logs]
    assert "notify.urls_rejected" in events and "notify.failed" in events
    text = repr(logs)
    assert "hunter2" not in text and "secret-token-123" not in text


async def test_the_service_notifies_what_needs_a_person(
    world: EpochWorld, receiver: tuple[Receiver, int]
) -> None:
    rec, port = receiver
    notifier = AppriseNotifier(f"json://127.0.0.1:{port}/alerts")
    # Executor balance below the minimum: notified once, not at every epoch.
    service = make_service(
        world,
        notifier=notifier,
        threshold=2,
        min_executor_balance_lamports=world.ledger.executor_lamports * 10,
    )
    world.failing = True
    await service.run_scheduled()
    await service.run_scheduled()
    await service.alerts.drain()
    titles = rec.titles()
    assert sum("failed" in t for t in titles) == 2
    assert "Flywheel: circuit breaker OPEN" in titles
    assert titles.count("Flywheel: executor balance low") == 1
    opened = rec.received[titles.index("Flywheel: circuit breaker OPEN")]
    assert opened["type"] == "failure" and "reset-circuit-breaker" in opened["message"]

    rec.received.clear()
    service.reset_breaker()
    await service.alerts.drain()
    assert rec.titles() == ["Flywheel: circuit breaker closed"]


async def test_quarantined_fees_and_a_manual_campaign_are_notified(
    world: EpochWorld, receiver: tuple[Receiver, int]
) -> None:
    rec, port = receiver
    from dataclasses import replace

    world.policy = replace(world.policy, max_single_fee_lamports=500_000_000)
    world.fee_per_epoch = 2 * 10**9  # above the limit: quarantined

    spec = CampaignSpec(
        budget_usd=45,
        budget_micro_usd=45_000_000,
        duration_hours=24,
        targeting=Targeting(),
        post_id="123",
    )

    class ManualAds:
        mode = "manual"

        async def run(self, epoch_id: str, _: CampaignSpec) -> AdsOutcome:
            return AdsOutcome(status=AdsStatus.PENDING_OPERATOR, spec=spec)

    world.ads = ManualAds()  # type: ignore[assignment]
    service = make_service(world, notifier=AppriseNotifier(f"json://127.0.0.1:{port}/a"))
    state = await service.run_scheduled()
    assert state is not None and state.quarantined_signatures
    world.fee_per_epoch = 10**8  # a normal fee: the manual campaign
    await service.run_scheduled()
    await service.alerts.drain()
    titles = rec.titles()
    quarantined = [r for r in rec.received if "quarantined" in r["title"]]
    assert len(quarantined) == 1 and state.quarantined_signatures[0] in quarantined[0]["message"]
    campaign = [r for r in rec.received if "ads campaign ready" in r["title"]]
    assert len(campaign) == 1 and '"budget_micro_usd": 45000000' in campaign[0]["message"]
    assert not any("failed" in t for t in titles)
