"""FEE_SOURCES -> the detect step's `FeeSource` and the claim step's claimers.

Adding a source: a module in this package with a class that implements `FeeClaimer` (or
`FeeSource` for a watcher), its name in `config.parsers.FEE_SOURCE_NAMES`, and one branch here.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.domain.fees import FeeBatch
from flywheel.ports import FeeClaimer, FeeSource
from flywheel.solana.fee_sources.pump_claim import PumpClaimer
from flywheel.solana.fee_sources.token2022 import Token2022Claimer
from flywheel.solana.rpc import RpcClient


class NoInflows:
    """The detect step's source when FEE_SOURCES has no `wallet`: nothing arrives, the cursor
    stays where it is (so adding `wallet` later starts from where it was left)."""

    async def fetch_new(self, cursor: str | None) -> FeeBatch:
        return FeeBatch(new_cursor=cursor)


@dataclass(frozen=True)
class FeeSources:
    detector: FeeSource
    claimers: tuple[FeeClaimer, ...]


def build(
    names: tuple[str, ...],
    *,
    rpc: RpcClient,
    keypair: Keypair,
    mint: Pubkey,
    watcher: FeeSource,
) -> FeeSources:
    claimers: list[FeeClaimer] = []
    for name in names:
        if name == "token2022":
            claimers.append(Token2022Claimer(rpc, keypair, mint))
        elif name == "pump":
            claimers.append(PumpClaimer(rpc, keypair, mint))
        elif name != "wallet":
            raise ValueError(f"unknown fee source {name!r}")  # the settings refuse it first
    detector: FeeSource = watcher if "wallet" in names else NoInflows()
    return FeeSources(detector=detector, claimers=tuple(claimers))
