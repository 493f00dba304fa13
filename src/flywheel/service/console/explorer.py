"""Links to a block explorer (EXPLORER_URL, Solscan by default) on the cluster the RPC serves.

The cluster is read from SOLANA_RPC_URL: a devnet or testnet endpoint adds `?cluster=devnet`
(or testnet), which Solscan and the Solana Explorer both understand; a loopback endpoint (a
local validator, the sandbox) is named as a custom cluster; any other is taken for mainnet
(providers' host names rarely say it), which adds nothing.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def cluster_query(rpc_url: str) -> str:
    host = (urlsplit(rpc_url).hostname or "").lower()
    for cluster in ("devnet", "testnet"):
        if cluster in host:
            return f"?cluster={cluster}"
    if host in {"127.0.0.1", "localhost", "::1", "0.0.0.0"}:
        return f"?cluster=custom&customUrl={quote(rpc_url, safe='')}"
    return ""


def tx_url(explorer_url: str, rpc_url: str, signature: str) -> str:
    return f"{explorer_url.rstrip('/')}/tx/{quote(signature, safe='')}{cluster_query(rpc_url)}"


def account_url(explorer_url: str, rpc_url: str, address: str) -> str:
    return f"{explorer_url.rstrip('/')}/account/{quote(address, safe='')}{cluster_query(rpc_url)}"
