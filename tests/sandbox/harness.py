"""Sandboxes and tokens for tests.

`start_sandbox`: manual slots (`slot_ms=0`: they move only with `sandbox.chain.advance()`) and no
background traders (call `sandbox.traders.step(n)`), so tests are fast and deterministic; any
SandboxConfig field can be overridden. `make_token`: a mint (SPL Token, or Token-2022 with a
transfer fee) and two funded token accounts on a bare SandboxChain.
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    initialize_transfer_fee_config,
    mint_to,
)
from spl.token.models import InitializeMint2Params, InitializeTransferFeeConfigParams, MintToParams

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.tokens import TOKEN_2022_PROGRAM_ID
from flywheel.sandbox.runner import Sandbox, SandboxConfig

SOL = 1_000_000_000
FEE_BPS = 100  # the Token-2022 mint withholds 1% of every transfer

TEST_SANDBOX_CONFIG = SandboxConfig(slot_ms=0, traders=False)

SandboxFactory = Callable[..., Sandbox]


def start_sandbox(workdir: Path, **overrides: Any) -> Sandbox:
    """A started sandbox in `workdir`, with TEST_SANDBOX_CONFIG and `overrides`."""
    config = dataclasses.replace(TEST_SANDBOX_CONFIG, workdir=workdir, **overrides)
    return Sandbox(config).start()


@dataclass
class TokenSetup:
    program: Pubkey
    mint: Pubkey
    decimals: int
    alice_ata: Pubkey
    bob_ata: Pubkey


def send(chain: SandboxChain, payer: Keypair, ixs: list[Instruction], *signers: Keypair) -> None:
    blockhash, _ = chain.latest_blockhash()
    message = MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash)
    chain.send(VersionedTransaction(message, [payer, *signers]))


def make_token(
    chain: SandboxChain, payer: Keypair, alice: Pubkey, bob: Pubkey, program: Pubkey, decimals: int
) -> TokenSetup:
    mint = Keypair()
    with_fee = program == TOKEN_2022_PROGRAM_ID
    size = 278 if with_fee else 82
    ixs = [
        create_account(
            CreateAccountParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=chain.minimum_balance_for_rent_exemption(size),
                space=size,
                owner=program,
            )
        )
    ]
    if with_fee:
        ixs.append(
            initialize_transfer_fee_config(
                InitializeTransferFeeConfigParams(
                    program_id=program,
                    mint=mint.pubkey(),
                    transfer_fee_config_authority=payer.pubkey(),
                    withdraw_withheld_authority=payer.pubkey(),
                    transfer_fee_basis_points=FEE_BPS,
                    maximum_fee=10**18,
                )
            )
        )
    ixs.append(
        initialize_mint2(
            InitializeMint2Params(
                program_id=program,
                mint=mint.pubkey(),
                decimals=decimals,
                mint_authority=payer.pubkey(),
            )
        )
    )
    send(chain, payer, ixs, mint)
    atas = [get_associated_token_address(o, mint.pubkey(), program) for o in (alice, bob)]
    send(
        chain,
        payer,
        [
            create_associated_token_account(payer.pubkey(), alice, mint.pubkey(), program),
            create_associated_token_account(payer.pubkey(), bob, mint.pubkey(), program),
            mint_to(
                MintToParams(
                    program_id=program,
                    mint=mint.pubkey(),
                    dest=atas[0],
                    mint_authority=payer.pubkey(),
                    amount=1_000 * 10**decimals,
                )
            ),
        ],
    )
    return TokenSetup(program, mint.pubkey(), decimals, atas[0], atas[1])


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a `.env` the sandbox wrote (`KEY=value`, values shell-quoted)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0]
    return env


def rpc(url: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call to a sandbox started by `flywheel sandbox`: its `result`."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return httpx.post(url, json=body, timeout=10).json()["result"]


def wait_until(
    condition: Any, process: subprocess.Popen[bytes], what: str, timeout_s: float = 60.0
) -> None:
    """Polls a condition the sandbox process makes true; fails if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"sandbox exited early ({process.returncode}): {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the sandbox did not get there in time: {what}")
        time.sleep(0.05)
