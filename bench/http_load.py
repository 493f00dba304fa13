"""Load on the service's HTTP side (issue 5): 1,000 requests with bad tokens and 100 concurrent
valid triggers must leave exactly one epoch run and a healthy service.

Run: .venv/bin/python bench/http_load.py [--bad 1000] [--triggers 100] [--land-delay 0.5]

The service runs in its own process (tests/service/serve_fakes.py: the real FlywheelService,
uvicorn on 127.0.0.1, a real EpochRunner on a SQLite file, an in-memory chain whose every
transaction takes --land-delay seconds to land). Bad tokens come from 20 loopback addresses
(127.0.0.2-21), so the per-client rate limit answers most of them with 429; the valid triggers
come from 127.0.0.1. While the load (from a child process) runs, a probe polls GET /health on
its own connection, one request after another; its latencies give p50 and p99. The service's
resident memory is read from /proc/<pid>/status. Counts are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "service" / "serve_fakes.py"
SECRET = "s3cret-" + "x" * 40  # the secret serve_fakes.py configures
ATTACKER_ADDRESSES = [f"127.0.0.{n}" for n in range(2, 22)]


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bad_requests(base: str, total: int, concurrency: int) -> Counter[int]:
    codes: Counter[int] = Counter()
    clients = [
        httpx.AsyncClient(
            base_url=base,
            timeout=30,
            transport=httpx.AsyncHTTPTransport(local_address=address),
        )
        for address in ATTACKER_ADDRESSES
    ]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)

    async def worker() -> None:
        while True:
            try:
                n = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            client = clients[n % len(clients)]
            headers = {"Authorization": f"Bearer wrong-{n:06d}-" + "y" * 30}
            if n % 10 == 0:
                headers = {}  # no header at all
            elif n % 10 == 1:
                headers = {"Authorization": f"Basic {SECRET}"}  # wrong scheme
            response = await client.post("/webhook/trigger", headers=headers)
            codes[response.status_code] += 1

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return codes


async def valid_triggers(base: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        headers = {"Authorization": f"Bearer {SECRET}"}
        return list(
            await asyncio.gather(
                *(client.post("/webhook/trigger", headers=headers) for _ in range(count))
            )
        )


def probe_health(base: str, stop: threading.Event, latencies: list[float]) -> None:
    """Sequential GETs on their own keep-alive connection, timed end to end."""
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set() and len(latencies) < 100_000:
            started = time.perf_counter()
            response = client.get("/health")
            latencies.append(time.perf_counter() - started)
            assert response.status_code in (200, 503)


def generate_load(base: str, args: argparse.Namespace, out: Queue[dict[str, Any]]) -> None:
    """The attackers and the triggers, in a process of their own, so that their CPU cost does
    not show up as /health latency measured here."""

    async def run() -> dict[str, Any]:
        started = time.perf_counter()
        bad_task = asyncio.create_task(bad_requests(base, args.bad, args.concurrency))
        await asyncio.sleep(0.05)  # the triggers land in the middle of the bad traffic
        triggers = await valid_triggers(base, args.triggers)
        bad_codes = await bad_task
        return {
            "bad_codes": dict(bad_codes),
            "trigger_codes": dict(Counter(r.status_code for r in triggers)),
            "epoch_ids": sorted({str(r.json().get("epochId")) for r in triggers}),
            "load_seconds": time.perf_counter() - started,
        }

    out.put(asyncio.run(run()))


def load(base: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[float]]:
    latencies: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=probe_health, args=(base, stop, latencies))
    probe.start()
    spawn = multiprocessing.get_context("spawn")  # not fork: this process runs a thread
    results: Queue[dict[str, Any]] = spawn.Queue()
    generator = spawn.Process(target=generate_load, args=(base, args, results))
    generator.start()
    try:
        result = results.get(timeout=120)
    finally:
        generator.join(timeout=30)
        stop.set()
        probe.join()
    return result, latencies


async def settle(base: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(300):
            health: dict[str, object] = (await client.get("/health")).json()
            if not health["epochRunning"]:
                return health
            await asyncio.sleep(0.1)
    raise SystemExit("the epoch did not finish within 30 s")


def count_epochs(db: Path) -> Counter[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status FROM epochs").fetchall()
    return Counter(str(row[0]) for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bad", type=int, default=1000, help="requests with bad tokens")
    parser.add_argument("--triggers", type=int, default=100, help="concurrent valid triggers")
    parser.add_argument("--concurrency", type=int, default=50, help="bad-token connections")
    parser.add_argument("--land-delay", type=float, default=0.5, help="seconds per transaction")
    args = parser.parse_args()
    if not (0 < args.bad <= 100_000 and 0 < args.triggers <= 1000):
        parser.error("keep the load bounded: --bad <= 100000, --triggers <= 1000")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "state" / "flywheel.sqlite"
        log = (Path(tmp) / "service.log").open("w")
        server = subprocess.Popen(
            [sys.executable, str(SERVER), str(db), str(args.land_delay)],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert server.stdout is not None
            ports = json.loads(server.stdout.readline())
            base = f"http://127.0.0.1:{ports['http']}"
            idle = memory_kib(server.pid)
            cpu_before = cpu_seconds(server.pid)
            result, latencies = load(base, args)
            cpu = cpu_seconds(server.pid) - cpu_before
            health = asyncio.run(settle(base))
            loaded = memory_kib(server.pid)
            metrics = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=10).text
            server.send_signal(signal.SIGTERM)
            exit_code = server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            if server.stdout is not None:
                server.stdout.close()
            log.close()
        epochs = count_epochs(db)

    millis = [seconds * 1000 for seconds in latencies]
    trigger_codes = Counter(result["trigger_codes"])
    bad_codes = Counter(result["bad_codes"])
    epoch_ids = {i for i in result["epoch_ids"] if i != "None"}
    print(
        f"load: {args.bad} bad-token requests + {args.triggers} concurrent valid triggers "
        f"in {result['load_seconds']:.2f} s"
    )
    print(f"bad-token answers: {dict(sorted(bad_codes.items()))}")
    print(f"valid-trigger answers: {dict(sorted(trigger_codes.items()))}")
    print(f"epochs in the state database: {dict(epochs)}; ids answered: {len(epoch_ids)}")
    print(
        f"/health under load: {len(millis)} requests, p50 {statistics.median(millis):.2f} ms, "
        f"p99 {percentile(millis, 0.99):.2f} ms, max {max(millis):.2f} ms"
    )
    requests = args.bad + args.triggers + len(millis)
    print(f"service CPU during the load: {cpu:.2f} s ({cpu / requests * 1000:.2f} ms a request)")
    print(
        f"service memory: VmRSS idle {idle['VmRSS'] / 1024:.1f} MiB, after load "
        f"{loaded['VmRSS'] / 1024:.1f} MiB (peak VmHWM {loaded['VmHWM'] / 1024:.1f} MiB)"
    )
    print(f"after the load: /health {health['status']}, SIGTERM exit code {exit_code}")

    checks = {
        "exactly one trigger accepted": trigger_codes.get(202) == 1,
        "every other trigger got 409": trigger_codes.get(409) == args.triggers - 1,
        "no bad token got through": set(bad_codes) <= {401, 429},
        "exactly one epoch ran, and succeeded": epochs == Counter({"succeeded": 1}),
        "one epoch id answered": len(epoch_ids) == 1,
        "healthy afterwards": health["status"] == "healthy",
        "metrics agree": 'flywheel_epochs_total{status="succeeded"} 1.0' in metrics,
        "clean exit on SIGTERM": exit_code == 0,
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
