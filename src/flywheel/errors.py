"""Every error the flywheel raises on purpose, grouped by what happens next.

    FlywheelError
    ├── ConfigError              the operator's to fix: bad configuration or usage (exit code 2);
    │   └── KeypairFileError     the executor keypair file is missing, unsafe or malformed
    ├── OperationalError         stops the bot: the work failed and needs a person (exit code 1;
    │   │                        the service counts it towards the circuit breaker)
    │   ├── GuardRefused         a transaction an API built does something we did not ask for
    │   ├── BalanceMismatch      the executor holds what its journal cannot explain: stop
    │   ├── ExpiryUnproven       a blockhash looks expired, but this node cannot prove the
    │   │                        transaction never landed: use a full-history RPC
    │   ├── StateError           the state database is unusable or from a newer version
    │   │   └── StateFileGone    the file was deleted or replaced while in use: stop the service
    │   ├── JupiterApiError      Jupiter refused the request (no route, bad key, failing swap)
    │   └── XAdsError ─┬── XAdsAuthError       X rejected the credentials or account access
    │                  ├── XAdsFundingError    no funding instrument can pay for the campaign
    │                  └── XAdsRequestError    X refused a request (its code and message)
    └── TemporaryError           retried later: the world hiccupped (429/5xx, timeouts, a lock);
        │                        the next call or the next epoch may succeed, nobody need act
        ├── RateLimited          a service asked us to wait; `retry_after` says how long
        │   └── XAdsRateLimited  X's limit resets later than we may wait
        ├── StaleTransaction     an API-built transaction's blockhash expired before we signed
        ├── SlippageExceeded     the price moved past MAX_SLIPPAGE_BPS since the quote: re-quote
        ├── OutcomeUnknown       a write was sent and no answer says whether it took effect: it
        │                        is looked up, never sent again blindly
        ├── XAdsUnavailable      X answered 5xx or could not be reached, after retries
        │   └── XAdsOutcomeUnknown  ... on a write (also an OutcomeUnknown)
        ├── InFlight             an epoch stopped with a transaction in flight: the next run
        │                        reconciles it and resumes (exit code 1 for that run)
        └── EpochLocked          another process is running an epoch on the same state

Every X Ads error is also an `XAdsError`, so the ads engine can catch that family alone.
Foreign exceptions (httpx, solana-py, sqlite3) are translated into these at the adapter that
meets them, so the core only ever handles this tree.
"""

from __future__ import annotations

from typing import Any

X_ADS_CREDENTIAL_VARIABLES = (
    "X_ADS_CONSUMER_KEY, X_ADS_CONSUMER_SECRET, X_ADS_ACCESS_TOKEN and X_ADS_ACCESS_TOKEN_SECRET"
)


class FlywheelError(Exception):
    """Base of every error raised on purpose."""


# --- the operator's to fix -------------------------------------------------------------------


class ConfigError(FlywheelError):
    """The configuration is wrong; `problems` holds one actionable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class KeypairFileError(ConfigError, ValueError):
    """The keypair file cannot be used; `what` says why, `fix` says what to do.

    Also a ValueError, so a settings validator that meets it reports it as a bad value."""

    def __init__(self, what: str, fix: str) -> None:
        self.what = what
        self.fix = fix
        super().__init__([f"{what}; {fix}"])


# --- stops the bot ---------------------------------------------------------------------------


class OperationalError(FlywheelError):
    """The work failed in a way that needs an operator."""


class GuardRefused(OperationalError):
    """The transaction guard refused to sign; the message says why."""


class BalanceMismatch(OperationalError):
    """The executor holds what its journal cannot explain: stop before spending again."""


class ExpiryUnproven(OperationalError):
    """The blockhash looks expired but this node cannot prove the transaction never landed."""


class StateError(OperationalError):
    """The state database cannot be used as it is."""


class JupiterApiError(OperationalError):
    """Jupiter refused a request; `code` is its errorCode (e.g. NO_ROUTES_FOUND) if it gave one."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class XAdsError(FlywheelError):
    """Base of every X Ads API failure (each is also an OperationalError or a TemporaryError)."""


class XAdsAuthError(XAdsError, OperationalError):
    """X rejected the credentials (401) or the user's access to the ad account (403)."""

    def __init__(self, status: int, account_id: str, detail: str) -> None:
        self.status = status
        self.account_id = account_id
        super().__init__(
            f"X Ads API rejected the credentials ({status}): check {X_ADS_CREDENTIAL_VARIABLES}, "
            f"and that the user has access to ads account {account_id}. X said: {detail}"
        )


class XAdsFundingError(XAdsError, OperationalError):
    """No funding instrument can pay for the campaign; `reasons` says why, one per instrument."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = list(reasons or [])
        super().__init__(message)


class XAdsRequestError(XAdsError, OperationalError):
    """X refused a request; `code`, `api_message` and `parameter` are X's own words."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        code: str | int | None,
        api_message: str,
        parameter: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.api_message = api_message
        self.parameter = parameter
        self.errors = list(errors or [])
        where = f" (parameter: {parameter})" if parameter else ""
        super().__init__(
            f"X Ads API refused {method} {path} with {status} {code}: {api_message}{where}"
        )


# --- retried later ---------------------------------------------------------------------------


class StateFileGone(StateError):
    """The state file under an open database was deleted or replaced: nothing may go on."""


class TemporaryError(FlywheelError):
    """A transient failure; the same call may succeed later. `status` is the HTTP status, if
    the failure had one (the retry log shows it)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class StaleTransaction(TemporaryError):
    """The transaction went stale before it was signed: build a fresh one, nothing is wrong."""


class RateLimited(TemporaryError):
    """A service answered 'too many requests'."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=429)


class OutcomeUnknown(TemporaryError):
    """A write went out and no answer says whether it took effect. Never re-sent as it is:
    the caller looks up what happened (the X Ads engine finds its entities by name)."""


class XAdsRateLimited(XAdsError, RateLimited):
    """X asked us to wait longer than we are allowed to; `retry_after` is in seconds."""


class XAdsUnavailable(XAdsError, TemporaryError):
    """X answered 5xx or could not be reached, after retries."""


class XAdsOutcomeUnknown(XAdsUnavailable, OutcomeUnknown):
    """A write to X got a 5xx or no answer: it may have happened; look it up."""


class InFlight(TemporaryError):
    """An error struck while a transaction was in flight; the epoch stays open to reconcile."""


class EpochLocked(TemporaryError):
    """Another process holds the epoch lock."""


class SlippageExceeded(TemporaryError):
    """A swap's simulation failed with the DEX's slippage error: the quote is stale, not hostile.

    Nothing was signed; a fresh quote may pass. The message starts with the runbook's
    "Slippage exceeds maximum".
    """
