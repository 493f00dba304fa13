"""Every error the flywheel raises on purpose, grouped by what the operator must do.

    FlywheelError
    ├── ConfigError            bad configuration or usage: fix it and run again (exit code 2)
    ├── OperationalError       the work failed and needs a person: stop, look, fix (exit code 1)
    │   ├── GuardRefused       a transaction an API built does something we did not ask for
    │   └── StateError         the state database is unusable or from a newer version
    │       └── StateFileGone  the file was deleted or replaced while in use: stop the service
    └── TemporaryError         the world hiccupped (RPC 429/5xx, timeouts): retry later
        ├── RateLimited        a service asked us to wait; `retry_after` says how long
        └── StaleTransaction   an API-built transaction's blockhash expired before we signed

Foreign exceptions (httpx, solana-py, sqlite3) are translated into these at the adapter that
meets them, so the core only ever handles this tree.
"""

from __future__ import annotations


class FlywheelError(Exception):
    """Base of every error raised on purpose."""


class ConfigError(FlywheelError):
    """The configuration is wrong; `problems` holds one actionable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class OperationalError(FlywheelError):
    """The work failed in a way that needs an operator."""


class GuardRefused(OperationalError):
    """The transaction guard refused to sign; the message says why."""


class StateError(OperationalError):
    """The state database cannot be used as it is."""


class StateFileGone(StateError):
    """The state file under an open database was deleted or replaced: nothing may go on."""


class TemporaryError(FlywheelError):
    """A transient failure; the same call may succeed later."""


class StaleTransaction(TemporaryError):
    """The transaction went stale before it was signed: build a fresh one, nothing is wrong."""


class RateLimited(TemporaryError):
    """A service answered 'too many requests'."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)
