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
    PlainValidator,
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
    AccountId,
    AdsMode,
    Bps,
    DeadlineSeconds,
    DestinationValue,
    Directory,
    FeeFundingChoice,
    FeeSourceNames,
    FeeStartChoice,
    FilePath,
    Flag,
    Format,
    Host,
    Hours,
    HttpUrl,
    IntervalSeconds,
    JitterSeconds,
    KeypairPath,
    Level,
    MintValue,
    NonNegativeInt,
    Objective,
    OptionalHttpUrl,
    OptionalKeypairPath,
    OptionalSol,
    OptionalWallet,
    Percent,
    Port,
    PositiveInt,
    PostId,
    Secret,
    SecretList,
    SolAmount,
    SwapApi,
    TargetingValue,
    UsdAmount,
    WalletValue,
    marker,
    printable,
    problem_line,
    problem_text,
    show,
)
from flywheel.config.parsers import (
    InvalidValue,
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
)
from flywheel.domain.ads import Targeting
from flywheel.domain.money import decimal_places, sol_to_lamports, to_base_units, usd_to_micro
from flywheel.domain.trade import Destination
from flywheel.errors import ConfigError, KeypairFileError
from flywheel.solana.keypair import read_keypair_file

__all__ = [  # the parsers (and money's exact conversions) are re-exported: tests import them here
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
# MAX_SLIPPAGE_BPS: the slippage room is the most a sandwich can take from a buyback; above 20%
# that is a misconfiguration, not a tolerance.
MAX_SLIPPAGE_CEILING_BPS = 2_000
JITO_MIN_TIP_LAMPORTS = 1_000  # a block engine ignores smaller tips
SlippageBps = Annotated[
    int, PlainValidator(functools.partial(parse_int, low=0, high=MAX_SLIPPAGE_CEILING_BPS))
]


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
    fee_collector_pubkey: WalletValue = Field(
        description="the wallet where the token's trading fees arrive (base58 address)"
    )
    token_mint: MintValue = Field(description="the mint address of the token bought back")
    fee_collector_keypair_path: OptionalKeypairPath = Field(
        None,
        description="the fee collector's keypair file (mode 600) when it is not the executor:"
        " each epoch collects its fees from there",
    )
    fee_funding: FeeFundingChoice = Field(
        "collect",
        description="collect: fees are moved from a separate collector (needs its keypair);"
        " executor: buybacks are paid from the executor's own SOL",
    )
    jupiter_api_url: HttpUrl = Field("https://api.jup.ag", description="the Jupiter API base URL")
    jupiter_api_key: Secret = Field(None, description="the Jupiter API key (keyless if unset)")
    jupiter_swap_api: SwapApi = Field(
        "v2", description="v2 (/swap/v2/build, composed by us) or v1 (the legacy Metis /swap)"
    )
    jito_block_engine_url: OptionalHttpUrl = Field(
        None, description="send swaps through this Jito block engine (v2 only; unset: the RPC)"
    )
    jito_tip_lamports: NonNegativeInt = Field(
        10_000, description="the tip each swap pays a Jito tip account (>= 1000) with Jito on"
    )
    # Strategy
    buyback_percent: Percent = Field(70, description="share of the spend that buys back (0-100)")
    ads_percent: Percent = Field(30, description="share of the spend that funds X ads (0-100)")
    ads_engine_mode: AdsMode = Field("dry-run", description="ads engine: dry-run, manual or api")
    # Risk
    max_slippage_bps: SlippageBps = Field(
        300, description="largest slippage accepted, in bps (0-2000: more invites sandwiches)"
    )
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
    min_buyback_sol: SolAmount = Field(
        Decimal("0.01"), description="smaller buyback shares (and treasury sends) carry (0: off)"
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
    anchor_state: Flag = Field(
        True,
        description="anchor each epoch's state in a memo on chain and check it at start",
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
    ads_duration_hours: Hours = Field(24, description="how long each campaign runs (hours)")
    ads_targeting: TargetingValue = Field(
        Targeting(), description="JSON with locations, languages, interests and keywords"
    )
    ads_post_id: PostId = Field(None, description="the id of the X post the campaigns promote")
    ads_objective: Objective = Field("ENGAGEMENTS", description="the campaign objective")
    ads_min_budget_usd: UsdAmount = Field(
        Decimal("10"), description="smaller ads budgets accrue to later epochs (USD > 0)"
    )
    ads_treasury_pubkey: OptionalWallet = Field(
        None, description="send each epoch's ads SOL here (unset: keep it in the executor)"
    )
    # X Ads API (ADS_ENGINE_MODE=api)
    x_ads_api_url: HttpUrl = Field("https://ads-api.x.com", description="the X Ads API base URL")
    x_ads_account_id: AccountId = Field(None, description="the X Ads account id")
    x_ads_consumer_key: Secret = Field(None, description="the X app's consumer (API) key")
    x_ads_consumer_secret: Secret = Field(None, description="the X app's consumer secret")
    x_ads_access_token: Secret = Field(None, description="access token of a user of the account")
    x_ads_access_token_secret: Secret = Field(None, description="that access token's secret")
    # Deadlines of calls to the outside: a server that hangs or trickles cannot hold an epoch
    rpc_timeout_seconds: DeadlineSeconds = Field(
        10, description="longest wait for each connect, write or read of a Solana RPC request"
    )
    rpc_call_deadline_seconds: DeadlineSeconds = Field(
        30, description="a Solana RPC call ends within this many seconds, its retries included"
    )
    api_timeout_seconds: DeadlineSeconds = Field(
        10, description="longest wait for each connect, write or read of a Jupiter or X Ads request"
    )
    api_call_deadline_seconds: DeadlineSeconds = Field(
        60,
        description="a Jupiter or X Ads call ends within this many seconds, its retries included "
        "(plus any rate-limit wait the API asks for)",
    )
    # Scheduling
    epoch_interval_seconds: IntervalSeconds = Field(
        3600, description="seconds between epochs (1-86400)"
    )
    enable_scheduler: Flag = Field(True, description="run epochs on the interval (true/false)")
    epoch_jitter_seconds: JitterSeconds = Field(
        0, description="up to this many random seconds added to each interval (0-86400)"
    )
    # Service
    circuit_breaker_threshold: PositiveInt = Field(
        3, description="consecutive failed epochs that open the circuit breaker (>= 1)"
    )
    circuit_breaker_timeout_seconds: IntervalSeconds = Field(
        3600, description="seconds the breaker stays open before one trial epoch (1-86400)"
    )
    http_host: Host = Field(
        "127.0.0.1", description="address of the health/webhook server (0.0.0.0 in Docker)"
    )
    http_port: Port = Field(3000, description="port of the health/webhook server (1-65535)")
    metrics_port: Port = Field(9090, description="port of the Prometheus /metrics server")
    notify_urls: SecretList = Field(
        None, description="apprise URLs for alerts, comma or space separated (unset: none)"
    )
    min_executor_balance_sol: SolAmount = Field(
        Decimal("0.1"), description="alert when the executor holds fewer SOL than this"
    )
    # State
    state_db_path: FilePath = Field(
        Path("data/flywheel.sqlite"), description="the SQLite state database file"
    )
    reports_dir: Directory = Field(Path("reports"), description="where JSON reports are written")
    # Webhook
    webhook_secret: Secret = Field(
        None, description="bearer token for the /webhook endpoints (disabled if unset)"
    )
    # Console (the web pages at / on HTTP_PORT) and the proof for holders
    explorer_url: HttpUrl = Field(
        "https://solscan.io", description="block explorer the console and proof link to"
    )
    console_public: Flag = Field(
        False, description="show the console's read-only pages without logging in (true/false)"
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
        return usd_to_micro(self.max_budget_per_epoch_usd)

    @property
    def min_buyback_lamports(self) -> int:
        return sol_to_lamports(self.min_buyback_sol)

    @property
    def min_sol_reserve_lamports(self) -> int:
        return sol_to_lamports(self.min_sol_reserve)

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
        return sol_to_lamports(self.min_executor_balance_sol)

    @property
    def ads_min_budget_micro_usd(self) -> int:
        return usd_to_micro(self.ads_min_budget_usd)

    @property
    def min_claim_lamports(self) -> int | None:
        sol = self.min_claim_sol
        return None if sol is None else sol_to_lamports(sol)

    @property
    def max_single_fee_lamports(self) -> int | None:
        sol = self.max_single_fee_sol
        return None if sol is None else sol_to_lamports(sol)

    @property
    def max_fees_per_epoch_lamports(self) -> int | None:
        sol = self.max_fees_per_epoch_sol
        return None if sol is None else sol_to_lamports(sol)

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

    def load_fee_collector_keypair(self) -> Keypair | None:
        """The separate fee collector's keypair, checked against FEE_COLLECTOR_PUBKEY."""
        path = self.fee_collector_keypair_path
        if path is None:
            return None
        try:
            keypair = read_keypair_file(path)
        except KeypairFileError as exc:
            raise ConfigError(
                [problem_text("FEE_COLLECTOR_KEYPAIR_PATH", exc.what, str(path), exc.fix)]
            ) from None
        if keypair.pubkey() != self.fee_collector_pubkey:
            raise ConfigError(
                [
                    f"FEE_COLLECTOR_KEYPAIR_PATH: {path} holds the key of {keypair.pubkey()},"
                    f" not of FEE_COLLECTOR_PUBKEY {self.fee_collector_pubkey}; point it at"
                    " the fee collector's own keypair file"
                ]
            )
        return keypair

    def fee_funding_mode(self) -> Literal["same-wallet", "collect", "executor"]:
        """Where the buybacks' SOL comes from; ConfigError when nothing could pay them.

        A separate collector holds the fees: without its key nothing moves them, so the
        buybacks would spend the executor's own SOL while the ledger counts the collector's.
        """
        if self.fee_collector_pubkey == self.executor_pubkey():
            return "same-wallet"
        if self.load_fee_collector_keypair() is not None:
            return "collect"
        if self.fee_funding == "executor":
            return "executor"
        raise ConfigError(
            [
                f"FEE_COLLECTOR_PUBKEY {self.fee_collector_pubkey} is not the executor, and"
                " without its key the fees stay there while the buybacks spend the executor's"
                " own SOL. Set FEE_COLLECTOR_KEYPAIR_PATH to the collector's keypair file (each"
                " epoch then collects exactly its fees), or FEE_FUNDING=executor to pay the"
                " buybacks from the executor's SOL on purpose (every report says so)"
            ]
        )

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
    if values.get("jito_block_engine_url") is not None:
        if values.get("jupiter_swap_api") == "v1":
            problems.append(
                "JITO_BLOCK_ENGINE_URL: needs JUPITER_SWAP_API=v2 (the tip goes in the "
                "transaction we compose; v1's transaction cannot carry it)"
            )
        tip = values.get("jito_tip_lamports")
        if isinstance(tip, int) and tip < JITO_MIN_TIP_LAMPORTS:
            problems.append(
                f"JITO_TIP_LAMPORTS: Jito's minimum tip is {JITO_MIN_TIP_LAMPORTS} lamports "
                f"(got {tip}); raise it or unset JITO_BLOCK_ENGINE_URL"
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
