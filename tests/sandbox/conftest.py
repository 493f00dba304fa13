"""Fixtures for the sandbox chain and its JSON-RPC server (real LiteSVM, real HTTP on loopback).

Slots are manual (`slot_ms=0`): they move only with `chain.advance()`, so tests are deterministic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.rpc.serve import serve_rpc

LAMPORTS_PER_SOL = 1_000_000_000


@pytest.fixture
def rpc_chain() -> SandboxChain:
    """The chain behind `rpc_server`: manual slots, seeded faults."""
    return SandboxChain(slot_ms=0, faults=Faults(seed=1))


@pytest.fixture
def rpc_server(rpc_chain: SandboxChain) -> Iterator[tuple[SandboxChain, str]]:
    """(chain, url): the chain's JSON-RPC server on a free 127.0.0.1 port, stopped afterwards."""
    with serve_rpc(rpc_chain) as server:
        yield rpc_chain, server.url


@pytest.fixture
async def rpc_client(rpc_server: tuple[SandboxChain, str]) -> AsyncIterator[AsyncClient]:
    """solana-py's AsyncClient on the sandbox, reading at `confirmed`."""
    async with AsyncClient(rpc_server[1], commitment=Confirmed, timeout=10) as rpc:
        yield rpc


@pytest.fixture
def funded_wallet(rpc_chain: SandboxChain) -> Keypair:
    """A wallet holding 10 SOL."""
    wallet = Keypair()
    rpc_chain.airdrop(wallet.pubkey(), 10 * LAMPORTS_PER_SOL)
    return wallet
