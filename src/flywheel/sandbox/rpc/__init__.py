"""The sandbox's Solana JSON-RPC server over the chain."""
