"""Report files on disk: atomic writes, listing, and retention (the library and the real CLI)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.domain.epoch_state import EpochError, EpochMode, EpochState, EpochStatus
from flywheel.domain.trade import Quote
from flywheel.errors import OperationalError
from flywheel.ports import ReportSink
from flywheel.reports.files import (
    ReportDirectory,
    list_reports,
    load_report,
    prune_reports,
    write_report,
)
from flywheel.reports.models import EpochReport
from flywheel.reports.snapshot import SnapshotReport

FLYWHEEL = Path(sys.executable).parent / "flywheel"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def epoch_report(epoch_id: str = "e-0000aaaa", started_at: datetime = NOW) -> EpochReport:
    state = EpochState(
        id=epoch_id,
        mode=EpochMode.LIVE,
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=5),
        status=EpochStatus.FAILED,
        fees_in_lamports=1_000,
        quote=Quote(
            in_lamports=700, out_amount=5, min_out_amount=4, price_impact_bps=1, slippage_bps=300
        ),
        errors=[EpochError(step="buyback.send", kind="TemporaryError", message="RPC 503")],
    )
    return EpochReport.from_state(state)


def snapshot_report(taken_at: datetime = NOW) -> SnapshotReport:
    return SnapshotReport.create(
        taken_at=taken_at, token_mint="Mint1", sol_usd=None, token_usd=None, wallets=[]
    )


def touch(path: Path, mtime: datetime | None = None) -> Path:
    path.write_text("{}\n")
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def test_write_report_is_atomic_pretty_and_readable(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "reports"  # created on demand
    report = epoch_report("01JDXK3M7Q8R9S0T1V2W3X4Y5Z")
    path = write_report(directory, report)

    assert path.parent == directory
    assert path.name == "epoch-20261128T120000Z-2W3X4Y5Z.json"
    assert os.listdir(directory) == [path.name]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text.startswith('{\n  "schema_version": 1,\n')
    assert json.loads(text)["errors"][0]["message"] == "RPC 503"
    assert load_report(path) == report


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    report = epoch_report()
    path = write_report(tmp_path, report)
    before = path.read_bytes()
    # A directory squatting on the target name makes the final rename fail.
    blocked = epoch_report("e-blocked1")
    squatter = tmp_path / "epoch-20261128T120000Z-blocked1.json"
    squatter.mkdir()
    with pytest.raises(OperationalError, match=r"cannot write .*free disk space"):
        write_report(tmp_path, blocked)
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, squatter.name])
    assert path.read_bytes() == before


def test_rewriting_an_epoch_replaces_its_file(tmp_path: Path) -> None:
    first = write_report(tmp_path, epoch_report("e-resumed1"))
    again = write_report(tmp_path, epoch_report("e-resumed1"))
    other = write_report(tmp_path, epoch_report("e-sibling2"))  # same second, other epoch
    assert first == again
    assert other != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


def test_snapshots_in_the_same_second_are_all_kept(tmp_path: Path) -> None:
    first = write_report(tmp_path, snapshot_report())
    second = write_report(tmp_path, snapshot_report())
    assert first.name == "snapshot-20261128T120000Z.json"
    assert second.name == "snapshot-20261128T120000Z-2.json"
    assert isinstance(load_report(second), SnapshotReport)


def test_list_reports_newest_first_by_kind(tmp_path: Path) -> None:
    older = write_report(tmp_path, epoch_report("e-00000old", NOW - timedelta(hours=2)))
    newer = write_report(tmp_path, epoch_report("e-00000new", NOW))
    middle = write_report(tmp_path, epoch_report("e-00000mid", NOW - timedelta(hours=1)))
    snap = write_report(tmp_path, snapshot_report())
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "epoch-notes.txt")

    assert list_reports(tmp_path, "epoch") == [newer, middle, older]
    assert list_reports(tmp_path, "snapshot") == [snap]
    assert list_reports(tmp_path, "ads") == []
    assert list_reports(tmp_path / "missing", "epoch") == []


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def populate(directory: Path, now: datetime) -> tuple[set[str], set[str]]:
    """Report files old and new (relative to `now`), and things pruning must never touch."""
    old_time = now - timedelta(days=45)
    directory.mkdir(parents=True, exist_ok=True)
    old = {
        write_report(directory, epoch_report("e-0000old1", old_time)).name,
        write_report(directory, snapshot_report(old_time)).name,
        touch(directory / f"ads-{stamp(old_time)}-campaign.json").name,
        # No timestamp in the name: judged by its mtime.
        touch(directory / "ads-manual-plan.json", mtime=old_time).name,
    }
    keep = {
        write_report(directory, epoch_report("e-0000new1", now - timedelta(days=1))).name,
        write_report(directory, snapshot_report(now - timedelta(days=29))).name,
        # A report whose name says new, copied long ago: the name wins over the mtime.
        touch(
            directory / f"epoch-{stamp(now - timedelta(days=2))}-copied01.json", mtime=old_time
        ).name,
        touch(directory / "ads-recent-plan.json", mtime=now).name,
        # Not reports, however old.
        touch(directory / "notes.txt", mtime=old_time).name,
        touch(directory / "epoch-20200101T000000Z-x.json.bak", mtime=old_time).name,
        touch(directory / "backup-epoch-20200101T000000Z.json", mtime=old_time).name,
        touch(directory / ".epoch-20200101T000000Z-x.json.abc.tmp", mtime=old_time).name,
    }
    (directory / "epoch-20200101T000000Z-dir.json").mkdir()
    keep.add("epoch-20200101T000000Z-dir.json")
    outside = touch(directory.parent / "epoch-20200101T000000Z-outside.json", mtime=old_time)
    (directory / "epoch-20200101T000000Z-link.json").symlink_to(outside)
    keep.add("epoch-20200101T000000Z-link.json")
    return old, keep


def test_prune_deletes_only_old_report_files(tmp_path: Path) -> None:
    directory = tmp_path / "reports"
    old, keep = populate(directory, NOW)

    would = prune_reports(directory, 30, NOW, dry_run=True)
    assert {p.name for p in would} == old
    assert {p.name for p in directory.iterdir()} == old | keep  # dry run deleted nothing

    deleted = prune_reports(directory, 30, NOW)
    assert {p.name for p in deleted} == old
    assert {p.name for p in directory.iterdir()} == keep
    assert (tmp_path / "epoch-20200101T000000Z-outside.json").exists()
    assert prune_reports(directory, 30, NOW) == []


def test_prune_boundary_and_arguments(tmp_path: Path) -> None:
    at_cutoff = touch(tmp_path / "epoch-20261029T120000Z-edge.json")  # exactly 30 days
    assert prune_reports(tmp_path, 30, NOW) == []
    assert prune_reports(tmp_path, 30, NOW + timedelta(seconds=1)) == [at_cutoff]
    with pytest.raises(ValueError, match="at least 1"):
        prune_reports(tmp_path, 0, NOW)
    with pytest.raises(ValueError, match="aware"):
        prune_reports(tmp_path, 30, datetime(2026, 11, 28))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment: no REPORTS_DIR or other settings leak in from the caller.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    return subprocess.run(
        [str(FLYWHEEL), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_prune_deletes_old_reports_only(tmp_path: Path) -> None:
    directory = tmp_path / "reports-elsewhere"
    old, keep = populate(directory, datetime.now(UTC))  # the CLI uses the real clock

    dry = run_cli(
        "reports",
        "prune",
        "--days",
        "30",
        "--reports-dir",
        str(directory),
        "--dry-run",
        cwd=tmp_path,
    )
    assert dry.returncode == 0, dry.stderr
    assert {p.name for p in directory.iterdir()} == old | keep

    result = run_cli(
        "reports", "prune", "--days", "30", "--reports-dir", str(directory), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in directory.iterdir()} == keep
    for name in old:
        assert name in result.stdout
    assert f"Deleted {len(old)} reports older than 30 days" in result.stdout


@pytest.mark.parametrize("days", ["0", "-3"])
def test_cli_rejects_days_below_one(tmp_path: Path, days: str) -> None:
    old = touch(tmp_path / "epoch-20000101T000000Z-ancient1.json")
    result = run_cli(
        "reports", "prune", "--days", days, "--reports-dir", str(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "--days" in result.stderr
    assert "must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert old.exists()


def write_env(directory: Path, reports_dir: Path) -> Path:
    keypair = directory / "executor.json"
    keypair.write_text(Keypair().to_json())
    keypair.chmod(0o600)
    env_file = directory / ".env"
    env_file.write_text(
        f"EXECUTOR_KEYPAIR_PATH={keypair}\n"
        f"FEE_COLLECTOR_PUBKEY={Keypair().pubkey()}\n"
        f"TOKEN_MINT={Keypair().pubkey()}\n"
        f"REPORTS_DIR={reports_dir}\n"
    )
    return env_file


def test_cli_takes_reports_dir_from_the_config(tmp_path: Path) -> None:
    configured = tmp_path / "var" / "reports"
    configured.mkdir(parents=True)
    write_env(tmp_path, configured)
    old = touch(configured / "epoch-20000101T000000Z-ancient1.json")
    decoy = tmp_path / "reports"  # the default, which must not be used
    decoy.mkdir()
    decoy_old = touch(decoy / "epoch-20000101T000000Z-ancient2.json")

    result = run_cli("reports", "prune", "--days", "30", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not old.exists()
    assert decoy_old.exists()


def test_cli_falls_back_to_reports_when_config_does_not_load(tmp_path: Path) -> None:
    default = tmp_path / "reports"
    default.mkdir()
    old = touch(default / "snapshot-20000101T000000Z.json")
    result = run_cli("reports", "prune", "--days", "30", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not old.exists()
    assert "configuration did not load" in result.stderr


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_runbook_jq_commands_read_a_written_report(tmp_path: Path) -> None:
    write_report(tmp_path, epoch_report())

    def jq(expr: str) -> object:
        # As the runbook types it: cat reports/epoch-*.json | jq '<expr>'
        files = sorted(tmp_path.glob("epoch-*.json"))
        stream = "".join(f.read_text(encoding="utf-8") for f in files)
        out = subprocess.run(
            ["jq", "-c", expr], input=stream, capture_output=True, text=True, check=True
        ).stdout
        return json.loads(out)

    assert jq(".errors") == [
        {"step": "buyback.send", "kind": "TemporaryError", "message": "RPC 503"}
    ]
    assert jq(".execution.buyback.quote.other_amount_threshold") == 4
    assert jq(".execution.ads.budget_usd") == 0
    assert jq(".execution.ads.status") == "skipped"


def test_report_directory_is_an_idempotent_sink(tmp_path: Path) -> None:
    sink: ReportSink = ReportDirectory(tmp_path / "reports")
    state = EpochState(id="e-sink0001", mode=EpochMode.LIVE, started_at=NOW, fees_in_lamports=7)
    first = sink.write_epoch(state)
    state.finished_at = NOW + timedelta(seconds=9)
    second = sink.write_epoch(state)  # a resumed epoch writes again
    assert first == second
    assert list_reports(tmp_path / "reports", "epoch") == [Path(first)]
    report = load_report(Path(first))
    assert isinstance(report, EpochReport)
    assert report.finished_at == NOW + timedelta(seconds=9)
    assert report.accounting.carried_out_lamports == 7
