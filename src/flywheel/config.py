"""Settings: every variable, its default and its validation. Nothing else reads os.environ.

`Settings.load(env_file)` reads the environment and an optional `.env` file (the environment
wins) and either returns valid settings or raises ConfigError listing every problem at once, one
line each: `VARIABLE: what is wrong (got '<value>'); how to fix`.

Adding a variable is one field below (its type carries the validation, its description the
meaning) plus one line in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PlainValidator,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.errors import ConfigError
from flywheel.keypair_file import KeypairFileError, read_keypair_file, redact_url

Source = Literal["default", ".env", "environment", "argument"]
AdsEngineMode = Literal["dry-run", "manual", "api"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["console", "json"]

DEFAULT_ENV_FILE = Path(".env")
LAMPORTS_PER_SOL_DECIMALS = 9
MICRO_USD_DECIMALS = 6


class InvalidValue(ValueError):
    """A value a validator refuses: `what` is wrong with it, `fix` says how to put it right."""

    def __init__(self, what: str, fix: str) -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}; {fix}")


# --- validators: each takes the raw text (or an already-typed value) and returns the type ----


def parse_int(value: object, *, low: int, high: int | None = None) -> int:
    """A whole number in [low, high]; decimal digits only, so '1e3', '7.5' and '0x10' fail."""
    wanted = (
        f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
    )
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidValue("is not a whole number", f"use {wanted}")
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]+", value.strip()):
            raise InvalidValue("is not a whole number", f"use {wanted}")
        value = int(value.strip())
    if value < low or (high is not None and value > high):
        raise InvalidValue("is out of range", f"use {wanted}")
    return value


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_bool(value: object) -> bool:
    """true/false, 1/0, yes/no in any case; anything else ('maybe', 'on') is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise InvalidValue("is not a boolean", "use true or false (1/0 and yes/no also work)")


_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _significant(amount: Decimal) -> tuple[int, int, int]:
    """(sign, integer of the digits, exponent) with zeros after the point dropped, exactly."""
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # callers pass finite amounts only
    if not any(digits):
        return sign, 0, 0
    while len(digits) > 1 and digits[-1] == 0 and exponent < 0:
        digits, exponent = digits[:-1], exponent + 1
    return sign, int("".join(map(str, digits))), exponent


def decimal_places(amount: Decimal) -> int:
    """Digits after the point that matter: 0.0500 has 2."""
    return max(0, -_significant(amount)[2])


def to_base_units(amount: Decimal, places: int) -> int:
    """`amount * 10**places` as an exact int, in integer arithmetic (no context rounding)."""
    sign, magnitude, exponent = _significant(amount)
    if exponent + places < 0:
        raise ValueError(f"{amount} has more than {places} decimals")
    units = magnitude * int(10 ** (exponent + places))
    return -units if sign else units


def parse_decimal(value: object, *, places: int, positive: bool, unit: str) -> Decimal:
    """A plain decimal (no exponent, NaN or float) with at most `places` decimals, > 0 or >= 0."""
    bound = "greater than 0" if positive else "0 or more"
    wanted = f"a decimal number of {unit}, {bound}, with at most {places} decimals"
    if isinstance(value, bool | float):
        # A float has already lost the exact amount; money arrives as text or Decimal.
        raise InvalidValue("is a float, not an exact decimal", f"use {wanted}")
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            raise InvalidValue("is not a decimal number", f"use {wanted}")
        value = Decimal(value.strip())
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidValue("is not a decimal number", f"use {wanted}")
    if value < 0 or (positive and value == 0):
        raise InvalidValue(f"must be {bound}", f"use {wanted}")
    if decimal_places(value) > places:
        raise InvalidValue(f"has more than {places} decimals", f"use {wanted}")
    return value


def parse_http_url(value: object) -> str:
    """An absolute http:// or https:// URL with a host; returned as given, minus outer spaces."""
    fix = "use an http(s) URL such as https://host.example"
    if not isinstance(value, str):
        raise InvalidValue("is not a URL", fix)
    text = value.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError:
        raise InvalidValue("is not a valid URL", fix) from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidValue("must start with http:// or https://", fix)
    if not parts.hostname or any(c.isspace() for c in text):
        raise InvalidValue("is not a valid URL (no host, or spaces in it)", fix)
    return text


def parse_pubkey(value: object) -> Pubkey:
    """A base58 public key of 32 bytes."""
    if isinstance(value, Pubkey):
        return value
    fix = "use a base58 Solana address of 32 bytes (as printed by `solana address`)"
    if not isinstance(value, str):
        raise InvalidValue("is not a public key", fix)
    try:
        return Pubkey.from_string(value.strip())
    except ValueError:
        raise InvalidValue("is not a valid base58 32-byte public key", fix) from None


def parse_choice(value: object, *, choices: tuple[str, ...]) -> str:
    """One of `choices`, matched without regard to case and returned as spelled in `choices`."""
    if isinstance(value, str):
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
    raise InvalidValue("is not an allowed value", f"use one of: {', '.join(choices)}")


