"""OAuth 1.0a (HMAC-SHA1) verification of requests to the X-Ads-compatible sandbox.

X signs nothing for us: it checks the client's signature over the method, the base URL and
every parameter (query string, form body and `oauth_*` header fields) with the consumer secret
and the access-token secret. We rebuild that base string from what actually arrived, with
authlib's RFC 5849 helpers, so a client that signs anything wrong is caught here as it would be
by X, with X's answer: 401 and error code 32.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.request import parse_http_list, parse_keqv_list

from authlib.oauth1.rfc5849.signature import construct_base_string, hmac_sha1_signature
from authlib.oauth1.rfc5849.util import unescape

from flywheel.sandbox.x_ads.params import ApiError

TIMESTAMP_TOLERANCE_SECONDS = 900
_NONCE_MEMORY = 10_000


def auth_error(message: str = "Could not authenticate you.") -> ApiError:
    return ApiError(401, 32, message)


@dataclass
class OAuthCredentials:
    """The one app and user the sandbox trusts; secrets never leave this object."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    access_token: str
    access_token_secret: str = field(repr=False)


def parse_authorization(header: str | None) -> dict[str, str]:
    if not header or not header.lower().startswith("oauth "):
        raise ApiError(401, 215, "Bad Authentication data.")
    try:
        items = parse_keqv_list(parse_http_list(header[len("oauth ") :]))
    except (IndexError, ValueError):
        raise ApiError(401, 215, "Bad Authentication data.") from None
    return {unescape(k): unescape(v) for k, v in items.items()}


class OAuthVerifier:
    def __init__(self, credentials: OAuthCredentials) -> None:
        self.credentials = credentials
        self._nonces: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def verify(
        self,
        *,
        method: str,
        url: str,
        authorization: str | None,
        params: Sequence[tuple[str, str]],
        body: bytes,
        form_body: bool,
        now: float,
    ) -> None:
        """Raise the ApiError X would answer, or return when the request is properly signed.

        `url` is scheme://host[:port]/path as received (no query); `params` are the query and
        form-body parameters, decoded, in the order received.
        """
        oauth = parse_authorization(authorization)
        creds = self.credentials
        if oauth.get("oauth_signature_method") != "HMAC-SHA1":
            raise auth_error()
        if oauth.get("oauth_version", "1.0") != "1.0":
            raise auth_error()
        if not hmac.compare_digest(oauth.get("oauth_consumer_key", ""), creds.consumer_key):
            raise auth_error()
        if not hmac.compare_digest(oauth.get("oauth_token", ""), creds.access_token):
            raise auth_error()
        try:
            timestamp = int(oauth.get("oauth_timestamp", ""))
        except ValueError:
            raise auth_error() from None
        if abs(now - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
            raise ApiError(401, 135, "Timestamp out of bounds.")
        if body and not form_body and "oauth_body_hash" in oauth:
            digest = base64.b64encode(hashlib.sha1(body).digest()).decode()  # noqa: S324 (RFC)
            if not hmac.compare_digest(digest, oauth["oauth_body_hash"]):
                raise auth_error()
        signed = [(k, v) for k, v in oauth.items() if k != "realm"]
        base_string = construct_base_string(method, url, [*params, *signed])
        expected = str(
            hmac_sha1_signature(base_string, creds.consumer_secret, creds.access_token_secret)
        )
        if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
            raise auth_error()
        self._remember_nonce(oauth.get("oauth_nonce", ""), str(timestamp))

    def _remember_nonce(self, nonce: str, timestamp: str) -> None:
        """A signed request may be used once: X refuses a replayed nonce."""
        if not nonce:
            raise auth_error()
        key = (nonce, timestamp)
        with self._lock:
            if key in self._nonces:
                raise auth_error()
            self._nonces[key] = None
            while len(self._nonces) > _NONCE_MEMORY:
                self._nonces.popitem(last=False)


def signed_url(scheme: str, headers: Mapping[str, str], raw_path: bytes) -> str:
    """The URL the client signed: scheme, Host header and path; the query is in the params."""
    host = headers.get("host", "")
    return f"{scheme}://{host}{raw_path.decode('latin-1')}"
