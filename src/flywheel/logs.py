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
    _route_standard_logging(numeric, fmt)
    # httpx (and httpx2, under solana-py) log every request at INFO, URL included: DEBUG only.
    for name in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring again replaces it."""


def _route_standard_logging(level: int, fmt: str) -> None:
    """Standard-library records (uvicorn, apprise, ...) on stderr, JSON under LOG_FORMAT=json
    like our own events, so a log shipper never meets a line it cannot parse."""
    handler = _OurHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processor=structlog.processors.JSONRenderer(),
                foreign_pre_chain=[
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    _redact_secrets,
                ],
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The service runs two uvicorn servers (HTTP and metrics) and logs its own start and stop
    # (`service.started`, `service.stopped`): uvicorn's per-server INFO lines would say each
    # thing twice. Its warnings and errors still come through.
    logging.getLogger("uvicorn.error").setLevel(max(level, logging.WARNING))
