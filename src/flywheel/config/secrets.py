"""Redaction: what a secret-bearing value may show of itself in logs, reports and messages."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(value: object) -> str:
    """scheme://host[:port], with any user, path or query hidden: providers put API keys there."""
    text = str(value).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    hidden = parts.username or parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}{port}" + ("/***" if hidden else "")
