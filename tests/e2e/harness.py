"""End-to-end helpers: the flywheel's CLI run as a subprocess against the embedded sandbox.

The sandbox (chain, JSON-RPC, Jupiter-compatible API) runs in the test process on loopback;
`flywheel` runs in a child process with a clean environment and a `.env` written by
`flywheel_env`, exactly as an operator would run it. Assertions read the chain itself
(`ChainView`): balances, the mint's supply and the transaction records.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from solders.pubkey import Pubkey
from solders.token.state import Mint
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.chain.ledger import TxRecord
from flywheel.sandbox.runner import Sandbox

REPO = Path(__file__).resolve().parents[2]
FLYWHEEL = REPO / ".venv" / "bin" / "flywheel"
CRASH_SCRIPT = Path(__file__).with_name("crash_epoch.py")
CLI_TIMEOUT_S = 120.0
_BURN_CHECKED = 15  # the token programs' BurnChecked instruction tag
_TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)


def flywheel_env(sandbox: Sandbox, directory: Path, **overrides: str) -> dict[str, str]:
    """The sandbox's configuration with state and reports under `directory`, written to
    `directory/.env`; FEE_START=all (the sandbox chain is new) unless overridden."""
    env = sandbox.env(directory)
    env.update(
        {
            "FEE_START": "all",
            "ENABLE_SCHEDULER": "false",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            # These tests describe the v1 path (a swap, then a burn); test_epoch_v2*.py pass v2.
            "JUPITER_SWAP_API": "v1",
            # Shared sandboxes reuse one executor across fresh state databases, which the
            # start-up chain check rightly refuses; the tests of anchoring turn it on.
            "ANCHOR_STATE": "false",
        }
    )
    env.update(overrides)
    lines = [f"{key}={value}" for key, value in env.items()]
    (directory / ".env").write_text("\n".join(lines) + "\n")
    return env


def clean_environment() -> dict[str, str]:
    """Only what a process needs to start: no variable of the developer's shell leaks in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["COLUMNS"] = "200"
    return env


