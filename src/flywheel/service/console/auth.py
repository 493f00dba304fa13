"""Who may act in the console: the operator, proven by the webhook secret.

A login form takes the secret once and sets a session cookie (HttpOnly, SameSite=Strict,
Secure over https) that is an HMAC of its expiry and a nonce under a key derived from the
secret: nothing to store, and rotating WEBHOOK_SECRET logs everyone out. Every form carries a
CSRF token bound to the session. Scripts send `Authorization: Bearer <WEBHOOK_SECRET>` instead
(a header no other site can make a browser send, so no CSRF token is needed with it).
Failed logins, wrong tokens and bad CSRF tokens count against the client in the same kind of
limiter as the webhooks (10 a minute); a blocked client is refused even with the right secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from flywheel.service.http_app import FailureLimiter, usable_secret

COOKIE = "flywheel_session"
SESSION_SECONDS = 12 * 3600

Who = Literal["operator", "anonymous", "refused"]


@dataclass(frozen=True)
class Identity:
    who: Who
    session_nonce: str | None = None  # set when the operator came with a session cookie
    why: str = ""  # for a refused one: what was wrong (never the secret)


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


class ConsoleAuth:
    def __init__(
        self,
        secret: str | None,
        limiter: FailureLimiter | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        usable = usable_secret(secret)
        self._secret = None if usable is None else usable.encode()
        self._key = (
            None
            if self._secret is None
            else hmac.new(self._secret, b"flywheel console session v1", hashlib.sha256).digest()
        )
        self.limiter = limiter or FailureLimiter()
        self._now = now

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def _mac(self, text: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    # --- the secret itself ---------------------------------------------------------------

    def secret_matches(self, given: bytes) -> bool:
        return self._secret is not None and hmac.compare_digest(given, self._secret)

    # --- sessions ------------------------------------------------------------------------

    def new_session(self) -> str:
        expiry = int(self._now()) + SESSION_SECONDS
        body = f"{expiry}.{secrets.token_urlsafe(18)}"
        return f"{body}.{self._mac(body)}"

    def session_nonce(self, cookie: str | None) -> str | None:
        """The nonce of a valid, unexpired session cookie, else None."""
        if cookie is None or self._key is None:
            return None
        body, _, mac = cookie.rpartition(".")
        expiry, _, nonce = body.partition(".")
        if not (expiry.isdigit() and nonce and hmac.compare_digest(mac, self._mac(body))):
            return None
        return nonce if int(expiry) > self._now() else None

    def csrf_token(self, nonce: str) -> str:
        return self._mac(f"csrf.{nonce}")

    def csrf_ok(self, identity: Identity, token: str | None) -> bool:
        if identity.session_nonce is None:
            return True  # came with the Bearer header: a browser cannot be made to send it
        return token is not None and hmac.compare_digest(
            token, self.csrf_token(identity.session_nonce)
        )

    def cookie_header(self, value: str, *, secure: bool, max_age: int = SESSION_SECONDS) -> str:
        flags = f"Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
        return f"{COOKIE}={value}; {flags}" + ("; Secure" if secure else "")

    # --- a request -----------------------------------------------------------------------

    def identify(self, request: Request) -> Identity:
        """Operator (Bearer or session), anonymous (neither), or refused (a wrong token)."""
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() == "bearer" and self.secret_matches(
                token.strip().encode("latin-1")  # Starlette decoded the header as latin-1
            ):
                return Identity("operator")
            return Identity("refused", why="invalid Authorization: Bearer token")
        nonce = self.session_nonce(request.cookies.get(COOKIE))
        if nonce is not None:
            return Identity("operator", session_nonce=nonce)
        return Identity("anonymous")

    def retry_after(self, request: Request) -> float | None:
        return self.limiter.retry_after(client_of(request))

    def record_failure(self, request: Request) -> None:
        self.limiter.record_failure(client_of(request))
