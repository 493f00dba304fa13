"""What can go wrong talking to the X Ads API, grouped by what the operator must do.

    XAdsError                      (a FlywheelError)
    ├── XAdsAuthError              credentials or account access: fix config (OperationalError)
    ├── XAdsFundingError           no funding instrument can pay for this (OperationalError)
    ├── XAdsRequestError           X refused the request: code/message/parameter (OperationalError)
    ├── XAdsRateLimited            wait `retry_after` seconds and try again (RateLimited)
    └── XAdsUnavailable            5xx or network after retries; outcome may be unknown (Temporary)

Messages carry what X said and what to check; never a secret, a header or a signature.
"""

from __future__ import annotations

from typing import Any

from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError

CREDENTIAL_VARIABLES = (
    "X_ADS_CONSUMER_KEY, X_ADS_CONSUMER_SECRET, X_ADS_ACCESS_TOKEN and X_ADS_ACCESS_TOKEN_SECRET"
)


class XAdsError(FlywheelError):
    """Base of every X Ads API failure."""


class XAdsAuthError(XAdsError, OperationalError):
    """X rejected the credentials (401) or the user's access to the ad account (403)."""

    def __init__(self, status: int, account_id: str, detail: str) -> None:
        self.status = status
        self.account_id = account_id
        super().__init__(
            f"X Ads API rejected the credentials ({status}): check {CREDENTIAL_VARIABLES}, "
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


class XAdsRateLimited(XAdsError, RateLimited):
    """X asked us to wait longer than we are allowed to; `retry_after` is in seconds."""


class XAdsUnavailable(XAdsError, TemporaryError):
    """X answered 5xx or could not be reached, after retries."""
