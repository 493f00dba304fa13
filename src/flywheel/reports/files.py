"""Report files on disk: written atomically, listed newest first, pruned by age.

Names carry their UTC time so that `ls` sorts them and retention can judge age without trusting
mtimes (which `cp` and `rsync` without `-t` reset):

    epoch-20261128T105700Z-<last 8 characters of the epoch id>.json
    snapshot-20261128T105700Z.json   (snapshot-20261128T105700Z-2.json on a same-second clash)
    ads-20261128T105700Z....json     (written by the ads engine; only pruned here)

A reader never sees half a file: each report is written to a hidden temporary file in the same
directory, flushed to disk, then renamed over its final name.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from flywheel.domain.epoch_state import EpochState
from flywheel.errors import OperationalError
from flywheel.persistence.atomic_file import write_atomic
from flywheel.reports.models import EpochReport
from flywheel.reports.snapshot import SnapshotReport

ReportKind = Literal["epoch", "snapshot", "ads"]
REPORT_KINDS: tuple[ReportKind, ...] = ("epoch", "snapshot", "ads")

_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# Only files that match this are ever listed or deleted: the prefix, then optionally the
# timestamp (if it is missing or malformed, the file's mtime stands in).
_REPORT_NAME = re.compile(
    r"^(?P<kind>epoch|snapshot|ads)-(?:(?P<ts>\d{8}T\d{6}Z)(?:-[A-Za-z0-9._-]*)?|.*)\.json$"
)
_FILE_MODE = 0o644


def timestamp(moment: datetime) -> str:
    """'20261128T105700Z': the UTC second of `moment`, sortable as text."""
    if moment.tzinfo is None:
        raise ValueError("report timestamps need an aware datetime")
    return moment.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def report_filename(report: EpochReport | SnapshotReport) -> str:
    if isinstance(report, EpochReport):
        # The id's tail keeps epochs started in the same second apart, and keeps the name
        # stable when a resumed epoch writes its report again (replaced, not duplicated).
        # Epoch ids are `<UTC timestamp>-<random hex>`: the random part is the useful tail.
        tail = report.epoch_id.rsplit("-", 1)[-1]
        suffix = re.sub(r"[^A-Za-z0-9]", "", tail)[-8:] or "epoch"
        return f"epoch-{timestamp(report.started_at)}-{suffix}.json"
    return f"snapshot-{timestamp(report.taken_at)}.json"


def render(report: EpochReport | SnapshotReport) -> str:
    """Pretty JSON with a trailing newline, exactly as written to disk."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def write_report(directory: Path, report: EpochReport | SnapshotReport) -> Path:
    """Write `report` into `directory` (created if missing); return its path."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationalError(
            f"cannot create the reports directory {directory} ({exc.strerror}): fix REPORTS_DIR"
            " or its permissions, then run again"
        ) from exc
    path = directory / report_filename(report)
    if isinstance(report, SnapshotReport):
        path = _free_name(path)
    write_atomic(path, render(report).encode("utf-8"), mode=_FILE_MODE)
    return path


def _free_name(path: Path) -> Path:
    # Two snapshots in one second are both kept: the second gets "-2", and so on.
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def load_report(path: Path) -> EpochReport | SnapshotReport:
    """Read a report file back into its model (unknown fields are ignored)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and data.get("kind") == "snapshot":
        return SnapshotReport.model_validate(data)
    return EpochReport.model_validate(data)


def report_time(path: Path) -> datetime | None:
    """When a report file was written, from its name, else its mtime; None if not a report."""
    match = _REPORT_NAME.match(path.name)
    if match is None:
        return None
    ts = match.group("ts")
    if ts is not None:
        with contextlib.suppress(ValueError):  # e.g. month 13: fall back to the mtime
            return datetime.strptime(ts, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _report_files(directory: Path, kinds: tuple[ReportKind, ...]) -> list[tuple[datetime, Path]]:
    if not directory.is_dir():
        return []
    found: list[tuple[datetime, Path]] = []
    for path in directory.iterdir():
        match = _REPORT_NAME.match(path.name)
        # Symlinks and directories are never ours to list or delete.
        if match is None or match.group("kind") not in kinds:
            continue
        if path.is_symlink() or not path.is_file():
            continue
        try:
            moment = report_time(path)
        except FileNotFoundError:  # deleted while we looked
            continue
        if moment is not None:
            found.append((moment, path))
    return found


def list_reports(directory: Path, kind: ReportKind) -> list[Path]:
    """Report files of `kind` in `directory`, newest first."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}; expected one of {REPORT_KINDS}")
    files = _report_files(directory, (kind,))
    files.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    return [path for _, path in files]


def prune_reports(
    directory: Path, older_than_days: int, now: datetime, *, dry_run: bool = False
) -> list[Path]:
    """Delete epoch-, snapshot- and ads- report files older than `older_than_days` days.

    Age is judged by the timestamp in the name (the mtime when there is none). Nothing else in
    the directory is touched. Returns the files deleted (or, with `dry_run`, that would be),
    oldest first.
    """
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    cutoff = now - timedelta(days=older_than_days)
    old = sorted(
        (item for item in _report_files(directory, REPORT_KINDS) if item[0] < cutoff),
        key=lambda item: (item[0], item[1].name),
    )
    deleted: list[Path] = []
    for _, path in old:
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:  # removed meanwhile by someone else: already pruned
                continue
        deleted.append(path)
    return deleted


class ReportDirectory:
    """The epoch runner's `ReportSink`: epoch reports as files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write_epoch(self, state: EpochState) -> str:
        # Idempotent for one epoch: the name depends only on its start and id, so a resumed
        # epoch replaces its report rather than adding a second one.
        return str(write_report(self.directory, EpochReport.from_state(state)))

    def write_snapshot(self, report: SnapshotReport) -> Path:
        return write_report(self.directory, report)
