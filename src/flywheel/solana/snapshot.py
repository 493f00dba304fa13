"""`flywheel snapshot`: the balances of every wallet the flywheel touches, valued in USD."""

from __future__ import annotations

from datetime import UTC, datetime

from solders.pubkey import Pubkey

from flywheel.jupiter.client import JupiterClient
from flywheel.reports.snapshot import SnapshotReport, WalletBalance, WalletRole
from flywheel.solana.rpc import RpcClient
from flywheel.solana.settle import parse_mint
from flywheel.solana.tokens import token_snapshot


async def take_snapshot(
    rpc: RpcClient,
    jupiter: JupiterClient,
    *,
    token_mint: Pubkey,
    wallets: list[tuple[WalletRole, Pubkey]],
    now: datetime | None = None,
) -> SnapshotReport:
    mint = parse_mint(token_mint, await rpc.get_account_info(token_mint))
    sol_usd, token_usd = await jupiter.prices()
    seen: set[tuple[WalletRole, Pubkey]] = set()
    balances: list[WalletBalance] = []
    for role, owner in wallets:
        if (role, owner) in seen:
            continue
        seen.add((role, owner))
        accounts = await rpc.get_token_accounts_by_owner(owner, mint=token_mint)
        tokens = 0
        for keyed in accounts:
            held = token_snapshot(keyed.account)
            tokens += 0 if held is None else held.amount
        balances.append(
            WalletBalance.priced(
                role=role,
                pubkey=str(owner),
                sol_lamports=await rpc.get_balance(owner),
                token_amount=tokens,
                token_decimals=mint.decimals,
                sol_usd=sol_usd,
                token_usd=token_usd,
            )
        )
    return SnapshotReport.create(
        taken_at=now or datetime.now(UTC),
        token_mint=str(token_mint),
        sol_usd=sol_usd,
        token_usd=token_usd,
        wallets=balances,
    )
