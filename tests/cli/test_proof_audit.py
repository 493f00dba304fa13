"""`flywheel proof` and `flywheel audit` against the sandbox's chain.

After live epochs, the audit passes and the supply dropped by exactly the burns; any figure
edited by hand in a report, a report copied under a second name, or a wrong supply baseline
fails it with the report named. The proof's totals are the reports' own, and its page loads
nothing from anywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import ChainView, describe, epoch_reports, flywheel_env, run_cli
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def ran(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], int]:
    """Three live epochs (the last one idle); returns the directory, env and supply before."""
    directory = tmp_path_factory.mktemp("flywheel")
    env = flywheel_env(box, directory)
    supply_before = ChainView(box).supply()
    for trades in (3, 4, 0):
        box.traders.step(trades)
        result = run_cli(["epoch"], directory)
        assert result.returncode == 0, describe(result)
    return directory, env, supply_before


def copy_of(env: dict[str, str], target: Path, **overrides: str) -> Path:
    """A second configuration on a copy of the reports, for editing them by hand."""
    reports = target / "reports"
    shutil.copytree(env["REPORTS_DIR"], reports, ignore=shutil.ignore_patterns("simulate"))
    values = {**env, "REPORTS_DIR": str(reports), **overrides}
    (target / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return reports


def buying_report(reports: Path) -> Path:
    for path in sorted(reports.glob("epoch-*.json")):
        if json.loads(path.read_text())["execution"]["buyback"]["tokens_bought"] > 0:
            return path
    raise AssertionError("no report bought anything")


def test_the_audit_passes_and_the_supply_dropped_by_the_burns(
    box: Sandbox, ran: tuple[Path, dict[str, str], int]
) -> None:
    directory, env, supply_before = ran
    burned = sum(
        r["execution"]["buyback"]["settlement"]["tokens"]
        for r in epoch_reports(env)
        if r["execution"]["buyback"]["settlement"]
    )
    assert burned > 0 and supply_before - ChainView(box).supply() == burned
    result = run_cli(["audit", "--supply-before", str(supply_before)], directory)
    assert result.returncode == 0, describe(result)
    assert "audit passed: 3 report(s), 4 transaction(s)" in result.stdout
    assert f"{burned} tokens burned" in result.stdout


def test_the_proof_totals_are_the_reports_and_the_page_loads_nothing(
    ran: tuple[Path, dict[str, str], int], tmp_path: Path
) -> None:
    directory, env, _ = ran
    site = tmp_path / "site"
    result = run_cli(["proof", "--out", str(site)], directory)
    assert result.returncode == 0, describe(result)
    proof = json.loads((site / "proof.json").read_text())
    buybacks = [r["execution"]["buyback"] for r in epoch_reports(env)]
    totals = proof["totals"]
    assert totals["spent_lamports"] == sum(b["spent_lamports"] for b in buybacks)
    assert totals["tokens_bought"] == sum(b["tokens_bought"] for b in buybacks)
    assert totals["tokens_burned"] == sum(
        b["settlement"]["tokens"] for b in buybacks if b["settlement"]
    )
    assert totals["epochs"] == 2  # the idle epoch bought nothing: not a claim
    signatures = {t["signature"] for b in buybacks for t in b["transactions"]}
    assert {t["signature"] for e in proof["epochs"] for t in e["transactions"]} == signatures
    page = (site / "index.html").read_text()
    assert str(totals["tokens_burned"]) in page and all(s[:8] in page for s in signatures)
    # Opens offline: no script, stylesheet, image or font is fetched from anywhere.
    assert not re.search(r"<script|<link|<img|@import|url\(|\ssrc=", page)
    assert "cluster=custom" in page  # the sandbox's RPC is loopback: a custom cluster


def _edit_settlement(report: dict[str, Any]) -> None:
    report["execution"]["buyback"]["settlement"]["tokens"] += 1


def _edit_swap_delta(report: dict[str, Any]) -> None:
    report["execution"]["buyback"]["transactions"][0]["token_delta"] += 5


def _edit_bought(report: dict[str, Any]) -> None:
    report["execution"]["buyback"]["tokens_bought"] -= 1


def _edit_spent(report: dict[str, Any]) -> None:
    # Keeps the accounting identity, so only the chain can tell.
    report["execution"]["buyback"]["spent_lamports"] += 1_000_000_000
    report["accounting"]["buyback_spent_lamports"] += 1_000_000_000
    report["accounting"]["input_lamports"] += 1_000_000_000


def _edit_identity(report: dict[str, Any]) -> None:
    report["accounting"]["carried_out_lamports"] += 1


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_edit_settlement, "burn of"),
        (_edit_swap_delta, "token_delta is"),
        (_edit_bought, "tokens_bought is"),
        (_edit_spent, "spent_lamports is"),
        (_edit_identity, "accounting identity"),
    ],
)
def test_a_figure_edited_by_hand_fails_the_audit_naming_the_report(
    ran: tuple[Path, dict[str, str], int], tmp_path: Path, edit: Edit, expected: str
) -> None:
    _, env, _ = ran
    target = buying_report(copy_of(env, tmp_path))
    report = json.loads(target.read_text())
    edit(report)
    target.write_text(json.dumps(report, indent=2))
    result = run_cli(["audit"], tmp_path)
    assert result.returncode == 1, describe(result)
    output = result.stdout + result.stderr
    assert target.name in output and expected in output, describe(result)
    assert "Traceback" not in result.stderr


def test_a_report_copied_under_a_second_name_is_a_claim_made_twice(
    ran: tuple[Path, dict[str, str], int], tmp_path: Path
) -> None:
    _, env, _ = ran
    original = buying_report(copy_of(env, tmp_path))
    copy = original.with_name(original.name.replace(".json", "x.json"))
    shutil.copy(original, copy)
    result = run_cli(["audit"], tmp_path)
    assert result.returncode == 1, describe(result)
    assert "claimed twice" in result.stdout
    assert original.name in result.stdout and copy.name in result.stdout


def test_a_wrong_supply_baseline_fails_the_audit(
    ran: tuple[Path, dict[str, str], int],
) -> None:
    directory, _, supply_before = ran
    result = run_cli(["audit", "--supply-before", str(supply_before + 7)], directory)
    assert result.returncode == 1, describe(result)
    assert "all reports: the supply dropped by" in result.stdout


def test_the_audit_with_the_rpc_down_fails_with_a_message(
    ran: tuple[Path, dict[str, str], int], tmp_path: Path
) -> None:
    _, env, _ = ran
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    copy_of(env, tmp_path, SOLANA_RPC_URL=dead)
    result = run_cli(["audit"], tmp_path, timeout=300)
    assert result.returncode == 1, describe(result)
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_proof_refuses_an_out_path_that_is_a_file(
    ran: tuple[Path, dict[str, str], int], tmp_path: Path
) -> None:
    file = tmp_path / "taken"
    file.write_text("")
    result = run_cli(["proof", "--out", str(file)], ran[0])
    assert result.returncode == 2 and "not a directory" in result.stderr