def run_cli(
    args: list[str], env_dir: Path, *, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """`flywheel <args>` in `env_dir` (where its .env is), with a clean environment."""
    return subprocess.run(
        [str(FLYWHEEL), *args],
        cwd=env_dir,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    """Until `check()` holds: readiness of another process, not a timed assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def start_service(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`flywheel run` in `directory` (where its .env is), its output in `directory/run.log`."""
    log_path = directory / "run.log"
    with log_path.open("w") as log:
        service = subprocess.Popen(
            [str(FLYWHEEL), "run"],
            cwd=directory,
            env=clean_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return service, log_path


def stop_service(service: subprocess.Popen[bytes]) -> None:
    """Kill it if a test left it running (a test that checks the SIGTERM path did that itself)."""
    if service.poll() is None:
        service.kill()
        service.wait()


def run_crash_epoch(
    env_dir: Path,
    *,
    after_step: str | None = None,
    after_send: int | None = None,
    at_slice_wait: int | None = None,
    no_wait: bool = False,
) -> subprocess.CompletedProcess[str]:
    """tests/e2e/crash_epoch.py: one live epoch that SIGKILLs itself at the given point."""
    args = [sys.executable, str(CRASH_SCRIPT), str(env_dir / ".env")]
    if at_slice_wait is not None:
        args += ["--at-slice-wait", str(at_slice_wait)]
    if no_wait:
        args.append("--no-wait")
    if after_step is not None:
        args += ["--after-step", after_step]
    if after_send is not None:
        args += ["--after-send", str(after_send)]
    env = clean_environment()
    env["PYTHONPATH"] = str(REPO / "src")
    return subprocess.run(
        args,
        cwd=env_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """Enough of a failed command's output to see why, for assertion messages."""
    out, err = result.stdout[-4000:], result.stderr[-4000:]
    return f"exit {result.returncode}\nstdout:\n{out}\nstderr:\n{err}"


# -- state and reports ---------------------------------------------------------------------------


def state_db(env: dict[str, str]) -> Path:
    return Path(env["STATE_DB_PATH"])


def epochs_in(env: dict[str, str], mode: EpochMode = EpochMode.LIVE) -> list[EpochState]:
    """Every epoch of `mode` in the state database, oldest first."""
    path = state_db(env) if mode is EpochMode.LIVE else simulate_db(env)
    if not path.exists():
        return []
    with SqliteStore.open(path) as store:
        found = [e for e in store.epochs(limit=10_000) if e.mode is mode]
    return sorted(found, key=lambda e: e.started_at)


def finished_epochs(env: dict[str, str]) -> list[EpochState]:
    return [e for e in epochs_in(env) if e.status is not EpochStatus.RUNNING]


def simulate_db(env: dict[str, str]) -> Path:
    path = state_db(env)
    return path.with_name(f"{path.stem}.simulate{path.suffix}")


def epoch_reports(env: dict[str, str], sub: str = "") -> list[dict[str, Any]]:
    """The epoch reports in REPORTS_DIR (or a subfolder), oldest first."""
    directory = Path(env["REPORTS_DIR"]) / sub
    paths = sorted(directory.glob("epoch-*.json"))
    return [json.loads(p.read_text()) for p in paths]


def report_of(state: EpochState) -> dict[str, Any]:
    assert state.report_path is not None, f"epoch {state.id} wrote no report"
    loaded: dict[str, Any] = json.loads(Path(state.report_path).read_text())
    return loaded


def check_identity(epochs: list[EpochState]) -> None:
    """detected + carried in = spent + reserved + carried out, chained across epochs."""
    assert epochs, "no finished epoch"
    detected = sum(e.fees_in_lamports for e in epochs)
    spent = sum(e.buyback_spent_lamports for e in epochs)
    reserved = sum(e.ads_reserved_lamports for e in epochs)
    first_in = epochs[0].carried_in_lamports
    assert first_in + detected == spent + reserved + epochs[-1].carried_out_lamports
    for previous, current in itertools.pairwise(epochs):
        assert current.carried_in_lamports == previous.carried_out_lamports
    for epoch in epochs:
        assert epoch.carried_out_lamports >= 0


# -- the chain's own records ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutorTx:
    record: TxRecord
    kind: str  # swap | burn | other

    @property
    def signature(self) -> str:
        return str(self.record.signature)

    @property
    def ok(self) -> bool:
        return self.record.err is None


class ChainView:
    """Facts read straight from the sandbox chain (no RPC, no flywheel code)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.chain = sandbox.chain
        self.executor = sandbox.executor.pubkey()

    def supply(self) -> int:
        account = self.chain.get_account(self.sandbox.token_mint)
        assert account is not None
        return Mint.from_bytes(bytes(account.data)[:82]).supply

    def sol(self, pubkey: Pubkey | None = None) -> int:
        return self.chain.balance(pubkey or self.executor)

    def token_amount(self, owner: Pubkey | None = None) -> int:
        held = self.chain.token_accounts_by_owner(
            owner or self.executor, mint=self.sandbox.token_mint
        )
        return sum(holding.amount for holding, _ in held)

    def history(self, address: Pubkey | None = None) -> list[TxRecord]:
        """Every record touching `address`, oldest first."""
        return list(
            reversed(self.chain.signatures_for_address(address or self.executor, limit=10**6))
        )

    def executor_txs(self, since_seq: int = 0) -> list[ExecutorTx]:
        """Transactions the executor signed, oldest first, from record `since_seq` on."""
        out: list[ExecutorTx] = []
        for record in self.history():
            if record.seq < since_seq or not self._signed_by_executor(record):
                continue
            out.append(ExecutorTx(record, self._kind(record)))
        return out

    def fee_inflows(self, since_seq: int = 0) -> int:
        """SOL that others' successful transactions moved into the fee collector."""
        collector = self.sandbox.fee_collector
        total = 0
        for record in self.history(collector):
            if record.seq < since_seq or record.err is not None:
                continue
            if self._signed_by(record, collector) or self._signed_by_executor(record):
                continue
            index = record.account_keys.index(collector)
            total += max(record.post_balances[index] - record.pre_balances[index], 0)
        return total

    def next_seq(self) -> int:
        """The sequence number the next record will get: a bookmark in history."""
        with self.chain.lock:
            return self.chain._ledger.next_seq()

    def executor_delta(self, record: TxRecord) -> int:
        index = record.account_keys.index(self.executor)
        return record.post_balances[index] - record.pre_balances[index]

    def _signed_by_executor(self, record: TxRecord) -> bool:
        return self._signed_by(record, self.executor)

    @staticmethod
    def _signed_by(record: TxRecord, key: Pubkey) -> bool:
        signers = record.tx.message.header.num_required_signatures
        return key in record.account_keys[:signers]

    def _kind(self, record: TxRecord) -> str:
        if self.sandbox.pool.address in record.account_keys:
            return "swap"
        keys = record.account_keys
        for ix in record.tx.message.instructions:
            data = bytes(ix.data)
            if keys[ix.program_id_index] in _TOKEN_PROGRAMS and data[:1] == bytes([_BURN_CHECKED]):
                return "burn"
        return "other"
