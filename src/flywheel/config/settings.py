"""Settings: every variable, its default and its validation. Only config/ reads os.environ.

`Settings.load(env_file)` reads the environment and an optional `.env` file (the environment
wins) and either returns valid settings or raises ConfigError listing every problem at once, one
line each: `VARIABLE: what is wrong (got '<value>'); how to fix`. The reading is in
config.loading, the rules across fields in config.checks, the keypair files in config.wallets.

Adding a variable is one field below (its type carries the validation, its description the
meaning) plus one line in `.env.example`; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.config import wallets
from flywheel.config.checks import API_MODE_NEEDS, api_mode_problems, cross_field_problems
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
    SliceCount,
    SlippageBps,
    SolAmount,
    SwapApi,
    TargetingValue,
    UsdAmount,
    WalletValue,
    marker,
    show,
)
from flywheel.config.loading import Source, raw_values, resolve_env_file, validated_values
from flywheel.domain.ads import Targeting
from flywheel.domain.money import sol_to_lamports, usd_to_micro
from flywheel.domain.trade import Destination

# Re-exported: callers import these with the settings (the parsers live in config.parsers).
__all__ = ["API_MODE_NEEDS", "Settings", "Source", "api_mode_problems", "resolve_env_file"]


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
    slippage_margin_bps: SlippageBps = Field(50, description="room below the quote (<= max)")
    buyback_slices: SliceCount = Field(1, description="slices a buyback is split into (1-100)")
    buyback_window_seconds: JitterSeconds = Field(0, description="the slices' window (< interval)")
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
        None,
        description="new fees counted in order up to this many SOL per epoch; the inflows"
        " beyond it (one that straddles it whole) are quarantined",
    )
    # Fees and buyback
    fee_start: FeeStartChoice = Field(
        "now", description="on first start count fees from now, or all of the history"
    )
    anchor_state: Flag = Field(
        True,
        description="a state memo in every transaction signed, checked at start (docs/state.md)",
    )
    fee_sources: FeeSourceNames = Field(
        ("wallet",), description="where fees come from: wallet, pump, token2022 (comma-separated)"
    )
    min_claim_sol: OptionalSol = Field(
        None,
        description="a claim (or a sale of token2022 ads tokens) worth less than this many SOL"
        " waits (unset: 10x its fee)",
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
        problems = cross_field_problems({name: getattr(self, name) for name in _field_names()})
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def load(cls, env_file: Path | None) -> Settings:
        """Settings from the environment over `env_file` (if given) over the defaults."""
        raw = raw_values(cls, env_file)
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
        return cls.model_validate(validated_values(cls, raw))

    # --- derived values ---

    @property
    def max_budget_per_epoch_micro_usd(self) -> int:
        return usd_to_micro(self.max_budget_per_epoch_usd)

    @property
    def swap_slippage_bps(self) -> int:
        """The room below a quote's outAmount we ask for and accept (docs/execution.md)."""
        return min(self.max_slippage_bps, self.slippage_margin_bps)

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
        return wallets.executor_keypair(self)

    def executor_pubkey(self) -> Pubkey:
        return self.load_executor_keypair().pubkey()

    def load_fee_collector_keypair(self) -> Keypair | None:
        """The separate fee collector's keypair, checked against FEE_COLLECTOR_PUBKEY."""
        return wallets.fee_collector_keypair(self)

    def fee_funding_mode(self) -> wallets.FeeFundingMode:
        """Where the buybacks' SOL comes from; ConfigError when nothing could pay them."""
        return wallets.fee_funding_mode(self)

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
