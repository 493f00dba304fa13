"""One epoch at a time across processes: an exclusive flock on `<state dir>/flywheel.lock`.

`flywheel run` takes it around each epoch it runs and `flywheel epoch` around its one epoch, so
the CLI and the service never run two epochs on the same state at once. The kernel drops a flock
when its process dies, so a crash never leaves a stale lock behind.

The same mechanism on `<state dir>/flywheel-service.lock`, held for a service's whole life,
keeps a second `flywheel run` from scheduling epochs on the same state.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flywheel.errors import EpochLocked, OperationalError

LOCK_NAME = "flywheel.lock"
SERVICE_LOCK_NAME = "flywheel-service.lock"


def lock_path_for(state_db_path: Path) -> Path:
    """The epoch lock of a state database: beside it, in the state directory."""
    return Path(state_db_path).parent / LOCK_NAME


def service_lock_path_for(state_db_path: Path) -> Path:
    return Path(state_db_path).parent / SERVICE_LOCK_NAME


class FileLock:
    """An exclusive advisory lock on one file; `acquire` never blocks unless asked to wait."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait_seconds: float = 0.0) -> None:
        """Take the lock, polling up to `wait_seconds`; EpochLocked if another process keeps
        it. Polling (not a blocking flock) keeps a stuck holder from hanging the caller."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise OperationalError(f"cannot open lock file {self.path}: {exc.strerror}") from exc
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise EpochLocked(
                        f"another process holds {self.path} (an epoch or a service is running "
                        "on this state); wait for it to finish"
                    ) from None
                time.sleep(0.05)
                continue
            except OSError as exc:
                os.close(fd)
                raise OperationalError(f"cannot lock {self.path}: {exc.strerror}") from exc
            break
        # The holder's pid, for an operator wondering who has it (informative only).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@contextmanager
def epoch_lock(path: Path, *, wait_seconds: float = 0.0) -> Iterator[FileLock]:
    """Hold the epoch lock at `path` (see `lock_path_for`) for the block; EpochLocked if
    another process holds it for longer than `wait_seconds`."""
    lock = FileLock(path)
    lock.acquire(wait_seconds=wait_seconds)
    try:
        yield lock
    finally:
        lock.release()
