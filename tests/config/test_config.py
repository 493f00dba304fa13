"""Settings: each validator, loading from .env and the environment, redaction, .env.example."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.config.parsers import (
    InvalidValue,
    parse_bool,
    parse_choice,
    parse_decimal,
    parse_http_url,
    parse_int,
    parse_path,
    parse_pubkey,
)
from flywheel.config.secrets import redact_url
from flywheel.config.settings import Settings, resolve_env_file
from flywheel.domain.money import decimal_places, to_base_units
from flywheel.errors import ConfigError, KeypairFileError
from flywheel.solana.keypair import read_keypair_file

REPO = Path(__file__).resolve().parents[2]
VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The developer's shell must not leak into what is being tested.
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)


def write_keypair(path: Path, keypair: Keypair, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(list(bytes(keypair))))
    path.chmod(mode)
    return path


@pytest.fixture
def executor() -> Keypair:
    return Keypair()


@pytest.fixture
def required(tmp_path: Path, executor: Keypair) -> dict[str, str]:
    return {
        "EXECUTOR_KEYPAIR_PATH": str(write_keypair(tmp_path / "executor.json", executor)),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        "TOKEN_MINT": str(Keypair().pubkey()),
    }


def problems_of(values: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(values)
    return caught.value.problems


def the_problem(values: dict[str, str], variable: str) -> str:
    found = [p for p in problems_of(values) if p.startswith(f"{variable}:")]
    assert len(found) == 1, found
    return found[0]


# --- validators ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("10000", 10_000), (" 300 ", 300)])
def test_bps_in_range_are_accepted(text: str, expected: int) -> None:
    assert parse_int(text, low=0, high=10_000) == expected


@pytest.mark.parametrize("text", ["-1", "10001", "1e3", "7.5", "0x10", "", "3 00", "٣"])
def test_bps_out_of_range_or_not_whole_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="from 0 to 10000"):
        parse_int(text, low=0, high=10_000)


def test_bps_problem_names_the_variable_the_value_and_the_range(required: dict[str, str]) -> None:
    line = the_problem({**required, "MAX_PRICE_IMPACT_BPS": "10001"}, "MAX_PRICE_IMPACT_BPS")
    assert line == (
        "MAX_PRICE_IMPACT_BPS: is out of range (got '10001'); use a whole number from 0 to 10000"
    )


def test_slippage_has_a_sane_ceiling(required: dict[str, str]) -> None:
    line = the_problem({**required, "MAX_SLIPPAGE_BPS": "2001"}, "MAX_SLIPPAGE_BPS")
    assert line == (
        "MAX_SLIPPAGE_BPS: is out of range (got '2001'); use a whole number from 0 to 2000"
    )


def test_booleans_as_typed_are_not_numbers() -> None:
    with pytest.raises(InvalidValue):
        parse_int(True, low=0, high=100)
    assert parse_int(42, low=0, high=100) == 42


@pytest.mark.parametrize(
    "url",
    ["https://api.mainnet-beta.solana.com", "http://127.0.0.1:8899", "HTTPS://rpc.x.io/?k=v"],
)
def test_http_urls_are_accepted_as_given(url: str) -> None:
    assert parse_http_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url", ["ftp://host", "api.jup.ag", "https://", "https://host:99999", "http://ho st", "ws://h"]
)
def test_urls_that_are_not_http_are_refused(url: str) -> None:
    with pytest.raises(InvalidValue):
        parse_http_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.jup.ag", "https://api.jup.ag"),
        ("https://api.jup.ag/", "https://api.jup.ag"),
        ("https://mainnet.helius-rpc.com/?api-key=SEKRET", "https://mainnet.helius-rpc.com/***"),
        ("https://x.quiknode.pro/SEKRET/", "https://x.quiknode.pro/***"),
        ("https://user:SEKRET@rpc.example:8443", "https://rpc.example:8443/***"),
        ("not a url SEKRET", "***"),
    ],
)
def test_urls_are_shown_without_what_may_be_a_key(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_bad_url_problem_does_not_echo_its_api_key(required: dict[str, str]) -> None:
    line = the_problem(
        {**required, "SOLANA_RPC_URL": "ftp://rpc.x/?api-key=SEKRET"}, "SOLANA_RPC_URL"
    )
    assert "SEKRET" not in line
    assert "must start with http:// or https://" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True)],
        *[("false", False), ("False", False), ("0", False), ("no", False), (" NO ", False)],
    ],
)
def test_booleans(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["maybe", "on", "2", "", "truee", "y"])
def test_anything_else_is_not_a_boolean(text: str) -> None:
    with pytest.raises(InvalidValue, match="not a boolean"):
        parse_bool(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[("0.05", Decimal("0.05")), ("0", Decimal(0)), ("1.000000001", Decimal("1.000000001"))],
        *[("0.0500000000", Decimal("0.05")), (".5", Decimal("0.5")), ("12.", Decimal(12))],
    ],
)
def test_sol_decimals_are_exact(text: str, expected: Decimal) -> None:
    assert parse_decimal(text, places=9, positive=False, unit="SOL") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0.0000000001", "more than 9 decimals"),
        ("-0.1", "0 or more"),
        ("1e3", "not a decimal"),
        ("NaN", "not a decimal"),
        ("Infinity", "not a decimal"),
        ("1,5", "not a decimal"),
        (0.1, "float"),
    ],
)
def test_sol_decimals_refused(value: object, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        parse_decimal(value, places=9, positive=False, unit="SOL")


def test_usd_budget_must_be_positive_with_at_most_six_decimals() -> None:
    assert parse_decimal("0.000001", places=6, positive=True, unit="USD") == Decimal("0.000001")
    with pytest.raises(InvalidValue, match="greater than 0"):
        parse_decimal("0", places=6, positive=True, unit="USD")
    with pytest.raises(InvalidValue, match="more than 6 decimals"):
        parse_decimal("1.0000001", places=6, positive=True, unit="USD")


def test_base_units_are_exact_beyond_the_decimal_context_precision() -> None:
    huge = Decimal("123456789012345678901234567890.123456789")
    assert to_base_units(huge, 9) == 123456789012345678901234567890123456789
    assert to_base_units(Decimal("0.0500000000"), 9) == 50_000_000
    assert to_base_units(Decimal("-1.5"), 6) == -1_500_000
    assert to_base_units(Decimal("0E-12"), 9) == 0
    assert decimal_places(Decimal("1.2300")) == 2
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_base_units(Decimal("0.0000001"), 6)


@given(units=st.integers(min_value=-(10**40), max_value=10**40), places=st.integers(0, 12))
def test_base_units_round_trip_any_amount(units: int, places: int) -> None:
    amount = Decimal(f"{units}E-{places}")
    assert decimal_places(amount) <= places
    assert to_base_units(amount, places) == units


def test_pubkeys() -> None:
    key = Keypair().pubkey()
    assert parse_pubkey(f" {key} ") == key
    assert parse_pubkey("11111111111111111111111111111111") == Pubkey.default()
    assert parse_pubkey(key) is key


@pytest.mark.parametrize(
    "text",
    ["abc", "1111111111111111111111111111111", "0OIl" * 11, "", "x" * 100, "4" * 45],
)
def test_invalid_pubkeys_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="base58 32-byte public key"):
        parse_pubkey(text)


def test_choices_ignore_case_and_return_the_canonical_spelling() -> None:
    assert parse_choice("DRY-RUN", choices=("dry-run", "manual", "api")) == "dry-run"
    assert parse_choice("warning", choices=("DEBUG", "INFO", "WARNING", "ERROR")) == "WARNING"
    with pytest.raises(InvalidValue, match="use one of: dry-run, manual, api"):
        parse_choice("live", choices=("dry-run", "manual", "api"))


def test_paths_expand_the_home_directory() -> None:
    assert parse_path("~/data/x.sqlite") == Path.home() / "data/x.sqlite"
    with pytest.raises(InvalidValue):
        parse_path("   ")


# --- the keypair file ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o610])
def test_a_keypair_readable_by_others_is_refused_with_the_chmod_fix(
    tmp_path: Path, mode: int
) -> None:
    path = write_keypair(tmp_path / "key.json", Keypair(), mode)
    with pytest.raises(KeypairFileError) as caught:
        read_keypair_file(path)
    assert f"mode {mode:04o}" in caught.value.what
    assert f"chmod 600 {path}" in caught.value.fix


def test_the_chmod_fix_is_quoted_for_a_path_with_spaces(tmp_path: Path) -> None:
    path = write_keypair(tmp_path / "my key.json", Keypair(), 0o644)
    with pytest.raises(KeypairFileError) as caught:
        read_keypair_file(path)
    assert f"chmod 600 '{path}'" in caught.value.fix


def test_a_private_keypair_reads_back_to_the_same_key(tmp_path: Path) -> None:
    keypair = Keypair()
    assert read_keypair_file(write_keypair(tmp_path / "k.json", keypair, 0o400)) == keypair


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json SEKRET", "not valid JSON"),
        ('[1, 2, "SEKRET"]', "not a JSON array of 64"),
        (json.dumps([7] * 63), "not a JSON array of 64"),
        (json.dumps([256] + [7] * 63), "not a JSON array of 64"),
        (json.dumps({"secret": "SEKRET"}), "not a JSON array of 64"),
    ],
)
def test_malformed_keypair_files_are_described_never_quoted(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "k.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeypairFileError) as caught:
        read_keypair_file(path)
    assert reason in str(caught.value)
    assert "SEKRET" not in str(caught.value)
    assert "256" not in str(caught.value)


def test_a_keypair_whose_public_half_does_not_match_is_refused(tmp_path: Path) -> None:
    numbers = list(bytes(Keypair()))
    numbers[40] ^= 1
    path = tmp_path / "k.json"
    path.write_text(json.dumps(numbers))
    path.chmod(0o600)
    with pytest.raises(KeypairFileError, match="public half does not match"):
        read_keypair_file(path)


def test_a_directory_or_a_missing_file_is_not_a_keypair(tmp_path: Path) -> None:
    with pytest.raises(KeypairFileError, match="not a regular file"):
        read_keypair_file(tmp_path)
    with pytest.raises(KeypairFileError, match="does not exist"):
        read_keypair_file(tmp_path / "absent.json")


def test_an_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 10_000)
    path.chmod(0o600)
    with pytest.raises(KeypairFileError, match="too large"):
        read_keypair_file(path)


# --- settings --------------------------------------------------------------------------------


def test_defaults(required: dict[str, str]) -> None:
    settings = Settings.from_mapping(required)
    assert settings.solana_rpc_url == "https://api.mainnet-beta.solana.com"
    assert settings.webhook_secret is None
    assert settings.jupiter_api_key is None
    assert (settings.buyback_percent, settings.ads_percent) == (70, 30)
    assert settings.ads_engine_mode == "dry-run"
    assert settings.max_slippage_bps == 300
    assert settings.max_budget_per_epoch_usd == Decimal(1000)
    assert settings.max_budget_per_epoch_micro_usd == 1_000_000_000
    assert settings.epoch_interval_seconds == 3600
    assert settings.enable_scheduler is True
    assert settings.min_sol_reserve_lamports == 50_000_000
    assert settings.state_db_path == Path("data/flywheel.sqlite")
    assert settings.simulate_state_db_path == Path("data/flywheel.simulate.sqlite")
    assert settings.reports_dir == Path("reports")
    assert settings.jupiter_api_url == "https://api.jup.ag"
    assert (settings.log_level, settings.log_format) == ("INFO", "console")


def test_every_value_can_be_set(required: dict[str, str], executor: Keypair) -> None:
    settings = Settings.from_mapping(
        {
            **required,
            "SOLANA_RPC_URL": "http://127.0.0.1:8899",
            "WEBHOOK_SECRET": "hook-secret",
            "BUYBACK_PERCENT": "60",
            "ADS_PERCENT": "40",
            "ADS_ENGINE_MODE": "manual",
            "MAX_SLIPPAGE_BPS": "500",
            "MAX_BUDGET_PER_EPOCH_USD": "12.345678",
            "EPOCH_INTERVAL_SECONDS": "1800",
            "ENABLE_SCHEDULER": "no",
            "MIN_SOL_RESERVE": "0.000000001",
            "STATE_DB_PATH": "/var/lib/flywheel/state.db",
            "REPORTS_DIR": "/var/lib/flywheel/reports",
            "JUPITER_API_URL": "http://127.0.0.1:9000",
            "JUPITER_API_KEY": "jup-key",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "json",
        }
    )
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "hook-secret"
    assert settings.max_budget_per_epoch_micro_usd == 12_345_678
    assert settings.min_sol_reserve_lamports == 1
    assert settings.enable_scheduler is False
    assert settings.simulate_state_db_path == Path("/var/lib/flywheel/state.simulate.db")
    assert settings.log_level == "DEBUG"
    assert settings.token_mint == Pubkey.from_string(required["TOKEN_MINT"])
    assert settings.load_executor_keypair() == executor
    assert settings.executor_pubkey() == executor.pubkey()


def test_missing_required_values_are_all_reported() -> None:
    problems = problems_of({})
    assert [p.split(":")[0] for p in problems] == [
        "EXECUTOR_KEYPAIR_PATH",
        "FEE_COLLECTOR_PUBKEY",
        "TOKEN_MINT",
    ]
    assert all("is required but not set" in p for p in problems)


def test_five_problems_at_once_each_on_its_own_line(required: dict[str, str]) -> None:
    problems = problems_of(
        {
            **required,
            "BUYBACK_PERCENT": "60",
            "ADS_PERCENT": "30",
            "TOKEN_MINT": "not-a-mint",
            "EXECUTOR_KEYPAIR_PATH": "/nonexistent/executor.json",
            "ENABLE_SCHEDULER": "maybe",
            "EPOCH_INTERVAL_SECONDS": "-60",
        }
    )
    assert len(problems) == 5
    assert all("\n" not in p for p in problems)
    heads = {p.split(":")[0] for p in problems}
    assert heads == {
        "BUYBACK_PERCENT, ADS_PERCENT",
        "TOKEN_MINT",
        "EXECUTOR_KEYPAIR_PATH",
        "ENABLE_SCHEDULER",
        "EPOCH_INTERVAL_SECONDS",
    }
    assert "must add up to 100 (got 60 + 30 = 90)" in " ".join(problems)


@pytest.mark.parametrize(("buyback", "ads"), [("100", "0"), ("0", "100"), ("55", "45")])
def test_percents_that_add_up_to_100_are_accepted(
    required: dict[str, str], buyback: str, ads: str
) -> None:
    settings = Settings.from_mapping({**required, "BUYBACK_PERCENT": buyback, "ADS_PERCENT": ads})
    assert settings.buyback_percent + settings.ads_percent == 100


def test_a_percent_out_of_range_is_reported_without_a_meaningless_sum(
    required: dict[str, str],
) -> None:
    problems = problems_of({**required, "BUYBACK_PERCENT": "170", "ADS_PERCENT": "30"})
    assert len(problems) == 1
    assert problems[0].startswith("BUYBACK_PERCENT: is out of range (got '170')")


def test_the_fee_collector_cannot_be_the_mint(required: dict[str, str]) -> None:
    problems = problems_of({**required, "TOKEN_MINT": required["FEE_COLLECTOR_PUBKEY"]})
    assert len(problems) == 1
    assert problems[0].startswith("FEE_COLLECTOR_PUBKEY, TOKEN_MINT: are the same address")


def test_direct_construction_checks_the_sum_too(required: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="must add up to 100"):
        Settings(
            executor_keypair_path=Path(required["EXECUTOR_KEYPAIR_PATH"]),
            fee_collector_pubkey=Pubkey.from_string(required["FEE_COLLECTOR_PUBKEY"]),
            token_mint=Pubkey.from_string(required["TOKEN_MINT"]),
            buyback_percent=50,
        )


def test_direct_construction_ignores_the_environment(
    required: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = Settings(
        executor_keypair_path=Path(required["EXECUTOR_KEYPAIR_PATH"]),
        fee_collector_pubkey=Pubkey.from_string(required["FEE_COLLECTOR_PUBKEY"]),
        token_mint=Pubkey.from_string(required["TOKEN_MINT"]),
    )
    assert settings.log_level == "INFO"
    assert settings.source_of("log_level") == "default"
    assert settings.source_of("token_mint") == "argument"


def test_a_keypair_readable_by_others_is_refused_by_settings(tmp_path: Path) -> None:
    path = write_keypair(tmp_path / "open.json", Keypair(), 0o644)
    line = the_problem(
        {
            "EXECUTOR_KEYPAIR_PATH": str(path),
            "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
            "TOKEN_MINT": str(Keypair().pubkey()),
        },
        "EXECUTOR_KEYPAIR_PATH",
    )
    assert line.endswith(f"chmod 600 {path}")


def test_a_keypair_changed_after_loading_is_refused_when_read(
    required: dict[str, str],
) -> None:
    settings = Settings.from_mapping(required)
    Path(required["EXECUTOR_KEYPAIR_PATH"]).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        settings.load_executor_keypair()


# --- loading from .env and the environment ---------------------------------------------------


def write_env(path: Path, values: dict[str, str], extra: str = "") -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()) + extra)
    return path


def test_load_reads_the_env_file_and_the_environment_wins(
    tmp_path: Path, required: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_env(
        tmp_path / ".env", {**required, "MAX_SLIPPAGE_BPS": "100", "LOG_LEVEL": "ERROR"}
    )
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = Settings.load(env_file)
    assert settings.max_slippage_bps == 100
    assert settings.log_level == "WARNING"
    assert settings.source_of("max_slippage_bps") == ".env"
    assert settings.source_of("log_level") == "environment"
    assert settings.source_of("log_format") == "default"


def test_load_without_a_file_uses_only_the_environment(
    required: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in required.items():
        monkeypatch.setenv(variable, value)
    settings = Settings.load(None)
    assert str(settings.token_mint) == required["TOKEN_MINT"]
    assert settings.source_of("token_mint") == "environment"


def test_empty_values_mean_unset_unknown_names_are_ignored_and_comments_allowed(
    tmp_path: Path, required: dict[str, str]
) -> None:
    extra = (
        "WEBHOOK_SECRET=\nBUYBACK_PERCENT=\nSOMETHING_ELSE=42\n"
        "# a comment line\nMAX_SLIPPAGE_BPS=500  # 5% (the runbook writes it so)\n"
    )
    settings = Settings.load(write_env(tmp_path / ".env", required, extra))
    assert settings.webhook_secret is None
    assert settings.buyback_percent == 70
    assert settings.max_slippage_bps == 500
    assert settings.source_of("webhook_secret") == "default"


def test_a_named_env_file_that_does_not_exist_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="env file: does not exist"):
        Settings.load(tmp_path / "absent.env")


def test_the_default_env_file_is_dot_env_when_present(tmp_path: Path) -> None:
    assert resolve_env_file(None) is None
    (tmp_path / ".env").write_text("")
    assert resolve_env_file(None) == Path(".env")
    assert resolve_env_file(tmp_path / "other") == tmp_path / "other"


# --- secrets ---------------------------------------------------------------------------------


def test_redacted_shows_no_secret(required: dict[str, str], executor: Keypair) -> None:
    settings = Settings.from_mapping(
        {
            **required,
            "WEBHOOK_SECRET": "hook-SEKRET",
            "SOLANA_RPC_URL": "https://rpc.example/?api-key=RPC-SEKRET",
        }
    )
    shown = settings.redacted()
    assert list(shown) == VARIABLES
    assert shown["WEBHOOK_SECRET"] == "***"
    assert shown["JUPITER_API_KEY"] == "(unset)"
    assert shown["SOLANA_RPC_URL"] == "https://rpc.example/***"
    assert shown["EXECUTOR_KEYPAIR_PATH"] == required["EXECUTOR_KEYPAIR_PATH"]
    everything = " ".join(shown.values()) + repr(settings) + str(settings)
    assert "SEKRET" not in everything
    assert json.dumps(list(bytes(executor))) not in everything
    assert str(executor) not in everything


# --- .env.example ----------------------------------------------------------------------------


EXAMPLE = REPO / ".env.example"


def test_env_example_names_exactly_the_settings() -> None:
    names = list(dotenv_values(EXAMPLE))
    assert sorted(names) == sorted(VARIABLES)
    assert len(names) == len(set(names))


def test_every_example_variable_has_a_comment_line_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[index - 1].startswith("# "), f"no comment above {line!r}"


def test_env_example_values_are_the_code_defaults() -> None:
    example = dotenv_values(EXAMPLE)
    for name, info in Settings.model_fields.items():
        text = example[name.upper()]
        if info.is_required():
            continue
        if not text:
            assert info.default is None, name
            continue
        parsed = Settings.from_mapping({name.upper(): text, **_valid_required_placeholders()})
        assert getattr(parsed, name) == info.default, name


def _valid_required_placeholders() -> dict[str, str]:
    path = Path("placeholder.json")
    if not path.exists():
        write_keypair(path, Keypair())
    return {
        "EXECUTOR_KEYPAIR_PATH": str(path),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        "TOKEN_MINT": str(Keypair().pubkey()),
    }


def test_a_copied_env_example_asks_exactly_for_the_required_values(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(EXAMPLE.read_text())
    with pytest.raises(ConfigError) as caught:
        Settings.load(env_file)
    heads = [p.split(":")[0] for p in caught.value.problems]
    assert heads == ["EXECUTOR_KEYPAIR_PATH", "FEE_COLLECTOR_PUBKEY", "TOKEN_MINT"]
