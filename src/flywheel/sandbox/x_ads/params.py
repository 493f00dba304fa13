"""Request parameters of the X-Ads-compatible sandbox: parsing, validation and X-style errors.

X takes every parameter as a string (query string, or form body for writes) and answers a bad
one with HTTP 400 and `{"errors": [{"code", "message", "parameter"}]}`; this module is the one
place that turns raw strings into typed values or into that error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

ENTITY_STATUSES = ("ACTIVE", "PAUSED", "DRAFT")
OBJECTIVES = (
    "APP_ENGAGEMENTS",
    "APP_INSTALLS",
    "REACH",
    "FOLLOWERS",
    "ENGAGEMENTS",
    "VIDEO_VIEWS",
    "PREROLL_VIEWS",
    "WEBSITE_CLICKS",
)
PLACEMENTS = (
    "ALL_ON_TWITTER",
    "PUBLISHER_NETWORK",
    "TWITTER_PROFILE",
    "TWITTER_REPLIES",
    "TWITTER_SEARCH",
    "TWITTER_TIMELINE",
)
PRODUCT_TYPES = ("MEDIA", "PROMOTED_ACCOUNT", "PROMOTED_TWEETS")
BID_STRATEGIES = ("AUTO", "MAX", "TARGET")
TARGETING_TYPES = (
    "AGE",
    "BROAD_KEYWORD",
    "CONVERSATION",
    "DEVICE",
    "EVENT",
    "EXACT_KEYWORD",
    "FOLLOWERS_OF_USER",
    "GENDER",
    "INTEREST",
    "LANGUAGE",
    "LOCATION",
    "NEGATIVE_PHRASE_KEYWORD",
    "PHRASE_KEYWORD",
    "PLATFORM",
    "SIMILAR_TO_FOLLOWERS_OF_USER",
    "UNORDERED_KEYWORD",
)
STATS_ENTITIES = ("CAMPAIGN", "LINE_ITEM")
METRIC_GROUPS = ("BILLING", "ENGAGEMENT", "VIDEO", "MEDIA", "WEB_CONVERSION", "MOBILE_CONVERSION")
GRANULARITIES = ("DAY", "HOUR", "TOTAL")
STATS_PLACEMENTS = ("ALL_ON_TWITTER", "PUBLISHER_NETWORK")

MAX_NAME_LENGTH = 255
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 200


class ApiError(Exception):
    """An X-style error answer: HTTP status plus one entry of the `errors` list."""

    def __init__(
        self,
        status: int,
        code: str | int,
        message: str,
        parameter: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        self.headers = dict(headers or {})

    def body(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.parameter is not None:
            error["parameter"] = self.parameter
        return {"errors": [error], "request": {"params": dict(params or {})}}


def missing(name: str) -> ApiError:
    return ApiError(400, "MISSING_PARAMETER", f'"{name}" is a required parameter', name)


def invalid(name: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER", message, name)


def not_found(name: str, value: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No entity was found for {name} {value!r}", name)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Params:
    """The request's parameters (query string merged with the form body), read by type."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.raw: dict[str, str] = {}
        for key, value in pairs:
            # X reads a repeated parameter's last value; a client should not send one twice.
            self.raw[key] = value

    def echo(self, **extra: str) -> dict[str, Any]:
        """What X echoes back as `request.params`."""
        return {**extra, **self.raw}

    def text(self, name: str, *, required: bool = False, max_length: int = 0) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return None
        if max_length and len(value) > max_length:
            raise invalid(name, f'"{name}" must be at most {max_length} characters')
        return value

    def required_text(self, name: str, *, max_length: int = 0) -> str:
        value = self.text(name, required=True, max_length=max_length)
        assert value is not None  # text(required=True) raised otherwise
        return value

    def enum(self, name: str, allowed: tuple[str, ...], *, default: str | None = None) -> str:
        value = self.text(name, required=default is None)
        if value is None:
            assert default is not None
            return default
        if value not in allowed:
            raise invalid(name, f"Expected one of: {', '.join(allowed)}; got {value!r}")
        return value

    def enum_list(
        self, name: str, allowed: tuple[str, ...], *, required: bool = False
    ) -> list[str]:
        items = self.csv(name, required=required)
        for item in items:
            if item not in allowed:
                raise invalid(name, f"Expected values from: {', '.join(allowed)}; got {item!r}")
        return items

    def csv(self, name: str, *, required: bool = False, max_items: int = 0) -> list[str]:
        value = self.text(name, required=required)
        if value is None:
            return []
        items = [item.strip() for item in value.split(",") if item.strip()]
        if required and not items:
            raise missing(name)
        if max_items and len(items) > max_items:
            raise invalid(name, f'"{name}" takes at most {max_items} values')
        return items

    def micro(self, name: str, *, required: bool = False) -> int | None:
        """A money amount in micros: a positive whole number, never a decimal."""
        value = self.text(name, required=required)
        if value is None:
            return None
        if not value.isdigit() or int(value) <= 0:
            raise invalid(
                name, f'"{name}" must be a positive whole number of micros; got {value!r}'
            )
        return int(value)

    def count(self) -> int:
        value = self.text("count")
        if value is None:
            return DEFAULT_PAGE_SIZE
        if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
            raise invalid("count", f'"count" must be between 1 and {MAX_PAGE_SIZE}')
        return int(value)

    def cursor(self) -> int:
        value = self.text("cursor")
        if value is None:
            return 0
        if not value.isdigit():
            raise invalid("cursor", "Invalid cursor")
        return int(value)

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value is None:
            return False
        if value.lower() not in ("true", "false", "1", "0"):
            raise invalid(name, f'"{name}" must be true or false')
        return value.lower() in ("true", "1")

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(name, f'"{name}" must be an ISO 8601 time; got {value!r}') from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment
