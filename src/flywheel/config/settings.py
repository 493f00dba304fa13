"""Settings: every variable, its default and its validation. Nothing else reads os.environ.

`Settings.load(env_file)` reads the environment and an optional `.env` file (the environment
wins) and either returns valid settings or raises ConfigError listing every problem at once, one
line each: `VARIABLE: what is wrong (got '<value>'); how to fix`.

Adding a variable is one field below (its type carries the validation, its description the
meaning) plus one line in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
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

from flywheel.config.fields import (
    LAMPORTS_PER_SOL_DECIMALS,
    MICRO_USD_DECIMALS,
    AccountId,
    AdsMode,
    Bps,
    DestinationValue,
    FeeSourceNames,
    FeeStartChoice,
    Flag,
    Format,
    FsPath,
    HttpUrl,
    KeypairPath,
    Level,
    NonNegativeInt,
    Objective,
    OptionalPubkey,
    OptionalSol,
    Percent,
    Port,
    PositiveInt,
    PostId,
    PubkeyValue,
    Secret,
    SolAmount,
    TargetingValue,
    UsdAmount,
    marker,
    printable,
    problem_line,
    problem_text,
    show,
)
from flywheel.config.parsers import (
    InvalidValue,
    decimal_places,
    parse_bool,
    parse_choice,
    parse_decimal,
    parse_destination,
    parse_http_url,
    parse_int,
    parse_keypair_path,
    parse_optional_sol,
    parse_path,
    parse_post_id,
    parse_pubkey,
    parse_targeting,
    to_base_units,
)
from flywheel.domain.ads import Targeting
from flywheel.domain.trade import Destination
from flywheel.errors import ConfigError
from flywheel.solana.keypair import KeypairFileError, read_keypair_file

__all__ = [  # the parsers are re-exported: tests and tools import them from here
    "InvalidValue",
    "Settings",
    "api_mode_problems",
    "decimal_places",
    "parse_bool",
    "parse_choice",
    "parse_decimal",
    "parse_destination",
    "parse_http_url",
    "parse_int",
    "parse_keypair_path",
    "parse_optional_sol",
    "parse_path",
    "parse_post_id",
    "parse_pubkey",
    "parse_targeting",
    "resolve_env_file",
    "to_base_units",
]

Source = Literal["default", ".env", "environment", "argument"]
DEFAULT_ENV_FILE = Path(".env")


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
    max_price_impact_bps: Bps = Field(
        300, description="largest price impact of one buyback, in bps; larger orders are split"
    )
    max_priority_fee_lamports: NonNegativeInt = Field(
        1_000_000, description="most lamports paid as priority fee on one swap"
    )
    max_single_fee_sol: OptionalSol = Field(
        None, description="a single inflow above this many SOL is quarantined (unset: no limit)"
    )
    max_fees_per_epoch_sol: OptionalSol = Field(
        None, description="an epoch whose new fees exceed this many SOL is quarantined"
    )
    # Fees and buyback
    fee_start: FeeStartChoice = Field(
        "now", description="on first start count fees from now, or all of the history"
    )
    fee_sources: FeeSourceNames = Field(
        ("wallet",), description="where fees come from: wallet, token2022 (comma-separated)"
    )
    min_claim_sol: OptionalSol = Field(
        None, description="a claim worth less than this many SOL waits (unset: 10x its fee)"
    )
    buyback_destination: DestinationValue = Field(
        "burn", description="what happens to bought tokens: burn, hold, or a treasury address"
    )
    # Ads campaign spec
    ads_duration_hours: PositiveInt = Field(24, description="how long each campaign runs (hours)")
    ads_targeting: TargetingValue = Field(
        Targeting(), description="JSON with locations, languages, interests and keywords"
    )
    ads_post_id: PostId = Field(None, description="the id of the X post the campaigns promote")
    ads_objective: Objective = Field("ENGAGEMENTS", description="the campaign objective")
    ads_min_budget_usd: UsdAmount = Field(
        Decimal("10"), description="smaller ads budgets accrue to later epochs (USD > 0)"
    )
    ads_treasury_pubkey: OptionalPubkey = Field(
        None, description="send each epoch's ads SOL here (unset: keep it in the executor)"
    )
    # X Ads API (ADS_ENGINE_MODE=api)
    x_ads_api_url: HttpUrl = Field("https://ads-api.x.com", description="the X Ads API base URL")
    x_ads_account_id: AccountId = Field(None, description="the X Ads account id")
    x_ads_consumer_key: Secret = Field(None, description="the X app's consumer (API) key")
    x_ads_consumer_secret: Secret = Field(None, description="the X app's consumer secret")
    x_ads_access_token: Secret = Field(None, description="access token of a user of the account")
    x_ads_access_token_secret: Secret = Field(None, description="that access token's secret")
    # Scheduling
    epoch_interval_seconds: PositiveInt = Field(3600, description="seconds between epochs (> 0)")
    enable_scheduler: Flag = Field(True, description="run epochs on the interval (true/false)")
    epoch_jitter_seconds: NonNegativeInt = Field(
        0, description="up to this many random seconds added to each interval (>= 0)"
    )
    # Service
    circuit_breaker_threshold: PositiveInt = Field(
        3, description="consecutive failed epochs that open the circuit breaker (>= 1)"
    )
    circuit_breaker_timeout_seconds: PositiveInt = Field(
        3600, description="seconds the breaker stays open before one trial epoch (>= 1)"
    )
    http_host: str = Field(
        "127.0.0.1", description="address of the health/webhook server (0.0.0.0 in Docker)"
    )
    http_port: Port = Field(3000, description="port of the health/webhook server (1-65535)")
    metrics_port: Port = Field(9090, description="port of the Prometheus /metrics server")
    notify_urls: Secret = Field(
        None, description="apprise URLs for alerts, comma or space separated (unset: none)"
    )
    min_executor_balance_sol: SolAmount = Field(
        Decimal("0.1"), description="alert when the executor holds fewer SOL than this"
    )
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
                problems.append(problem_line(cls, name, raw[name], exc))
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
    def destination(self) -> Destination:
        if self.buyback_destination in ("burn", "hold"):
            return Destination(self.buyback_destination)
        return Destination.TREASURY

    @property
    def treasury_pubkey(self) -> Pubkey | None:
        if self.destination is Destination.TREASURY:
            return Pubkey.from_string(self.buyback_destination)
        return None

    @property
    def min_executor_balance_lamports(self) -> int:
        return to_base_units(self.min_executor_balance_sol, LAMPORTS_PER_SOL_DECIMALS)

    @property
    def ads_min_budget_micro_usd(self) -> int:
        return to_base_units(self.ads_min_budget_usd, MICRO_USD_DECIMALS)

    @property
    def min_claim_lamports(self) -> int | None:
        sol = self.min_claim_sol
        return None if sol is None else to_base_units(sol, LAMPORTS_PER_SOL_DECIMALS)

    @property
    def max_single_fee_lamports(self) -> int | None:
        sol = self.max_single_fee_sol
        return None if sol is None else to_base_units(sol, LAMPORTS_PER_SOL_DECIMALS)

    @property
    def max_fees_per_epoch_lamports(self) -> int | None:
        sol = self.max_fees_per_epoch_sol
        return None if sol is None else to_base_units(sol, LAMPORTS_PER_SOL_DECIMALS)

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
            raise ConfigError(
                [problem_text("EXECUTOR_KEYPAIR_PATH", exc.what, path, exc.fix)]
            ) from None

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
            name.upper(): show(type(self), name, getattr(self, name)) for name in _field_names()
        }

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A repr ends up in logs: URLs (which may carry API keys) appear as `redacted()` shows them.
        for name, value in super().__repr_args__():
            if name is not None and name in _field_names() and marker(type(self), name):
                value = show(type(self), name, value)
            yield name, value


# --- helpers of Settings ---------------------------------------------------------------------


def _field_names() -> tuple[str, ...]:
    return tuple(Settings.model_fields)


API_MODE_NEEDS = (
    "x_ads_account_id",
    "x_ads_consumer_key",
    "x_ads_consumer_secret",
    "x_ads_access_token",
    "x_ads_access_token_secret",
    "ads_post_id",
)


def api_mode_problems(values: Mapping[str, Any]) -> list[str]:
    """What ADS_ENGINE_MODE=api lacks, as one problem line (none when it lacks nothing)."""
    missing = [name.upper() for name in API_MODE_NEEDS if values.get(name) is None]
    if not missing:
        return []
    return [
        f"ADS_ENGINE_MODE: api needs {', '.join(missing)} (got 'api' without them); set"
        " them (docs/ads.md says how to get them) or use ADS_ENGINE_MODE=manual"
    ]


def _cross_field_problems(values: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    buyback, ads = values.get("buyback_percent"), values.get("ads_percent")
    if isinstance(buyback, int) and isinstance(ads, int) and buyback + ads != 100:
        problems.append(
            f"BUYBACK_PERCENT, ADS_PERCENT: must add up to 100 (got {buyback} + {ads} = "
            f"{buyback + ads}); set ADS_PERCENT={max(0, 100 - buyback)} or change both"
        )
    if values.get("ads_engine_mode") == "api":
        problems.extend(api_mode_problems(values))
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


def _read_env_file(model: type[BaseSettings], env_file: Path) -> dict[str, object]:
    if not env_file.is_file():
        raise ConfigError(
            [
                f"env file: does not exist or is not a file (got '{printable(str(env_file))}'); "
                "create it from .env.example (cp .env.example .env) or pass another --env-file"
            ]
        )
    try:
        values = DotEnvSettingsSource(model, env_file=env_file)()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            [
                f"env file: cannot be read ({reason}) (got '{printable(str(env_file))}'); "
                "make it readable by this user"
            ]
        ) from None
    return {name: value for name, value in values.items() if name in model.model_fields}


def resolve_env_file(explicit: Path | None) -> Path | None:
    """The env file to read: the one asked for, else ./.env when it exists, else none."""
    if explicit is not None:
        return explicit
    return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
