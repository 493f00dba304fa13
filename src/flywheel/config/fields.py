"""The types of the settings' fields: each one's validator, and how its value may be shown.

A field's annotation carries its parser (from `config_values`) and, for secrets and URLs, how it
appears in output and error lines; the helpers below word one problem as one line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import PlainValidator, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode
from solders.pubkey import Pubkey

from flywheel.config.parsers import (
    InvalidValue,
    parse_account_id,
    parse_bool,
    parse_choice,
    parse_decimal,
    parse_destination,
    parse_fee_sources,
    parse_http_url,
    parse_int,
    parse_keypair_path,
    parse_optional_keypair_path,
    parse_optional_pubkey,
    parse_optional_sol,
    parse_optional_wallet,
    parse_path,
    parse_post_id,
    parse_pubkey,
    parse_secret,
    parse_secret_list,
    parse_targeting,
    parse_token_mint,
    parse_wallet,
)
from flywheel.config.places import parse_directory, parse_file_path, parse_host
from flywheel.config.secrets import redact_url
from flywheel.domain.ads import Targeting
from flywheel.domain.money import MICRO_USD_DECIMALS, SOL_DECIMALS

LAMPORTS_PER_SOL_DECIMALS = SOL_DECIMALS  # domain/money's, so validation and conversion agree
# SQLite's largest integer: every count and amount we store must fit.
MAX_STORED_INT = 2**63 - 1
SECONDS_PER_DAY = 86_400
HOURS_PER_YEAR = 8_760

AdsEngineMode = Literal["dry-run", "manual", "api"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["console", "json"]
SwapApiVersion = Literal["v2", "v1"]


@dataclass(frozen=True)
class Shown:
    """How a field's value (raw or parsed) appears in output and errors."""

    show: Callable[[object], str]


def _hidden(_: object) -> str:
    return "***"


def _validated(function: Callable[..., Any], **options: Any) -> PlainValidator:
    return PlainValidator(functools.partial(function, **options) if options else function)


HttpUrl = Annotated[str, _validated(parse_http_url), Shown(redact_url)]
KeypairPath = Annotated[Path, _validated(parse_keypair_path)]
OptionalKeypairPath = Annotated[Path | None, _validated(parse_optional_keypair_path)]
FeeFundingChoice = Annotated[
    Literal["collect", "executor"], _validated(parse_choice, choices=("collect", "executor"))
]
PubkeyValue = Annotated[Pubkey, _validated(parse_pubkey)]
Secret = Annotated[SecretStr | None, _validated(parse_secret), Shown(_hidden)]
SecretList = Annotated[SecretStr | None, _validated(parse_secret_list), Shown(_hidden)]
WalletValue = Annotated[Pubkey, _validated(parse_wallet)]
MintValue = Annotated[Pubkey, _validated(parse_token_mint)]
OptionalWallet = Annotated[Pubkey | None, _validated(parse_optional_wallet)]
Host = Annotated[str, _validated(parse_host)]
Directory = Annotated[Path, _validated(parse_directory)]
FilePath = Annotated[Path, _validated(parse_file_path)]
# Intervals and jitters within a day: a longer one is a typo, and breaks date arithmetic.
IntervalSeconds = Annotated[int, _validated(parse_int, low=1, high=SECONDS_PER_DAY)]
JitterSeconds = Annotated[int, _validated(parse_int, low=0, high=SECONDS_PER_DAY)]
Hours = Annotated[int, _validated(parse_int, low=1, high=HOURS_PER_YEAR)]
Percent = Annotated[int, _validated(parse_int, low=0, high=100)]
Bps = Annotated[int, _validated(parse_int, low=0, high=10_000)]
# MAX_SLIPPAGE_BPS: the slippage room is the most a sandwich can take from a buyback; above 20%
# that is a misconfiguration, not a tolerance.
MAX_SLIPPAGE_CEILING_BPS = 2_000
SlippageBps = Annotated[int, _validated(parse_int, low=0, high=MAX_SLIPPAGE_CEILING_BPS)]
# BUYBACK_SLICES: more than a hundred slices an epoch is a typo (each costs a transaction).
SliceCount = Annotated[int, _validated(parse_int, low=1, high=100)]
PositiveInt = Annotated[int, _validated(parse_int, low=1, high=MAX_STORED_INT)]
DeadlineSeconds = Annotated[int, _validated(parse_int, low=1, high=3_600)]
Flag = Annotated[bool, _validated(parse_bool)]
UsdAmount = Annotated[
    Decimal, _validated(parse_decimal, places=MICRO_USD_DECIMALS, positive=True, unit="USD")
]
SolAmount = Annotated[
    Decimal,
    _validated(parse_decimal, places=LAMPORTS_PER_SOL_DECIMALS, positive=False, unit="SOL"),
]
FsPath = Annotated[Path, _validated(parse_path)]
AdsMode = Annotated[AdsEngineMode, _validated(parse_choice, choices=("dry-run", "manual", "api"))]
Level = Annotated[LogLevel, _validated(parse_choice, choices=("DEBUG", "INFO", "WARNING", "ERROR"))]
Format = Annotated[LogFormat, _validated(parse_choice, choices=("console", "json"))]
SwapApi = Annotated[SwapApiVersion, _validated(parse_choice, choices=("v2", "v1"))]


