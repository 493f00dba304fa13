"""Sends on a watched path: the RPC's sendTransaction ("public") and the Jito engine ("jito").

Internal sends (scenario setup, airdrops, the traders, the market's own accounts) call
`SandboxChain.send` directly and are never intercepted.
"""

from __future__ import annotations

from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.txinfo import normalize


def send_routed(
    chain: SandboxChain,
    tx: Transaction | VersionedTransaction,
    *,
    skip_preflight: bool,
    route: str,
) -> Signature:
    """`chain.send`, through the chain's interceptor (a searcher) when one is installed."""
    interceptor = chain.interceptor
    if interceptor is None:
        return chain.send(tx, skip_preflight=skip_preflight)
    vtx = normalize(tx)
    with chain.lock:
        return interceptor(vtx, route, lambda: chain.send(vtx, skip_preflight=skip_preflight))