def parse_path(value: object) -> Path:
    """A filesystem path; `~` is expanded because a .env file is not read by a shell."""
    if isinstance(value, str) and value.strip() and "\0" not in value:
        value = Path(value.strip())
    if not isinstance(value, Path):
        raise InvalidValue("is not a path", "use a file or directory path")
    return value.expanduser()


def parse_keypair_path(value: object) -> Path:
    """A path to a private, well-formed solana-keygen keypair file (read here, not kept)."""
    path = parse_path(value)
    try:
        read_keypair_file(path)
    except KeypairFileError as exc:
        raise InvalidValue(exc.what, exc.fix) from None
    return path


# --- field types: the validator plus how the value may be shown -----------------------------


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
PubkeyValue = Annotated[Pubkey, _validated(parse_pubkey)]
Secret = Annotated[SecretStr | None, Shown(_hidden)]
Percent = Annotated[int, _validated(parse_int, low=0, high=100)]
Bps = Annotated[int, _validated(parse_int, low=0, high=10_000)]
PositiveInt = Annotated[int, _validated(parse_int, low=1)]
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


# --- the settings --------------------------------------------------------------------------


class Settings(BaseSettings):
    """Every variable of the flywheel. Build it with `Settings.load`; `Settings(**fields)` takes
    explicit values only (no environment), which keeps tests independent of the shell."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,  # `KEY=` in .env means "unset": the default applies
        hide_input_in_errors=True,
        validate_default=True,
    )

    # Solana and Jupiter
    solana_rpc_url: HttpUrl = Field(
        "https://api.mainnet-beta.solana.com", description="the Solana JSON-RPC endpoint"
    )
    executor_keypair_path: KeypairPath = Field(
        description="the executor's solana-keygen keypair file (mode 600); it signs and pays"
    )
    fee_collector_pubkey: PubkeyValue = Field(
        description="the wallet where the token's trading fees arrive (base58 address)"
    )
    token_mint: PubkeyValue = Field(description="the mint address of the token bought back")
    jupiter_api_url: HttpUrl = Field("https://api.jup.ag", description="the Jupiter API base URL")
    jupiter_api_key: Secret = Field(None, description="the Jupiter API key (keyless if unset)")
    # Strategy
    buyback_percent: Percent = Field(70, description="share of the spend that buys back (0-100)")
    ads_percent: Percent = Field(30, description="share of the spend that funds X ads (0-100)")
    ads_engine_mode: AdsMode = Field("dry-run", description="ads engine: dry-run, manual or api")
    # Risk
    max_slippage_bps: Bps = Field(300, description="largest slippage accepted, in bps (0-10000)")
    max_budget_per_epoch_usd: UsdAmount = Field(
        Decimal("1000"), description="most USD spent in one epoch (> 0, up to 6 decimals)"
    )
    min_sol_reserve: SolAmount = Field(
        Decimal("0.05"), description="SOL always kept in the executor for transaction fees"
    )
    # Scheduling
    epoch_interval_seconds: PositiveInt = Field(3600, description="seconds between epochs (> 0)")
    enable_scheduler: Flag = Field(True, description="run epochs on the interval (true/false)")
    # State
    state_db_path: FsPath = Field(
        Path("data/flywheel.sqlite"), description="the SQLite state database file"
    )
    reports_dir: FsPath = Field(Path("reports"), description="where JSON reports are written")
    # Webhook
    webhook_secret: Secret = Field(
        None, description="bearer token for the /webhook endpoints (disabled if unset)"
    )
    # Logging
    log_level: Level = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Format = Field("console", description="console (readable) or json (one per line)")

    _sources: dict[str, Source] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `load` reads the environment and .env itself, to know where each value came from
        # and to report every problem at once; construction takes only what it is given.
        return (init_settings,)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = _cross_field_problems({name: getattr(self, name) for name in _field_names()})
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def load(cls, env_file: Path | None) -> Settings:
        """Settings from the environment over `env_file` (if given) over the defaults."""
        raw: dict[str, tuple[object, Source]] = {}
        if env_file is not None:
            for name, value in _read_env_file(cls, env_file).items():
                raw[name] = (value, ".env")
        for name, value in EnvSettingsSource(cls)().items():
            if name in cls.model_fields:
                raw[name] = (value, "environment")
        settings = cls._from_raw({name: value for name, (value, _) in raw.items()})
        settings._sources = {name: source for name, (_, source) in raw.items()}
        return settings

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Settings from `{"VARIABLE": "text"}` as if it were the environment (tests, tools)."""
        raw = {k.lower(): v for k, v in values.items() if v != "" and k.lower() in cls.model_fields}
        return cls._from_raw(raw)

    @classmethod
    def _from_raw(cls, raw: Mapping[str, object]) -> Settings:
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            if name not in raw:
                if info.is_required():
                    problems.append(
                        f"{name.upper()}: is required but not set; set it in .env or the "
                        f"environment to {info.description}"
                    )
                else:
                    values[name] = info.get_default(call_default_factory=True)
                continue
            try:
                values[name] = _field_adapter(cls, name).validate_python(raw[name])
            except ValidationError as exc:
                problems.append(_problem_line(cls, name, raw[name], exc))
        # Checks across fields run on the fields that are valid, so they are reported together
        # with the field problems instead of after the operator fixes those.
        problems.extend(_cross_field_problems(values))
        if problems:
            raise ConfigError(problems)
        return cls.model_validate({name: values[name] for name in raw if name in values})

    # --- derived values ---

    @property
    def max_budget_per_epoch_micro_usd(self) -> int:
        return to_base_units(self.max_budget_per_epoch_usd, MICRO_USD_DECIMALS)

    @property
    def min_sol_reserve_lamports(self) -> int:
        return to_base_units(self.min_sol_reserve, LAMPORTS_PER_SOL_DECIMALS)

    @property
    def simulate_state_db_path(self) -> Path:
        """The state database of simulate mode, beside the live one: flywheel.simulate.sqlite."""
        path = self.state_db_path
        return path.with_name(f"{path.stem}.simulate{path.suffix}")

    def load_executor_keypair(self) -> Keypair:
        """Read the executor's keypair now; it is never kept in a field, so never in a repr."""
        try:
            return read_keypair_file(self.executor_keypair_path)
        except KeypairFileError as exc:
            path = str(self.executor_keypair_path)
            raise ConfigError([_format("EXECUTOR_KEYPAIR_PATH", exc.what, path, exc.fix)]) from None

    def executor_pubkey(self) -> Pubkey:
        return self.load_executor_keypair().pubkey()

    # --- display ---

    def source_of(self, name: str) -> Source:
        """Where a field's value came from: default, .env, environment, or argument."""
        if name in self._sources:
            return self._sources[name]
        return "argument" if name in self.model_fields_set else "default"

    def redacted(self) -> dict[str, str]:
        """`{"VARIABLE": shown value}` for display: secrets as '***' or '(unset)', URLs without
        their path or query; the keypair's path but never its contents."""
        return {
            name.upper(): _show(type(self), name, getattr(self, name)) for name in _field_names()
        }

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A repr ends up in logs: URLs (which may carry API keys) appear as `redacted()` shows them.
        for name, value in super().__repr_args__():
            if name is not None and name in _field_names() and _marker(type(self), name):
                value = _show(type(self), name, value)
            yield name, value


