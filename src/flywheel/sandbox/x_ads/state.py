"""Everything the X-Ads-compatible sandbox knows: credentials, the account, faults, limits.

One `XAdsSandboxState` is handed to `build_x_ads_app`; tests keep a reference and change it
while the server runs (faults, spend), and read it back (entities, the request log).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flywheel.sandbox.x_ads.oauth import OAuthCredentials, OAuthVerifier
from flywheel.sandbox.x_ads.store import XAdsStore

DEFAULT_ACCOUNT_ID = "18ce54d4x5t"
DEFAULT_CREDIT_LIMIT_MICRO = 1_000_000 * 10**6  # $1,000,000 of credit on the seeded credit line


@dataclass
class XAdsFaults:
    """Switchable at run time, from Python or through `POST /_sandbox/faults`."""

    rate_limited_until: int | None = None  # unix seconds: every API request is 429 until then
    server_errors_remaining: int = 0  # the next N API requests answer `server_error_status`
    server_error_status: int = 503
    unable_to_fund: bool = False  # every funding instrument reports able_to_fund: false

    def update(self, changes: Mapping[str, object], now: float) -> None:
        """Apply JSON changes all-or-nothing; `rate_limited_for_seconds` is a relative shortcut."""
        known = {*asdict(self), "rate_limited_for_seconds"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
        new = asdict(self)
        for name, value in changes.items():
            if name == "unable_to_fund":
                if not isinstance(value, bool):
                    raise ValueError("unable_to_fund must be true or false")
                new[name] = value
            elif name == "rate_limited_for_seconds":
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ValueError("rate_limited_for_seconds must be a non-negative number")
                new["rate_limited_until"] = math.ceil(now + value) if value else None
            elif value is None and name == "rate_limited_until":
                new[name] = None
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
            else:
                new[name] = value
        if not 500 <= new["server_error_status"] <= 599:
            raise ValueError("server_error_status must be a 5xx status")
        for name, value in new.items():
            setattr(self, name, value)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int


@dataclass(frozen=True)
class RateWindow:
    limit: int
    remaining: int
    reset: int  # unix seconds when the window starts over


class _FixedWindow:
    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.start, self.used = 0.0, 0

    def hit(self, now: float, limit: int) -> tuple[bool, RateWindow]:
        if now >= self.start + self.seconds:
            self.start, self.used = now, 0
        allowed = self.used < limit
        if allowed:
            self.used += 1
        reset = math.ceil(self.start + self.seconds)
        return allowed, RateWindow(limit, limit - self.used, reset)


@dataclass
class XAdsSandboxState:
    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str
    access_token_secret: str = field(repr=False)
    account_id: str = DEFAULT_ACCOUNT_ID
    currency: str = "USD"
    credit_limit_local_micro: int | None = DEFAULT_CREDIT_LIMIT_MICRO
    spend_micro_per_second: int = 1_000  # billed to each serving line item, within budget
    max_active_campaigns: int = 200
    write_limit_per_minute: int = 450
    read_limit_per_15_minutes: int = 10_000
    faults: XAdsFaults = field(default_factory=XAdsFaults)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    store: XAdsStore = field(init=False, repr=False)
    verifier: OAuthVerifier = field(init=False, repr=False)
    request_log: deque[RequestRecord] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.store = XAdsStore(
            account_id=self.account_id,
            currency=self.currency,
            credit_limit_local_micro=self.credit_limit_local_micro,
            funding_blocked=lambda: self.faults.unable_to_fund,
            max_active_campaigns=lambda: self.max_active_campaigns,
        )
        self.verifier = OAuthVerifier(
            OAuthCredentials(
                self.consumer_key,
                self.consumer_secret,
                self.access_token,
                self.access_token_secret,
            )
        )
        self.request_log = deque(maxlen=1000)
        self._reads = _FixedWindow(15 * 60)
        self._writes = _FixedWindow(60)
        self._accrued_at = self.clock()

    def update_faults(self, changes: Mapping[str, object]) -> dict[str, Any]:
        with self._lock:
            self.faults.update(changes, self.clock())
            return asdict(self.faults)

    def take_server_error(self) -> int | None:
        """The status to fail this request with, if a 5xx fault is armed."""
        with self._lock:
            if self.faults.server_errors_remaining <= 0:
                return None
            self.faults.server_errors_remaining -= 1
            return self.faults.server_error_status

    def rate_limit(self, method: str) -> tuple[bool, RateWindow]:
        now = self.clock()
        with self._lock:
            until = self.faults.rate_limited_until
            if until is not None and now < until:
                return False, RateWindow(self.read_limit_per_15_minutes, 0, until)
            if until is not None:
                self.faults.rate_limited_until = None
            if method == "GET":
                return self._reads.hit(now, self.read_limit_per_15_minutes)
            return self._writes.hit(now, self.write_limit_per_minute)

    def accrue_spend(self) -> None:
        """Bill serving line items for the time passed, whole micros only; the rest carries."""
        now = self.clock()
        with self._lock:
            rate = self.spend_micro_per_second
            if rate <= 0:
                self._accrued_at = now
                return
            micro = int((now - self._accrued_at) * rate)
            if micro <= 0:
                return
            self._accrued_at += micro / rate
        self.store.accrue(micro)

    def record(self, method: str, path: str, status: int) -> None:
        self.request_log.append(RequestRecord(method, path, status))

    def statuses(self) -> list[int]:
        return [record.status for record in list(self.request_log)]

    def dump(self) -> dict[str, Any]:
        with self._lock:
            faults = asdict(self.faults)
        return {
            **self.store.snapshot(),
            "faults": faults,
            "requests": [asdict(r) for r in list(self.request_log)],
        }
