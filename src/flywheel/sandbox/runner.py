"""`Sandbox`: the chain, its JSON-RPC server, the Jupiter-compatible API, the X-Ads-compatible
API, the scenario and the traders, started together on 127.0.0.1 and stopped together.

Each server runs uvicorn on its own thread and event loop, so the sandbox serves the same way
whether the caller is a sync test, an async test or the `flywheel sandbox` command.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.jupiter.api import JupiterSandbox
from flywheel.sandbox.jupiter.dex import SandboxPool
from flywheel.sandbox.market.market import Market
from flywheel.sandbox.pump.emulator import PumpEmulator
from flywheel.sandbox.rpc.app import build_rpc_app
from flywheel.sandbox.scenario import Scenario, ScenarioConfig, TokenProgramName
from flywheel.sandbox.server_thread import ServerThread
from flywheel.sandbox.traders import TraderConfig, Traders
from flywheel.sandbox.x_ads.app import XAdsSandboxState, build_x_ads_app
from flywheel.solana.keypair import write_keypair_file

SANDBOX_FEE_SOURCES = ("wallet", "pump", "token2022")
SANDBOX_POST_ID = "1850000000000000001"  # the post the sandbox's campaigns promote (any digits)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


@dataclass(frozen=True)
class XAdsCredentials:
    """OAuth 1.0a credentials the sandbox's X Ads API accepts, shaped like X's own."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str
    access_token_secret: str = field(repr=False)

    @classmethod
    def generate(cls) -> XAdsCredentials:
        return cls(
            consumer_key=_token(25),
            consumer_secret=_token(50),
            access_token=f"{secrets.randbelow(10**18) + 10**18}-{_token(30)}",
            access_token_secret=_token(45),
        )


@dataclass(frozen=True)
class SandboxConfig:
    seed: int = 0
    slot_ms: int = 400  # 0: slots move only with chain.advance()
    rpc_port: int = 0  # 0: a free port
    jupiter_port: int = 0
    x_ads_port: int = 0
    # What each serving sandbox line item is billed per second ($0.001/s); 0: only by hand.
    x_ads_spend_micro_per_second: int = 1_000
    token_program: TokenProgramName = "spl"  # noqa: S105 (a program's name, not a password)
    separate_fee_collector: bool = False
    # token2022: a Token-2022 mint with a transfer fee whose withheld fees the executor withdraws;
    # pump: the mint is a pump.fun coin (emulated, sandbox/pump/) whose creator is the executor
    fee_source: str = "wallet"
    pump_sharing: bool = False  # pump: the coin's fees moved to a fee-sharing config
    traders: bool = True  # trade in the background; tests usually call traders.step() instead
    trader_interval_seconds: float = 5.0
    trades_per_tick: int = 1
    fee_share_bps: int = 100
    sol_usd: Decimal = Decimal(150)
    workdir: Path | None = None  # where executor.json is kept; a temporary directory if None
    faults: Faults | None = field(default=None, compare=False)
    # The market (flywheel.sandbox.market): switch on the `arbitrage` / `sandwich` faults.
    arbitrage: bool = False
    searcher: bool = False


