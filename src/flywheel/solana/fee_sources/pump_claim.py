"""`pump`: the creator fees of a pump.fun coin, on its bonding curve and in PumpSwap.

The executor must be the coin's creator (`BondingCurve.creator`): the collects are
permissionless, but they pay the creator, so only then do the fees reach the flywheel. One
claim transaction, paid by the executor: `sweep_creator_fee` when the curve holds fees of v3
trades, `collect_creator_fee_v2` (the curve's vault, lamports above its rent) and, when the
coin's PumpSwap vault holds wSOL, `collect_coin_creator_fee` into the executor's wSOL account,
created before and closed after in the same transaction, so its rent comes back and the fees
arrive as SOL. What counts is the executor's SOL change plus the fee it paid (the claim step).

Everything the decision needs is one `getMultipleAccounts`: the curve, the coin's sharing
config, both vaults and the executor's wSOL account. A coin moved to a fee-sharing config, or
an executor that is not the creator, stops the claim with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from flywheel.domain.trade import PreparedTx
from flywheel.errors import ConfigError, OperationalError
from flywheel.solana.fee_sources.claim_tx import signed_claim
from flywheel.solana.fee_sources.pump import (
    BONDING_CURVE_DISCRIMINATOR,
    PUMP_FEES_PROGRAM,
    PUMP_PROGRAM,
    TOKEN_PROGRAM,
    WSOL_MINT,
    amm_vault_authority,
    bonding_curve,
    claim_instructions,
    creator_vault,
    sharing_config,
)
from flywheel.solana.rpc import RpcClient

# The rent-exempt minimum of an account without data (a cluster constant: 128 bytes of account
# overhead at 6,960 lamports per byte for two years); the curve's vault always keeps it.
VAULT_RENT_LAMPORTS = 890_880
# BondingCurve (idl/pump.json): 8 discriminator, 5 u64, complete, creator at 49; creator_fee at
# 125 on curves written since the v3 upgrade (older, shorter ones read it as 0).
_CREATOR = slice(49, 81)
_CREATOR_FEE = slice(125, 133)
_TOKEN_AMOUNT = slice(64, 72)


@dataclass(frozen=True)
class CurveState:
    creator: Pubkey
    creator_fee: int  # lamports kept on the curve by v3 trades, until swept


@dataclass(frozen=True)
class PumpVaults:
    """What a claim would move now (an estimate: it only decides whether to claim)."""

    curve: CurveState
    curve_vault: int  # lamports above the vault's rent
    amm_vault: int  # wSOL in the PumpSwap vault; 0 when the coin never graduated
    amm_vault_exists: bool
    wsol_account_exists: bool  # the executor's own wSOL account, before the claim

    @property
    def total(self) -> int:
        return self.curve.creator_fee + self.curve_vault + self.amm_vault


def parse_curve(data: bytes) -> CurveState | None:
    if len(data) < _CREATOR.stop or data[:8] != BONDING_CURVE_DISCRIMINATOR:
        return None
    fee = data[_CREATOR_FEE]
    return CurveState(
        creator=Pubkey(data[_CREATOR]),
        creator_fee=int.from_bytes(fee, "little") if len(fee) == 8 else 0,
    )


def _sharing_error(mint: Pubkey, config: Pubkey) -> ConfigError:
    return ConfigError(
        [
            f"FEE_SOURCES=pump: the creator fees of TOKEN_MINT {mint} moved to the fee-sharing"
            f" config {config} (Pump Fees program), so they can no longer be collected by the"
            " creator. They are paid out to the config's shareholders by the permissionless"
            " distribute_creator_fees_v2: make the flywheel's FEE_COLLECTOR_PUBKEY a shareholder"
            " of that config and use FEE_SOURCES=wallet to count what it receives, or remove"
            " pump from FEE_SOURCES (docs/fee-sources.md)"
        ]
    )


def check_curve(mint: Pubkey, account: Account | None, executor: Pubkey) -> CurveState:
    curve = None
    if account is not None and account.owner == PUMP_PROGRAM:
        curve = parse_curve(bytes(account.data))
    if curve is None:
        raise ConfigError(
            [
                f"FEE_SOURCES=pump but TOKEN_MINT {mint} has no pump.fun bonding curve"
                f" ({bonding_curve(mint)}) on this chain; remove pump from FEE_SOURCES"
            ]
        )
    if curve.creator == sharing_config(mint):
        raise _sharing_error(mint, curve.creator)
    if curve.creator != executor:
        raise ConfigError(
            [
                f"FEE_SOURCES=pump needs the executor {executor} to be the creator of TOKEN_MINT"
                f" {mint}, which is {curve.creator}: the collects pay the creator, so the fees"
                " would never reach the flywheel. Set EXECUTOR_KEYPAIR_PATH to the creator's"
                " keypair, or remove pump from FEE_SOURCES"
            ]
        )
    return curve


def _token_amount(account: Account | None) -> int:
    if account is None or len(account.data) < _TOKEN_AMOUNT.stop:
        return 0
    return int.from_bytes(bytes(account.data)[_TOKEN_AMOUNT], "little")


class PumpClaimer:
    """The `FeeClaimer` of FEE_SOURCES=pump: fees are lamports."""

    name = "pump"
    unit = "lamports"

    def __init__(
        self,
        rpc: RpcClient,
        keypair: Keypair,
        mint: Pubkey,
        *,
        compute_unit_price: int | None = None,
    ) -> None:
        self._rpc = rpc
        self.__keypair = keypair
        self.executor = keypair.pubkey()
        self.mint = mint
        self._compute_unit_price = compute_unit_price
        self._vaults: PumpVaults | None = None
        authority = amm_vault_authority(self.executor)
        self.accounts = (
            bonding_curve(mint),
            sharing_config(mint),
            creator_vault(self.executor),
            get_associated_token_address(authority, WSOL_MINT, TOKEN_PROGRAM),
            get_associated_token_address(self.executor, WSOL_MINT, TOKEN_PROGRAM),
        )

    def __repr__(self) -> str:
        return f"PumpClaimer(executor={self.executor}, mint={self.mint})"

    async def vaults(self) -> PumpVaults:
        curve_account, config, vault, amm_vault, wsol = await self._rpc.get_multiple_accounts(
            list(self.accounts)
        )
        if config is not None and config.owner == PUMP_FEES_PROGRAM:
            raise _sharing_error(self.mint, self.accounts[1])
        curve = check_curve(self.mint, curve_account, self.executor)
        in_vault = 0 if vault is None else max(vault.lamports - VAULT_RENT_LAMPORTS, 0)
        self._vaults = PumpVaults(
            curve=curve,
            curve_vault=in_vault,
            amm_vault=_token_amount(amm_vault),
            amm_vault_exists=amm_vault is not None,
            wsol_account_exists=wsol is not None,
        )
        return self._vaults

    async def claimable(self) -> int:
        return (await self.vaults()).total

    def instructions(self, vaults: PumpVaults) -> list[Instruction]:
        amm = vaults.amm_vault > 0
        if amm and vaults.wsol_account_exists:
            # Closing it would hand its own balance to the executor, counted as fees.
            raise OperationalError(
                f"the executor's wSOL account {self.accounts[4]} already exists: the pump claim"
                " closes it to unwrap the PumpSwap fees, which would count its balance as fees."
                " Close it first (spl-token close --address"
                f" {self.accounts[4]}), then run the epoch again"
            )
        return claim_instructions(
            self.executor,
            sweep_mint=self.mint if vaults.curve.creator_fee > 0 else None,
            curve=vaults.curve_vault > 0,
            amm=amm,
        )

    async def prepare_claim(self, memo: str | None = None) -> PreparedTx:
        vaults = self._vaults if self._vaults is not None else await self.vaults()
        instructions = self.instructions(vaults)
        if not instructions:
            raise OperationalError("the pump claim was asked for with nothing to collect")
        self._vaults = None  # the next claim reads the vaults afresh
        return await signed_claim(
            self._rpc,
            self.__keypair,
            instructions,
            memo=memo,
            compute_unit_price=self._compute_unit_price,
        )