def _optional_http_url(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_http_url(value)


OptionalHttpUrl = Annotated[str | None, _validated(_optional_http_url), Shown(redact_url)]
FeeStartChoice = Annotated[Literal["now", "all"], _validated(parse_choice, choices=("now", "all"))]
OptionalSol = Annotated[Decimal | None, _validated(parse_optional_sol)]
NonNegativeInt = Annotated[int, _validated(parse_int, low=0, high=MAX_STORED_INT)]
Port = Annotated[int, _validated(parse_int, low=1, high=65_535)]
DestinationValue = Annotated[str, _validated(parse_destination)]
# NoDecode: our parser reads the JSON, so a malformed value gets a one-line problem, not a trace.
TargetingValue = Annotated[Targeting, NoDecode, _validated(parse_targeting)]
PostId = Annotated[str | None, _validated(parse_post_id)]
FeeSourceNames = Annotated[tuple[str, ...], NoDecode, _validated(parse_fee_sources)]
OptionalPubkey = Annotated[Pubkey | None, _validated(parse_optional_pubkey)]
AccountId = Annotated[str | None, _validated(parse_account_id)]
AD_OBJECTIVES = (
    "ENGAGEMENTS",
    "REACH",
    "FOLLOWERS",
    "WEBSITE_CLICKS",
    "VIDEO_VIEWS",
    "APP_INSTALLS",
    "APP_ENGAGEMENTS",
)
Objective = Annotated[str, _validated(parse_choice, choices=AD_OBJECTIVES)]


# --- showing values and wording problems ---------------------------------------------------


def marker(model: type[BaseSettings], name: str) -> Shown | None:
    markers = [m for m in model.model_fields[name].metadata if isinstance(m, Shown)]
    return markers[0] if markers else None


def show(model: type[BaseSettings], name: str, value: object) -> str:
    if value is None:
        return "(unset)"
    shown = marker(model, name)
    if shown is not None:
        return shown.show(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def problem_text(variable: str, what: str, shown: str, fix: str) -> str:
    return f"{variable}: {what} (got '{shown}'); {fix}"


def problem_line(model: type[BaseSettings], name: str, raw: object, exc: ValidationError) -> str:
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidValue):
        what, fix = cause.what, cause.fix
    else:
        what, fix = error["msg"][:1].lower() + error["msg"][1:], "see .env.example"
    return problem_text(name.upper(), what, printable(show(model, name, raw)), fix)


def printable(text: str, limit: int = 80) -> str:
    # One problem, one line: control characters are escaped and long values cut.
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
