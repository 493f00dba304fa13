"""bench/execution.py on a tiny configuration: the table's shape and what the searcher took."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.execution", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_bench_prints_one_row_a_path_and_the_sandwich_loss_of_each() -> None:
    result = run_bench("--sizes", "100", "--paths", "a,b", "--slot-ms", "100")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "shortfall bps" in line)
    assert header.split()[:6] == ["size", "path", "SOL", "in", "shortfall", "bps"]
    rows = [line for line in lines if line.lstrip().startswith("1.0% (")]
    assert [row.split()[1] for row in rows] == ["(a)", "(b)"]
    figures = {row.split()[1]: row.split() for row in rows}
    # size, (x), label, SOL in, shortfall, sandwich, fees, txs, seconds, then 4 ratios to (a)
    assert all(len(cells) == 13 for cells in figures.values())
    a, b = figures["(a)"], figures["(b)"]
    assert a[2] == "v1-one-shot" and b[2] == "v2-protected"
    assert float(a[3]) == float(b[3]) == 1.0  # both bought 1% of the pool's 100 SOL
    assert float(a[5]) > 0  # the public path with 300 bps of room was sandwiched
    assert float(b[5]) == 0  # the marked swap through the Jito engine was not
    assert float(a[4]) > float(b[4]) + float(a[5]) - 1  # (a) paid the sandwich on top
    assert a[9:] == ["1.00x"] * 4 and b[9] != "1.00x"  # ratios are against (a)
    assert int(b[7]) < int(a[7])  # v2 buys and burns in one transaction


def test_the_bench_refuses_what_it_cannot_run() -> None:
    for args in (["--paths", "a,x"], ["--sizes", "ten"], ["--slot-ms", "0"]):
        result = run_bench(*args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert "--" in result.stderr
