"""The sandbox's starting world: a mint, a funded pool, the executor and the fee collector.

Every key is derived from the seed, so the same seed gives the same addresses run after run
(an operator's `.env` stays valid across restarts of `flywheel sandbox --seed N`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import CreateAccountParams, create_account
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    initialize_mint2,
    initialize_transfer_fee_config,
    mint_to_checked,
)
from spl.token.models import (
    InitializeMint2Params,
    InitializeTransferFeeConfigParams,
    MintToCheckedParams,
)

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.jupiter.dex import SandboxPool, build_v0
from flywheel.sandbox.jupiter.pool import TransferFee

LAMPORTS_PER_SOL = 1_000_000_000
TokenProgramName = Literal["spl", "token-2022"]
_TOKEN_2022: TokenProgramName = "token-2022"  # noqa: S105 (a program's name, not a password)
_MINT_SIZE = {"spl": 82, "token-2022": 278}  # 278: a mint with the TransferFeeConfig extension


@dataclass(frozen=True)
class ScenarioConfig:
    seed: int = 0
    token_program: TokenProgramName = "spl"  # noqa: S105 (a program's name, not a password)
    decimals: int = 6
    pool_sol_lamports: int = 100 * LAMPORTS_PER_SOL
    pool_token_units: int = 1_000_000_000 * 10**6  # a pump.fun-sized supply at 6 decimals
    transfer_fee_bps: int = 100  # Token-2022 only
    transfer_fee_maximum: int = 10**15
    executor_lamports: int = 2 * LAMPORTS_PER_SOL
    market_maker_token_units: int = 200_000_000 * 10**6  # inventory to push the price down
    market_maker_lamports: int = 10 * LAMPORTS_PER_SOL
    separate_fee_collector: bool = False
    # FEE_SOURCES=token2022: the executor may withdraw the mint's withheld fees.
    executor_withdraws_fees: bool = False


class Scenario:
    """Creates the starting world on a chain; keys are deterministic in `config.seed`."""

    def __init__(self, config: ScenarioConfig | None = None) -> None:
        self.config = config or ScenarioConfig()
        self.creator = self.keypair("creator")
        self.mint_keypair = self.keypair("mint")
        self.executor = self.keypair("executor")
        self.market_maker = self.keypair("market-maker")
        self.fee_collector_keypair = (
            self.keypair("fee-collector") if self.config.separate_fee_collector else self.executor
        )
        self.pool = SandboxPool(
            mint=self.mint_keypair.pubkey(),
            token_program=self.token_program_id,
            decimals=self.config.decimals,
            sol_vault=self.keypair("pool-sol-vault"),
            authority=self.keypair("pool-authority"),
            transfer_fee=self.transfer_fee,
        )

    def keypair(self, name: str) -> Keypair:
        """A keypair for `name` that depends only on the seed."""
        seed = hashlib.sha256(f"flywheel-sandbox:{self.config.seed}:{name}".encode()).digest()
        return Keypair.from_seed(seed)

    @property
    def token_program_id(self) -> Pubkey:
        return TOKEN_2022_PROGRAM_ID if self.is_token_2022 else TOKEN_PROGRAM_ID

    @property
    def is_token_2022(self) -> bool:
        return self.config.token_program == _TOKEN_2022

    @property
    def transfer_fee(self) -> TransferFee | None:
        if not self.is_token_2022:
            return None
        return TransferFee(
            bps=self.config.transfer_fee_bps, maximum=self.config.transfer_fee_maximum
        )

    @property
    def mint(self) -> Pubkey:
        return self.mint_keypair.pubkey()

    @property
    def fee_collector(self) -> Pubkey:
        return self.fee_collector_keypair.pubkey()

    def create(self, chain: SandboxChain) -> SandboxPool:
        """Mint, pool vaults with liquidity, funded wallets; returns the pool, checks installed."""
        chain.airdrop(self.creator.pubkey(), 10 * LAMPORTS_PER_SOL)
        self._send(chain, [self.creator, self.mint_keypair], self._mint_instructions(chain))
        rent = chain.minimum_balance_for_rent_exemption(0)
        chain.airdrop(self.pool.address, self.config.pool_sol_lamports + rent)
        self._send(chain, [self.creator], self._pool_token_instructions())
        # Genesis balances, not transfers: no signature touches the executor or the fee
        # collector before the first fee, so fee detection sees fees and nothing else.
        self._fund_at_genesis(chain, self.executor.pubkey(), self.config.executor_lamports)
        if self.config.separate_fee_collector:
            self._fund_at_genesis(chain, self.fee_collector, rent)
        self._fund_at_genesis(chain, self.market_maker.pubkey(), self.config.market_maker_lamports)
        self.pool.install(chain)
        return self.pool

    def _mint_instructions(self, chain: SandboxChain) -> list[Instruction]:
        program = self.token_program_id
        size = _MINT_SIZE[self.config.token_program]
        creator = self.creator.pubkey()
        instructions = [
            create_account(
                CreateAccountParams(
                    from_pubkey=creator,
                    to_pubkey=self.mint,
                    lamports=chain.minimum_balance_for_rent_exemption(size),
                    space=size,
                    owner=program,
                )
            )
        ]
        if self.transfer_fee is not None:
            instructions.append(
                initialize_transfer_fee_config(
                    InitializeTransferFeeConfigParams(
                        program_id=program,
                        mint=self.mint,
                        transfer_fee_config_authority=creator,
                        withdraw_withheld_authority=(
                            self.executor.pubkey()
                            if self.config.executor_withdraws_fees
                            else creator
                        ),
                        transfer_fee_basis_points=self.transfer_fee.bps,
                        maximum_fee=self.transfer_fee.maximum,
                    )
                )
            )
        instructions.append(
            initialize_mint2(
                InitializeMint2Params(
                    program_id=program,
                    mint=self.mint,
                    decimals=self.config.decimals,
                    mint_authority=creator,
                    freeze_authority=None,
                )
            )
        )
        return instructions

    def _pool_token_instructions(self) -> list[Instruction]:
        """The pool's token vault and the market maker's inventory, both minted now."""
        holdings = [
            (self.pool.authority.pubkey(), self.config.pool_token_units),
            (self.market_maker.pubkey(), self.config.market_maker_token_units),
        ]
        instructions: list[Instruction] = []
        for owner, amount in holdings:
            instructions.append(
                create_idempotent_associated_token_account(
                    self.creator.pubkey(), owner, self.mint, token_program_id=self.token_program_id
                )
            )
            if amount > 0:
                instructions.append(
                    mint_to_checked(
                        MintToCheckedParams(
                            program_id=self.token_program_id,
                            mint=self.mint,
                            dest=self.pool.ata(owner),
                            mint_authority=self.creator.pubkey(),
                            amount=amount,
                            decimals=self.config.decimals,
                            signers=[],
                        )
                    )
                )
        return instructions

    def _send(self, chain: SandboxChain, signers: list[Keypair], ixs: list[Instruction]) -> None:
        blockhash, _ = chain.latest_blockhash()
        chain.send(build_v0(signers[0].pubkey(), ixs, blockhash, signers))

    @staticmethod
    def _fund_at_genesis(chain: SandboxChain, pubkey: Pubkey, lamports: int) -> None:
        with chain.lock:
            existing = chain.get_account(pubkey)
            balance = 0 if existing is None else existing.lamports
            chain.set_account(
                pubkey, Account(lamports=balance + lamports, data=b"", owner=SYSTEM_PROGRAM_ID)
            )
