"""A progress bar for long fee detections (FEE_START=all on a collector with a long history)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

# Below this many transactions a detection takes a second or two: no bar, no noise.
SHOW_FROM = 500


class BackfillProgress:
    """The fee source's `progress(read, total)` callback, drawn on stderr once it is worth it."""

    def __init__(self, show_from: int = SHOW_FROM, console: Console | None = None) -> None:
        self.show_from = show_from
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, read: int, total: int) -> None:
        if total < self.show_from:
            return
        if self._progress is None:
            self._progress = Progress(
                "fee history",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("detect", total=total)
        assert self._task is not None
        self._progress.update(self._task, completed=read, total=total)

    def __enter__(self) -> BackfillProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
