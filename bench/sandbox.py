"""Throughput of the sandbox JSON-RPC server over real HTTP: getBalance/s and SOL transfers/s.

Run: .venv/bin/python bench/sandbox.py [--balances 2000] [--transfers 500] [--concurrency 16]

The server runs in its own process (`python -m flywheel.sandbox.rpc.serve`, loopback, free
port). Each figure is measured twice: with solana-py's AsyncClient (what the flywheel uses; its
own CPU cost, ~1 ms a call, is usually the limit) and with a minimal keep-alive HTTP/1.1 client
(close to the server's own capacity). Transfers are sent with preflight, as the flywheel sends.
The server's CPU time per request is read from /proc. Counts are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

SOL = 1_000_000_000
TARGET_BALANCES_PER_S = 500
TARGET_TRANSFERS_PER_S = 100
WARMUP = 200


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flywheel.sandbox.rpc.serve", "--slot-ms", "400"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.terminate()
        raise SystemExit(f"the sandbox server did not start (got {url!r})")
    return proc, url


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured:
    def __init__(self, label: str, count: int, seconds: float, server_cpu: float) -> None:
        self.label, self.count, self.seconds, self.server_cpu = label, count, seconds, server_cpu

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self) -> str:
        cpu_ms = self.server_cpu / self.count * 1000
        return f"{self.label:<42} {self.rate:8.0f}/s   server CPU {cpu_ms:.2f} ms each"


async def timed(
    label: str, pid: int, count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> Measured:
    """Runs `one(i)` for i in range(count), `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    cpu0, started = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    return Measured(label, count, time.perf_counter() - started, cpu_seconds(pid) - cpu0)


class RawClient:
    """Keep-alive HTTP/1.1 JSON-RPC over asyncio streams: one connection per worker."""

    def __init__(self, url: str, connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._connections = connections

    async def open(self) -> None:
        for _ in range(self._connections):
            self._free.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self._free.empty():
            _, writer = self._free.get_nowait()
            writer.close()
            await writer.wait_closed()

    async def call(self, method: str, params: list[object]) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        reader, writer = await self._free.get()
        try:
            payload = body.encode()
            writer.write(
                b"POST / HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answer = json.loads(await reader.readexactly(length))
        finally:
            self._free.put_nowait((reader, writer))
        if status != b"200" or "error" in answer:
            raise RuntimeError(f"{method} failed: {status!r} {answer}")
        return answer["result"]


def signed_transfers(
    payers: list[Keypair], receiver: Pubkey, blockhash: Hash, count: int, offset: int
) -> list[bytes]:
    out = []
    for i in range(count):
        payer = payers[i % len(payers)]
        lamports = SOL // 1000 + offset + i
        ix = transfer(
            TransferParams(from_pubkey=payer.pubkey(), to_pubkey=receiver, lamports=lamports)
        )
        message = MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash)
        out.append(bytes(VersionedTransaction(message, [payer])))
    return out


async def bench(url: str, pid: int, balances: int, transfers: int, workers: int) -> list[Measured]:
    results: list[Measured] = []
    raw = RawClient(url, workers)
    await raw.open()
    async with AsyncClient(url, commitment=Confirmed) as client:
        probe = Keypair().pubkey()
        for _ in range(WARMUP // workers):  # open the pool's connections, warm both sides
            await asyncio.gather(*(client.get_balance(probe) for _ in range(workers)))

        async def py_balance(_: int) -> None:
            await client.get_balance(probe)

        async def raw_balance(_: int) -> None:
            await raw.call("getBalance", [str(probe)])

        results.append(
            await timed("getBalance, solana-py AsyncClient", pid, balances, workers, py_balance)
        )
        results.append(
            await timed("getBalance, raw HTTP/1.1 client", pid, balances, workers, raw_balance)
        )

        payers = [Keypair() for _ in range(workers)]
        for payer in payers:
            await client.request_airdrop(payer.pubkey(), 100 * SOL)
        receiver = Keypair().pubkey()
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        via_py = signed_transfers(payers, receiver, blockhash, transfers, 0)
        via_raw = signed_transfers(payers, receiver, blockhash, transfers, transfers)

        async def py_send(i: int) -> None:
            await client.send_raw_transaction(via_py[i])

        async def raw_send(i: int) -> None:
            encoded = base64.b64encode(via_raw[i]).decode()
            await raw.call("sendTransaction", [encoded, {"encoding": "base64"}])

        results.append(
            await timed("SOL transfer, solana-py (preflight)", pid, transfers, workers, py_send)
        )
        results.append(
            await timed("SOL transfer, raw HTTP/1.1 (preflight)", pid, transfers, workers, raw_send)
        )

        landed = (await client.get_balance(receiver)).value
        expected = sum(SOL // 1000 + i for i in range(2 * transfers))
        if landed != expected:
            raise SystemExit(f"transfers did not all land: {landed} != {expected} lamports")
    await raw.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balances", type=int, default=2000)
    parser.add_argument("--transfers", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if not (0 < args.balances <= 20_000 and 0 < args.transfers <= 5_000):
        raise SystemExit("counts are bounded: balances <= 20000, transfers <= 5000")
    if not 0 < args.concurrency <= 64:
        raise SystemExit("concurrency must be within 1..64")
    proc, url = start_server()
    try:
        results = asyncio.run(bench(url, proc.pid, args.balances, args.transfers, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    load = os.getloadavg()[0]
    print(
        f"sandbox RPC at {url}: server in its own process, {args.concurrency} in flight, "
        f"{os.cpu_count()} CPUs, load average {load:.2f}"
    )
    for measured in results:
        print(measured.line())
    balance_rate = max(m.rate for m in results[:2])
    transfer_rate = max(m.rate for m in results[2:])
    print(
        f"targets: getBalance >= {TARGET_BALANCES_PER_S}/s, transfers >= {TARGET_TRANSFERS_PER_S}/s"
    )
    ok = results[0].rate >= TARGET_BALANCES_PER_S and results[2].rate >= TARGET_TRANSFERS_PER_S
    print(
        "PASS (solana-py client)"
        if ok
        else f"BELOW TARGET with solana-py (best: {balance_rate:.0f} and {transfer_rate:.0f}/s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
