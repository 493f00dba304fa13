"""Operator notifications through apprise (Slack, Telegram, Discord, e-mail, JSON webhooks...).

NOTIFY_URLS holds apprise URLs, comma or space separated. They carry tokens, so they are treated
as secrets: never logged, and a URL apprise cannot parse is reported by its position and scheme
only. apprise is synchronous, so each notification runs in a worker thread; a notification that
fails is logged and dropped, never raised into the epoch that caused it.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable

import apprise
import structlog
from apprise.utils.parse import parse_urls

log = structlog.get_logger("flywheel.notify")

_parse_urls: Callable[[str], list[object]] = parse_urls  # apprise leaves it untyped

_LEVELS = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "error": apprise.NotifyType.FAILURE,
}


def split_urls(text: str) -> list[str]:
    """apprise's own splitting: commas inside a URL's query (mailto://...?to=a,b) survive."""
    return [str(url) for url in _parse_urls(text)]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"


class NullNotifier:
    """NOTIFY_URLS unset: notifications are only logged."""

    async def notify(self, title: str, body: str, *, level: str = "info") -> None:
        log.info("notify.skipped", title=title, level=level)


class AppriseNotifier:
    """The `Notifier` port over apprise."""

    def __init__(self, urls: str | list[str], *, timeout_seconds: float = 15.0) -> None:
        self._urls = split_urls(urls) if isinstance(urls, str) else list(urls)
        self._timeout = timeout_seconds
        # apprise's own log lines can include a URL's host or path, which may be a token.
        logging.getLogger("apprise").setLevel(logging.CRITICAL)
        self._apprise = apprise.Apprise()
        rejected = []
        # apprise imports its plugins on first use; some import modules deprecated in 3.11+.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for index, url in enumerate(self._urls, start=1):
                if not self._apprise.add(url):
                    rejected.append(f"#{index} ({_scheme(url)}://...)")
        if rejected:
            log.warning(
                "notify.urls_rejected",
                rejected=rejected,
                hint="check NOTIFY_URLS against the apprise URL formats",
            )
        self.services = len(self._apprise)

    async def notify(self, title: str, body: str, *, level: str = "info") -> None:
        if self.services == 0:
            return
        notify_type = _LEVELS.get(level, apprise.NotifyType.INFO)
        try:
            result = await asyncio.wait_for(
                asyncio.to_thread(
                    self._apprise.notify, body=body, title=title, notify_type=notify_type
                ),
                timeout=self._timeout,
            )
        except Exception as exc:  # a notification must never break the caller
            log.warning("notify.failed", title=title, error=type(exc).__name__)
            return
        if not result:
            log.warning(
                "notify.failed",
                title=title,
                delivered=getattr(result, "success_count", 0),
                failed=getattr(result, "failed_count", self.services),
            )
        else:
            log.info("notify.sent", title=title, level=level, services=self.services)


def notifier_from(urls: str | None) -> AppriseNotifier | NullNotifier:
    """The notifier for NOTIFY_URLS (its secret value), or a logging-only one when unset."""
    if urls is None or not split_urls(urls):
        return NullNotifier()
    return AppriseNotifier(urls)
