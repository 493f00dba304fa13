"""Solana adapters: the RPC client, keypair, sender, guard, settlement, wallet, fee source,
sweep and snapshot."""
