"""Logging: structlog events to stderr, readable on a terminal or JSON for a log shipper.

Every event of an epoch carries its `epoch_id` (bound by the runner). A last processor drops the
value of any key that names a secret, so a careless `log.info(..., api_key=...)` cannot leak one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_WORDS = (
    "secret",
    "password",
    "api_key",
    "apikey",
    "private",
    "keypair_bytes",
    "token_secret",
)


def _redact_secrets(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_WORDS):
            event[key] = "***"
    return event


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog and the standard library (uvicorn, httpx) to one stream: stderr."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=numeric, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # httpx (and httpx2, under solana-py) log every request at INFO, URL included: DEBUG only.
    for name in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