class Sandbox:
    """Everything the bot talks to, on loopback. Use as a context manager or start()/stop()."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.faults = (
            self.config.faults if self.config.faults is not None else Faults(seed=self.config.seed)
        )
        if self.config.arbitrage or self.config.searcher:
            self.faults.update(
                arbitrage=self.faults.arbitrage or self.config.arbitrage,
                sandwich=self.faults.sandwich or self.config.searcher,
            )
        if self.config.fee_source not in SANDBOX_FEE_SOURCES:
            raise ValueError(f"the sandbox has no fee source {self.config.fee_source!r}")
        token2022 = self.config.fee_source == "token2022"
        self.scenario = Scenario(
            ScenarioConfig(
                seed=self.config.seed,
                token_program="token-2022" if token2022 else self.config.token_program,
                separate_fee_collector=self.config.separate_fee_collector,
                executor_withdraws_fees=token2022,
            )
        )
        self.webhook_secret = secrets.token_urlsafe(33)  # 44 characters
        self.x_ads_credentials = XAdsCredentials.generate()
        self._x_ads: XAdsSandboxState | None = None
        self._chain: SandboxChain | None = None
        self._pool: SandboxPool | None = None
        self._jupiter: JupiterSandbox | None = None
        self._traders: Traders | None = None
        self._market: Market | None = None
        self._servers: list[ServerThread] = []
        self._workdir: Path | None = None
        self._own_workdir = False

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._chain is not None:
            raise RuntimeError("sandbox already started")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        chain = SandboxChain(slot_ms=self.config.slot_ms, faults=self.faults)
        self._chain = chain
        self._pool = self.scenario.create(chain)
        self.pump: PumpEmulator | None = None
        if self.config.fee_source == "pump":
            self.pump = PumpEmulator(chain, self.scenario.mint, self.scenario.executor.pubkey())
            self.pump.install(sharing=self.config.pump_sharing)
        self._jupiter = JupiterSandbox(
            chain,
            self._pool,
            self.faults,
            sol_usd=self.config.sol_usd,
            market_maker=self.scenario.market_maker,
            attacker=self.scenario.keypair("attacker").pubkey(),
        )
        self._traders = Traders(
            chain,
            self._pool,
            self.scenario.fee_collector,
            TraderConfig(seed=self.config.seed, fee_share_bps=self.config.fee_share_bps),
            fee_sink=None if self.pump is None else self.pump.accrue,
        )
        self._market = Market(
            chain, self._pool, self.scenario.creator, self.faults, self.config.seed
        )
        self._market.install()
        if self.config.workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="flywheel-sandbox-"))
            self._own_workdir = True
        else:
            self._workdir = self.config.workdir
            self._workdir.mkdir(parents=True, exist_ok=True)
        credentials = self.x_ads_credentials
        self._x_ads = XAdsSandboxState(
            consumer_key=credentials.consumer_key,
            consumer_secret=credentials.consumer_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            spend_micro_per_second=self.config.x_ads_spend_micro_per_second,
        )
        for app, port, name in (
            (build_rpc_app(chain), self.config.rpc_port, "sandbox-rpc"),
            (self._jupiter.app, self.config.jupiter_port, "sandbox-jupiter"),
            (build_x_ads_app(self._x_ads), self.config.x_ads_port, "sandbox-x-ads"),
        ):
            server = ServerThread(app, port, name)
            self._servers.append(server)
            server.start()
        # Written once the servers listen: whoever waits for this file may use it right away.
        write_keypair_file(self.executor_keypair_path, self.scenario.executor)
        if self.config.traders:
            self._traders.start(self.config.trader_interval_seconds, self.config.trades_per_tick)
        self._market.start(self.config.slot_ms)

    def stop(self) -> None:
        """Idempotent; stops traders first so nothing trades against a closing server."""
        if self._traders is not None:
            self._traders.stop()
        if self._market is not None:
            self._market.stop()
        for server in self._servers:
            server.request_stop()  # all at once: each takes a tick of its loop to notice
        for server in self._servers:
            server.stop()
        self._servers.clear()
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._own_workdir = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what the bot needs ------------------------------------------------------------------------
    @property
    def chain(self) -> SandboxChain:
        if self._chain is None:
            raise RuntimeError("sandbox not started")
        return self._chain

    @property
    def pool(self) -> SandboxPool:
        if self._pool is None:
            raise RuntimeError("sandbox not started")
        return self._pool

    @property
    def jupiter(self) -> JupiterSandbox:
        if self._jupiter is None:
            raise RuntimeError("sandbox not started")
        return self._jupiter

    @property
    def traders(self) -> Traders:
        if self._traders is None:
            raise RuntimeError("sandbox not started")
        return self._traders

    @property
    def market(self) -> Market:
        """Arbitrage, the searcher (`market.searcher.sandwiches`) and execution-time pricing."""
        if self._market is None:
            raise RuntimeError("sandbox not started")
        return self._market

    @property
    def x_ads(self) -> XAdsSandboxState:
        """The X Ads sandbox's account: entities (`.store`), `.faults`, the request log."""
        if self._x_ads is None:
            raise RuntimeError("sandbox not started")
        return self._x_ads

    @property
    def rpc_url(self) -> str:
        return self._server(0).url

    @property
    def jupiter_url(self) -> str:
        return self._server(1).url

    @property
    def x_ads_url(self) -> str:
        return self._server(2).url

    def _server(self, index: int) -> ServerThread:
        if len(self._servers) <= index:
            raise RuntimeError("sandbox not started")
        return self._servers[index]

    @property
    def executor(self) -> Keypair:
        return self.scenario.executor

    @property
    def executor_keypair_path(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("sandbox not started")
        return self._workdir / "executor.json"

    @property
    def fee_collector(self) -> Pubkey:
        return self.scenario.fee_collector

    @property
    def token_mint(self) -> Pubkey:
        return self.scenario.mint

    @property
    def token_program_id(self) -> Pubkey:
        return self.scenario.token_program_id

    @property
    def attacker(self) -> Pubkey:
        """Where a `malicious_swap` sends the user's SOL."""
        return self.jupiter.attacker

    def env(self, directory: Path) -> dict[str, str]:
        """The bot's configuration pointing at this sandbox, with state and reports under
        `directory`; writes `directory/executor.json` (0600) so the result is usable as is."""
        directory.mkdir(parents=True, exist_ok=True)
        keypair_path = directory / "executor.json"
        write_keypair_file(keypair_path, self.executor)
        return {
            "SOLANA_RPC_URL": self.rpc_url,
            "JUPITER_API_URL": self.jupiter_url,
            "EXECUTOR_KEYPAIR_PATH": str(keypair_path),
            "FEE_COLLECTOR_PUBKEY": str(self.fee_collector),
            "TOKEN_MINT": str(self.token_mint),
            "BUYBACK_PERCENT": "70",
            "ADS_PERCENT": "30",
            "ADS_ENGINE_MODE": "dry-run",
            "MAX_SLIPPAGE_BPS": "300",
            # The traders' fees are 0.0005-0.005 SOL each: rehearsals buy every epoch.
            "MIN_BUYBACK_SOL": "0",
            "MAX_BUDGET_PER_EPOCH_USD": "1000",
            "EPOCH_INTERVAL_SECONDS": "3600",
            "ENABLE_SCHEDULER": "true",
            # A new chain: its whole history is fees (FEE_START=now would skip the first ones).
            "FEE_START": "all",
            "FEE_SOURCES": self.config.fee_source,
            "STATE_DB_PATH": str(directory / "data" / "flywheel.sqlite"),
            "REPORTS_DIR": str(directory / "reports"),
            "WEBHOOK_SECRET": self.webhook_secret,
            # ADS_ENGINE_MODE=api works against the sandbox's X Ads API out of the box.
            "ADS_POST_ID": SANDBOX_POST_ID,
            "X_ADS_API_URL": self.x_ads_url,
            "X_ADS_ACCOUNT_ID": self.x_ads.account_id,
            "X_ADS_CONSUMER_KEY": self.x_ads_credentials.consumer_key,
            "X_ADS_CONSUMER_SECRET": self.x_ads_credentials.consumer_secret,
            "X_ADS_ACCESS_TOKEN": self.x_ads_credentials.access_token,
            "X_ADS_ACCESS_TOKEN_SECRET": self.x_ads_credentials.access_token_secret,
        }
