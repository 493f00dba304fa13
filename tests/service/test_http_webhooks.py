"""The webhooks over real HTTP (uvicorn on 127.0.0.1): every way auth fails, the rate limit,
the body limit, 202 with the real epoch's id, 409 while one runs, 503 while the breaker is open."""

from __future__ import annotations

import asyncio

import httpx

from flywheel.domain.epoch_state import EpochStatus
from flywheel.service.circuit_breaker import BreakerState
from flywheel.service.http_app import FailureLimiter
from tests.core.fakes import EpochWorld
from tests.service.harness import SECRET, auth, make_service, serving


async def test_each_auth_failure_is_a_401_and_runs_nothing(world: EpochWorld) -> None:
    async with serving(make_service(world)) as run:
        cases = {
            "no header": {},
            "wrong scheme": {"Authorization": f"Basic {SECRET}"},
            "scheme only": {"Authorization": "Bearer"},
            "wrong token": {"Authorization": "Bearer " + "y" * len(SECRET)},
            "prefix of the token": {"Authorization": f"Bearer {SECRET[:-1]}"},
        }
        for name, headers in cases.items():
            for path in ("/webhook/trigger", "/webhook/reset-circuit-breaker"):
                response = await run.http.post(path, headers=headers)
                assert response.status_code == 401, (name, path, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert SECRET not in response.text
    assert world.runs == 0


async def test_webhooks_are_off_without_a_long_enough_secret(world: EpochWorld) -> None:
    for secret in (None, "z" * 31):
        async with serving(make_service(world, webhook_secret=secret)) as run:
            response = await run.http.post("/webhook/trigger", headers=auth(secret or "unset"))
            assert response.status_code == 403, response.text
            health = (await run.http.get("/health")).json()
            assert health["webhooks"] == "disabled"
    assert world.runs == 0
    async with serving(make_service(world, webhook_secret="z" * 32)) as run:
        response = await run.http.post("/webhook/trigger", headers=auth("z" * 32))
        assert response.status_code == 202, "32 characters is enough"


async def test_failed_attempts_are_rate_limited_per_client(world: EpochWorld) -> None:
    async with serving(make_service(world)) as run:
        attacker = httpx.AsyncClient(
            base_url=run.url(""),
            transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"),
        )
        async with attacker:
            codes = [
                (await attacker.post("/webhook/trigger", headers=auth("guess" * 8))).status_code
                for _ in range(12)
            ]
            assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
            blocked = await attacker.post("/webhook/trigger", headers=auth("guess" * 8))
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) >= 1
            # The limiter limits failures: the right secret is never refused by it.
            right = await attacker.post("/webhook/reset-circuit-breaker", headers=auth())
            assert right.status_code == 200, right.text
        # Another client (127.0.0.1) is not affected.
        response = await run.http.post("/webhook/reset-circuit-breaker", headers=auth())
        assert response.status_code == 200
        assert response.json() == {"circuitBreaker": "closed", "previous": "closed"}


async def test_the_operator_is_accepted_during_a_flood_from_the_same_address(
    world: EpochWorld,
) -> None:
    # Behind Docker's port publishing every client has the same address: ten bad tokens for
    # each good one must not lock the operator out.
    async with serving(make_service(world)) as run:
        operator_codes = []
        for _ in range(18):
            for _ in range(10):
                await run.http.post("/webhook/trigger", headers=auth("flood" * 8))
            reset = await run.http.post("/webhook/reset-circuit-breaker", headers=auth())
            operator_codes.append(reset.status_code)
        flooded = await run.http.post("/webhook/trigger", headers=auth("flood" * 8))
        assert flooded.status_code == 429
    assert operator_codes == [200] * 18


