"""Variables of the buyback, fee detection and the ads campaign spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.config.settings import Settings
from flywheel.domain.ads import Targeting
from flywheel.domain.trade import Destination
from tests.config.test_config import problems_of, the_problem, write_keypair


@pytest.fixture
def required(tmp_path: Path) -> dict[str, str]:
    return {
        "EXECUTOR_KEYPAIR_PATH": str(write_keypair(tmp_path / "executor.json", Keypair())),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        "TOKEN_MINT": str(Keypair().pubkey()),
    }


def test_defaults_are_safe(required):
    settings = Settings.from_mapping(required)
    assert settings.destination is Destination.BURN
    assert settings.treasury_pubkey is None
    assert settings.max_single_fee_lamports is None
    assert settings.max_fees_per_epoch_lamports is None
    assert settings.fee_start == "now"
    assert settings.ads_targeting == Targeting()
    assert settings.ads_post_id is None


def test_destination_accepts_burn_hold_or_a_treasury(required):
    treasury = str(Keypair().pubkey())
    assert Settings.from_mapping({**required, "BUYBACK_DESTINATION": "HOLD"}).destination is (
        Destination.HOLD
    )
    settings = Settings.from_mapping({**required, "BUYBACK_DESTINATION": treasury})
    assert settings.destination is Destination.TREASURY
    assert str(settings.treasury_pubkey) == treasury
    problem = the_problem({**required, "BUYBACK_DESTINATION": "incinerate"}, "BUYBACK_DESTINATION")
    assert "burn, hold" in problem


def test_anomaly_limits_are_exact_lamports(required):
    settings = Settings.from_mapping(
        {**required, "MAX_SINGLE_FEE_SOL": "2.5", "MAX_FEES_PER_EPOCH_SOL": "0.000000001"}
    )
    assert settings.max_single_fee_lamports == 2_500_000_000
    assert settings.max_fees_per_epoch_lamports == 1
    assert "MAX_SINGLE_FEE_SOL" in the_problem(
        {**required, "MAX_SINGLE_FEE_SOL": "-1"}, "MAX_SINGLE_FEE_SOL"
    )


def test_targeting_is_validated_json(required):
    settings = Settings.from_mapping(
        {**required, "ADS_TARGETING": '{"locations": ["US"], "keywords": ["solana"]}'}
    )
    assert settings.ads_targeting.locations == ["US"]
    assert "not valid JSON" in the_problem({**required, "ADS_TARGETING": "{"}, "ADS_TARGETING")
    assert "bad entry at colors" in the_problem(
        {**required, "ADS_TARGETING": '{"colors": ["red"]}'}, "ADS_TARGETING"
    )


def test_post_id_objective_and_fee_start(required):
    problems = problems_of(
        {
            **required,
            "ADS_POST_ID": "x.com/a/status/1",
            "ADS_OBJECTIVE": "FAME",
            "FEE_START": "never",
        }
    )
    assert [p.split(":")[0] for p in problems] == ["FEE_START", "ADS_POST_ID", "ADS_OBJECTIVE"]
    settings = Settings.from_mapping(
        {**required, "ADS_POST_ID": "1234567890", "ADS_OBJECTIVE": "reach", "FEE_START": "ALL"}
    )
    assert (settings.ads_post_id, settings.ads_objective, settings.fee_start) == (
        "1234567890",
        "REACH",
        "all",
    )
