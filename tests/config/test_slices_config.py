"""BUYBACK_SLICES, BUYBACK_WINDOW_SECONDS and SLIPPAGE_MARGIN_BPS: their ranges, the window
shorter than the interval (exit 2 from `flywheel config check`), and our room as the least of
the margin and MAX_SLIPPAGE_BPS."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.adapters import epoch_policy
from flywheel.config.settings import Settings
from tests.config.test_config import problems_of, the_problem, write_keypair
from tests.config.test_config_check_cli import run_check, write_env


@pytest.fixture
def required(tmp_path: Path) -> dict[str, str]:
    return {
        "EXECUTOR_KEYPAIR_PATH": str(write_keypair(tmp_path / "executor.json", Keypair())),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        "TOKEN_MINT": str(Keypair().pubkey()),
    }


def test_defaults_are_one_slice_no_window_and_a_50_bps_room(required: dict[str, str]) -> None:
    settings = Settings.from_mapping(required)
    assert (settings.buyback_slices, settings.buyback_window_seconds) == (1, 0)
    assert settings.slippage_margin_bps == 50 and settings.swap_slippage_bps == 50
    policy = epoch_policy(settings)
    assert (policy.buyback_slices, policy.buyback_window_seconds) == (1, 0)
    assert policy.max_slippage_bps == 50  # the room the guard and the quote checks use


@pytest.mark.parametrize(
    ("margin", "maximum", "room"), [("50", "300", 50), ("500", "300", 300), ("0", "300", 0)]
)
def test_the_room_is_never_looser_than_max_slippage(
    required: dict[str, str], margin: str, maximum: str, room: int
) -> None:
    values = {**required, "SLIPPAGE_MARGIN_BPS": margin, "MAX_SLIPPAGE_BPS": maximum}
    assert Settings.from_mapping(values).swap_slippage_bps == room


@pytest.mark.parametrize(
    ("variable", "value", "detail"),
    [
        ("BUYBACK_SLICES", "0", "from 1 to 100"),
        ("BUYBACK_SLICES", "101", "from 1 to 100"),
        ("BUYBACK_SLICES", "two", "got 'two'"),
        ("BUYBACK_WINDOW_SECONDS", "-1", "from 0 to 86400"),
        ("SLIPPAGE_MARGIN_BPS", "2001", "from 0 to 2000"),
        ("SLIPPAGE_MARGIN_BPS", "0.5", "got '0.5'"),
    ],
)
def test_out_of_range_values_are_one_clear_problem(
    required: dict[str, str], variable: str, value: str, detail: str
) -> None:
    assert detail in the_problem({**required, variable: value}, variable)


def test_a_window_as_long_as_the_interval_is_refused(required: dict[str, str]) -> None:
    values = {**required, "BUYBACK_WINDOW_SECONDS": "600", "EPOCH_INTERVAL_SECONDS": "600"}
    [line] = problems_of(values)
    assert line.startswith("BUYBACK_WINDOW_SECONDS: must be shorter than EPOCH_INTERVAL_SECONDS")
    assert "got 600 >= 600" in line
    ok = {**values, "BUYBACK_WINDOW_SECONDS": "599"}
    assert Settings.from_mapping(ok).buyback_window_seconds == 599


def test_config_check_exits_2_naming_the_window(tmp_path: Path, required: dict[str, str]) -> None:
    write_env(
        tmp_path / ".env",
        {
            **required,
            "FEE_FUNDING": "executor",
            "BUYBACK_SLICES": "4",
            "BUYBACK_WINDOW_SECONDS": "3600",
        },
    )
    result = run_check(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "BUYBACK_WINDOW_SECONDS" in line and "EPOCH_INTERVAL_SECONDS" in line