def test_the_limiter_has_a_global_ceiling() -> None:
    now = [0.0]
    limiter = FailureLimiter(limit=10, global_limit=5, now=lambda: now[0])
    for client in ("a", "b", "c", "d", "e"):
        assert limiter.retry_after(client) is None
        limiter.record_failure(client)
    assert limiter.retry_after("f") == 60, "a client never seen is limited by the ceiling"
    now[0] = 61
    assert limiter.retry_after("f") is None


def test_the_limiter_forgets_after_its_window() -> None:
    now = [0.0]
    limiter = FailureLimiter(limit=3, window_seconds=60, now=lambda: now[0], max_clients=2)
    for _ in range(3):
        limiter.record_failure("a")
    assert limiter.retry_after("a") == 60
    now[0] = 30
    assert limiter.retry_after("a") == 30
    now[0] = 60.5
    assert limiter.retry_after("a") is None
    for client in ("b", "c", "d"):
        limiter.record_failure(client)
    assert len(limiter._failures) == 2, "memory stays bounded"


async def test_large_bodies_are_refused(world: EpochWorld) -> None:
    async with serving(make_service(world)) as run:
        big = b"x" * 5000
        declared = await run.http.post("/webhook/trigger", headers=auth(), content=big)
        assert declared.status_code == 413

        async def chunks():  # no content-length: the limit applies while reading
            for _ in range(5):
                yield b"y" * 1000

        streamed = await run.http.post("/webhook/trigger", headers=auth(), content=chunks())
        assert streamed.status_code == 413
        small = await run.http.post("/webhook/trigger", headers=auth(), content=b"{}")
        assert small.status_code == 202
    assert world.runs == 1


async def test_trigger_returns_the_epoch_id_and_409_while_it_runs(world: EpochWorld) -> None:
    world.land_delay = 0.3  # swap and burn each take 0.3 s
    service = make_service(world)
    async with serving(service) as run:
        first, second = await asyncio.gather(
            run.http.post("/webhook/trigger", headers=auth()),
            run.http.post("/webhook/trigger", headers=auth()),
        )
        codes = sorted([first.status_code, second.status_code])
        assert codes == [202, 409], (first.text, second.text)
        accepted = first if first.status_code == 202 else second
        busy = second if accepted is first else first
        epoch_id = accepted.json()["epochId"]
        assert epoch_id and busy.json()["epochId"] == epoch_id
        health = (await run.http.get("/health")).json()
        assert health["epochRunning"] is True and health["currentEpoch"] == epoch_id
        for _ in range(100):
            if not service.running:
                break
            await asyncio.sleep(0.05)
        assert world.store is not None
        stored = world.store.epoch(epoch_id)
        assert stored is not None and stored.status is EpochStatus.SUCCEEDED
        assert world.runs == 1 and world.ledger.swaps == 1
        # Once it is over, the next trigger runs the next epoch.
        again = await run.http.post("/webhook/trigger", headers=auth())
        assert again.status_code == 202 and again.json()["epochId"] != epoch_id


async def test_an_open_breaker_refuses_triggers_until_reset(world: EpochWorld) -> None:
    service = make_service(world, threshold=1)
    service.breaker.record_failure()
    async with serving(service) as run:
        refused = await run.http.post("/webhook/trigger", headers=auth())
        assert refused.status_code == 503
        assert refused.json()["circuitBreaker"] == "open"
        assert refused.json()["retryAt"].endswith("Z")
        assert int(refused.headers["retry-after"]) > 3000
        assert world.runs == 0
        reset = await run.http.post("/webhook/reset-circuit-breaker", headers=auth())
        assert reset.json() == {"circuitBreaker": "closed", "previous": "open"}
        assert service.breaker.state is BreakerState.CLOSED
        accepted = await run.http.post("/webhook/trigger", headers=auth())
        assert accepted.status_code == 202


async def test_other_methods_and_paths(world: EpochWorld) -> None:
    async with serving(make_service(world)) as run:
        assert (await run.http.get("/webhook/trigger")).status_code == 405
        assert (await run.http.get("/nothing-here")).status_code == 404