# --- helpers of Settings ---------------------------------------------------------------------


def _field_names() -> tuple[str, ...]:
    return tuple(Settings.model_fields)


def _cross_field_problems(values: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    buyback, ads = values.get("buyback_percent"), values.get("ads_percent")
    if isinstance(buyback, int) and isinstance(ads, int) and buyback + ads != 100:
        problems.append(
            f"BUYBACK_PERCENT, ADS_PERCENT: must add up to 100 (got {buyback} + {ads} = "
            f"{buyback + ads}); set ADS_PERCENT={max(0, 100 - buyback)} or change both"
        )
    mint, collector = values.get("token_mint"), values.get("fee_collector_pubkey")
    if isinstance(mint, Pubkey) and mint == collector:
        problems.append(
            f"FEE_COLLECTOR_PUBKEY, TOKEN_MINT: are the same address (got '{mint}'); the fee "
            "collector is a wallet and the mint is the token: check which one is wrong"
        )
    return problems


@functools.cache
def _field_adapter(model: type[BaseSettings], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def _marker(model: type[BaseSettings], name: str) -> Shown | None:
    markers = [m for m in model.model_fields[name].metadata if isinstance(m, Shown)]
    return markers[0] if markers else None


def _show(model: type[BaseSettings], name: str, value: object) -> str:
    if value is None:
        return "(unset)"
    marker = _marker(model, name)
    if marker is not None:
        return marker.show(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _format(variable: str, what: str, shown: str, fix: str) -> str:
    return f"{variable}: {what} (got '{shown}'); {fix}"


def _problem_line(model: type[BaseSettings], name: str, raw: object, exc: ValidationError) -> str:
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidValue):
        what, fix = cause.what, cause.fix
    else:
        what, fix = error["msg"][:1].lower() + error["msg"][1:], "see .env.example"
    return _format(name.upper(), what, _printable(_show(model, name, raw)), fix)


def _printable(text: str, limit: int = 80) -> str:
    # One problem, one line: control characters are escaped and long values cut.
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_env_file(model: type[BaseSettings], env_file: Path) -> dict[str, object]:
    if not env_file.is_file():
        raise ConfigError(
            [
                f"env file: does not exist or is not a file (got '{_printable(str(env_file))}'); "
                "create it from .env.example (cp .env.example .env) or pass another --env-file"
            ]
        )
    try:
        values = DotEnvSettingsSource(model, env_file=env_file)()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            [
                f"env file: cannot be read ({reason}) (got '{_printable(str(env_file))}'); "
                "make it readable by this user"
            ]
        ) from None
    return {name: value for name, value in values.items() if name in model.model_fields}


def resolve_env_file(explicit: Path | None) -> Path | None:
    """The env file to read: the one asked for, else ./.env when it exists, else none."""
    if explicit is not None:
        return explicit
    return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
