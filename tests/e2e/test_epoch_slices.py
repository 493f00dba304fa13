"""`flywheel epoch` with BUYBACK_SLICES=3 on the sandbox (v2: each slice buys and burns its
minimum in one transaction), and SIGKILLs inside its window.

Checked against the chain: exactly one executor swap per slice (never two for one slice, none
missing), each the slice's journaled signature; the supply down by exactly what the slices burnt
in their swaps; the executor holding exactly what the journal carries. A SIGKILL between slices
resumes the journaled schedule; one during a slice's send is reconciled by its signature.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    FLYWHEEL,
    ChainView,
    check_identity,
    clean_environment,
    describe,
    epochs_in,
    finished_epochs,
    flywheel_env,
    free_port,
    report_of,
    run_cli,
    run_crash_epoch,
    start_service,
    wait_for,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

SLICES = 3
TOKEN_ACCOUNT_RENT = 2_039_280  # lamports: a token account's rent-exempt minimum
SLICED = {
    "JUPITER_SWAP_API": "v2",
    "MIN_BUYBACK_SOL": "0",
    "BUYBACK_SLICES": str(SLICES),
    "BUYBACK_WINDOW_SECONDS": "2",
}
# (--at-slice-wait K, --after-send N): K=1 is before the first slice, K=3 after two of them
# (between slices); N=2 right after the second slice's sendTransaction returned (during a send).
CRASH_POINTS: list[tuple[int | None, int | None]] = [(1, None), (3, None), (None, 2), (None, 3)]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _check_on_chain(
    view: ChainView, bookmark: int, supply_before: int, tokens_before: int, epochs: list[EpochState]
) -> dict[str, Any]:
    assert all(e.status is EpochStatus.SUCCEEDED for e in epochs), [e.errors for e in epochs]
    [epoch] = [e for e in epochs if e.slices]
    buyback: dict[str, Any] = report_of(epoch)["execution"]["buyback"]
    slices = buyback["slices"]
    assert [s["status"] for s in slices] == ["done"] * SLICES
    txs = view.executor_txs(bookmark)
    assert [t.kind for t in txs] == ["swap"] * SLICES, [(t.kind, t.signature) for t in txs]
    assert all(t.ok for t in txs)
    # One landed swap per slice, each the slice's own: none bought twice, none lost.
    assert [t.signature for t in txs] == [s["signature"] for s in slices]
    assert [s["attempts"] for s in slices] == [1] * SLICES
    # Each slice's SOL, on chain: its swap took its lamports_in beyond the fee (and the rent of
    # the executor's token account, when a swap creates it); the journal saw the same change.
    journal = {t["signature"]: t["sol_delta"] for t in buyback["transactions"]}
    for tx, s in zip(txs, slices, strict=True):
        taken = -view.executor_delta(tx.record) - tx.record.fee
        assert taken - s["lamports_in"] in (0, TOKEN_ACCOUNT_RENT), (taken, s["lamports_in"])
        assert journal[tx.signature] == view.executor_delta(tx.record)
    assert buyback["spent_lamports"] == sum(s["lamports_in"] for s in slices)
    assert buyback["tokens_bought"] == sum(s["tokens_out"] for s in slices)
    assert sum(s["lamports_in"] for s in slices) == epoch.buyback_planned_lamports
    burnt = sum(s["settled_in_swap"] for s in slices)
    assert supply_before - view.supply() == burnt == buyback["settlement"]["tokens"]
    for s in slices:
        assert s["tokens_out"] >= s["minimum"] > 0 and s["settled_in_swap"] >= s["minimum"]
        assert s["realized_price_lamports_per_token"] is not None
    assert view.token_amount() == tokens_before + epochs[-1].tokens_carried_out
    check_identity(epochs)
    return buyback


def test_a_sliced_epoch_buys_each_slice_once_inside_its_window(
    box: Sandbox, tmp_path: Path
) -> None:
    view = ChainView(box)
    bookmark, supply, tokens = view.next_seq(), view.supply(), view.token_amount()
    assert box.traders.step(5), "the traders paid no fee"
    env = flywheel_env(box, tmp_path, **SLICED)
    started = time.monotonic()
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    assert time.monotonic() - started < 60
    assert f"{SLICES} in the window: {SLICES} done" in result.stdout, result.stdout
    buyback = _check_on_chain(view, bookmark, supply, tokens, finished_epochs(env))
    [epoch] = finished_epochs(env)
    assert epoch.finished_at is not None
    assert epoch.started_at <= epoch.slices[0].at <= epoch.slices[-1].at <= epoch.finished_at
    assert buyback["quote"] is None  # each slice has its own; the report lists them
    # `flywheel audit` checks the report against the chain: the burns are in the slices' swaps.
    audited = run_cli(["audit", "--supply-before", str(supply)], tmp_path)
    assert audited.returncode == 0, describe(audited)
    assert f"audit passed: 1 report(s), {SLICES} transaction(s)" in audited.stdout


@pytest.mark.parametrize(
    "point", CRASH_POINTS, ids=lambda p: f"slice-wait-{p[0]}" if p[0] else f"after-send-{p[1]}"
)
def test_sigkill_in_the_window_then_restart_buys_every_slice_exactly_once(
    box: Sandbox, tmp_path: Path, point: tuple[int | None, int | None]
) -> None:
    wait, send = point
    view = ChainView(box)
    bookmark, supply, tokens = view.next_seq(), view.supply(), view.token_amount()
    assert box.traders.step(5), "the traders paid no fee"
    env = flywheel_env(box, tmp_path, **SLICED)

    crashed = run_crash_epoch(tmp_path, at_slice_wait=wait, after_send=send)
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    [journaled] = epochs_in(env)
    assert journaled.status is EpochStatus.RUNNING and journaled.window_open
    schedule = [(s.at, s.planned_lamports) for s in journaled.slices]
    resumed = run_cli(["epoch"], tmp_path)
    assert resumed.returncode == 0, describe(resumed)

    epochs = finished_epochs(env)
    _check_on_chain(view, bookmark, supply, tokens, epochs)
    [epoch] = [e for e in epochs if e.slices]
    assert epoch.id == journaled.id
    assert [(s.at, s.planned_lamports) for s in epoch.slices] == schedule  # the same schedule


def test_flywheel_epoch_is_refused_while_another_is_in_its_window(
    box: Sandbox, tmp_path: Path
) -> None:
    assert box.traders.step(5), "the traders paid no fee"
    env = flywheel_env(box, tmp_path, **{**SLICED, "BUYBACK_WINDOW_SECONDS": "20"})
    first = subprocess.Popen(
        [str(FLYWHEEL), "epoch"],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):
            running = [e for e in epochs_in(env) if e.window_open]
            if running:
                break
            time.sleep(0.05)
        assert running, "the first epoch never opened its window"
        second = run_cli(["epoch"], tmp_path)
        assert second.returncode != 0, describe(second)
        assert "another epoch is running on this state" in second.stderr, describe(second)
        assert [e.id for e in epochs_in(env, EpochMode.LIVE)] == [running[0].id]
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    # The killed window resumes where it was, and finishes.
    finished = run_cli(["epoch"], tmp_path)
    assert finished.returncode == 0, describe(finished)
    [epoch] = finished_epochs(env)
    assert epoch.id == running[0].id and epoch.status is EpochStatus.SUCCEEDED


def test_simulate_shows_the_slices_without_waiting_out_the_window(
    box: Sandbox, tmp_path: Path
) -> None:
    view = ChainView(box)
    bookmark = view.next_seq()
    assert box.traders.step(5), "the traders paid no fee"
    env = flywheel_env(box, tmp_path, **{**SLICED, "BUYBACK_WINDOW_SECONDS": "600"})
    started = time.monotonic()
    result = run_cli(["simulate"], tmp_path)
    assert result.returncode == 0, describe(result)
    assert time.monotonic() - started < 60  # not the 600 s window
    [rehearsal] = epochs_in(env, EpochMode.SIMULATE)
    assert [s.status.value for s in rehearsal.slices] == ["done"] * SLICES
    assert f"{SLICES} in the window: {SLICES} done" in result.stdout
    assert view.executor_txs(bookmark) == []  # nothing was sent


def test_sigterm_to_flywheel_run_in_its_window_exits_at_once_and_the_window_resumes(
    box: Sandbox, tmp_path: Path
) -> None:
    """The service's SIGTERM path does not wait out the window (40 s) nor the grace (60 s): the
    epoch is left between slices, journaled, and the next run buys the remaining slices."""
    view = ChainView(box)
    bookmark, supply, tokens = view.next_seq(), view.supply(), view.token_amount()
    assert box.traders.step(5), "the traders paid no fee"
    port = free_port()
    env = flywheel_env(
        box,
        tmp_path,
        **{**SLICED, "BUYBACK_WINDOW_SECONDS": "40"},
        HTTP_PORT=str(port),
        METRICS_PORT=str(free_port()),
        ENABLE_SCHEDULER="true",
        EPOCH_INTERVAL_SECONDS="3600",
    )
    headers = {"Authorization": f"Bearer {env['WEBHOOK_SECRET']}"}
    service, log_path = start_service(tmp_path)
    try:
        shown: dict[str, Any] = {}

        def window_shown() -> bool:
            body = httpx.get(f"http://127.0.0.1:{port}/health", headers=headers, timeout=5)
            shown.update(body.json())
            return body.json()["buybackWindow"] is not None

        wait_for(window_shown)
        window = shown["buybackWindow"]
        assert window["slicesTotal"] == SLICES and window["nextSliceAt"] is not None
        assert shown["status"] == "healthy" and shown["epochRunning"] is True
        stopping = time.monotonic()
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0, log_path.read_text()[-3000:]
        assert time.monotonic() - stopping < 15, "waited out the window or the grace"
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    [left] = epochs_in(env)
    assert left.status is EpochStatus.RUNNING and left.window_open and left.id == window["epoch"]

    resumed = run_crash_epoch(tmp_path, no_wait=True)  # the window's time passes at once
    assert resumed.returncode == 0, describe(resumed)
    _check_on_chain(view, bookmark, supply, tokens, finished_epochs(env))
