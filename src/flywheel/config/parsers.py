"""Parsers of configuration values: each takes the raw text (or an already-typed value) and
returns the typed value, or raises `InvalidValue(what, fix)` for the one-line problem report.
Amounts are only validated here; converting them to base units is domain/money's."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError
from solders.pubkey import Pubkey

from flywheel.domain.ads import Targeting
from flywheel.domain.money import decimal_places
from flywheel.errors import KeypairFileError
from flywheel.solana.keypair import read_keypair_file


class InvalidValue(ValueError):
    """A value a validator refuses: `what` is wrong with it, `fix` says how to put it right."""

    def __init__(self, what: str, fix: str) -> None:
        self.what = what
        self.fix = fix
        super().__init__(f"{what}; {fix}")


# --- validators: each takes the raw text (or an already-typed value) and returns the type ----


# Longer than any value we accept; checked before converting, so a 5,000-digit number gets
# our one line instead of Python's int-conversion limit message.
MAX_NUMBER_CHARS = 40
SECONDS_PER_DAY = 86_400


def parse_int(value: object, *, low: int, high: int | None = None) -> int:
    """A whole number in [low, high]; decimal digits only, so '1e3', '7.5' and '0x10' fail."""
    wanted = (
        f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
    )
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidValue("is not a whole number", f"use {wanted}")
    if isinstance(value, str):
        if len(value.strip()) > MAX_NUMBER_CHARS:
            raise InvalidValue(f"is longer than {MAX_NUMBER_CHARS} characters", f"use {wanted}")
        if not re.fullmatch(r"[+-]?[0-9]+", value.strip(), flags=re.ASCII):
            raise InvalidValue("is not a whole number", f"use {wanted}")
        value = int(value.strip())
    if value < low or (high is not None and value > high):
        raise InvalidValue("is out of range", f"use {wanted}")
    return value


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_bool(value: object) -> bool:
    """true/false, 1/0, yes/no in any case; anything else ('maybe', 'on') is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise InvalidValue("is not a boolean", "use true or false (1/0 and yes/no also work)")


_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", flags=re.ASCII)


def parse_decimal(value: object, *, places: int, positive: bool, unit: str) -> Decimal:
    """A plain decimal (no exponent, NaN or float) with at most `places` decimals, > 0 or >= 0."""
    bound = "greater than 0" if positive else "0 or more"
    wanted = f"a decimal number of {unit}, {bound}, with at most {places} decimals"
    if isinstance(value, bool | float):
        # A float has already lost the exact amount; money arrives as text or Decimal.
        raise InvalidValue("is a float, not an exact decimal", f"use {wanted}")
    if isinstance(value, str):
        if len(value.strip()) > MAX_NUMBER_CHARS:
            raise InvalidValue(f"is longer than {MAX_NUMBER_CHARS} characters", f"use {wanted}")
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            raise InvalidValue("is not a decimal number", f"use {wanted}")
        value = Decimal(value.strip())
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidValue("is not a decimal number", f"use {wanted}")
    if value < 0 or (positive and value == 0):
        raise InvalidValue(f"must be {bound}", f"use {wanted}")
    if decimal_places(value) > places:
        raise InvalidValue(f"has more than {places} decimals", f"use {wanted}")
    return value


def parse_http_url(value: object) -> str:
    """An absolute http:// or https:// URL with a host; returned as given, minus outer spaces."""
    fix = "use an http(s) URL such as https://host.example"
    if not isinstance(value, str):
        raise InvalidValue("is not a URL", fix)
    text = value.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError:
        raise InvalidValue("is not a valid URL", fix) from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidValue("must start with http:// or https://", fix)
    if not parts.hostname or any(c.isspace() for c in text):
        raise InvalidValue("is not a valid URL (no host, or spaces in it)", fix)
    return text


def parse_pubkey(value: object) -> Pubkey:
    """A base58 public key of 32 bytes."""
    if isinstance(value, Pubkey):
        return value
    fix = "use a base58 Solana address of 32 bytes (as printed by `solana address`)"
    if not isinstance(value, str):
        raise InvalidValue("is not a public key", fix)
    try:
        return Pubkey.from_string(value.strip())
    except ValueError:
        raise InvalidValue("is not a valid base58 32-byte public key", fix) from None


def parse_choice(value: object, *, choices: tuple[str, ...]) -> str:
    """One of `choices`, matched without regard to case and returned as spelled in `choices`."""
    if isinstance(value, str):
        for choice in choices:
            if value.strip().lower() == choice.lower():
                return choice
    raise InvalidValue("is not an allowed value", f"use one of: {', '.join(choices)}")


MAX_PATH_CHARS = 4095  # Linux's PATH_MAX less the terminating NUL
MAX_NAME_CHARS = 255


def parse_path(value: object) -> Path:
    """A filesystem path; `~` is expanded because a .env file is not read by a shell."""
    if isinstance(value, str) and value.strip() and "\0" not in value:
        value = Path(value.strip())
    if not isinstance(value, Path):
        raise InvalidValue("is not a path", "use a file or directory path")
    try:
        path = value.expanduser()
    except RuntimeError:  # ~user of a user that does not exist
        raise InvalidValue(
            "names a home directory that does not exist", "use a full path"
        ) from None
    if len(str(path)) > MAX_PATH_CHARS or any(len(p) > MAX_NAME_CHARS for p in path.parts):
        raise InvalidValue("is too long for the filesystem", "use a shorter path")
    return path


def parse_keypair_path(value: object) -> Path:
    """A path to a private, well-formed solana-keygen keypair file (read here, not kept)."""
    path = parse_path(value)
    try:
        read_keypair_file(path)
    except KeypairFileError as exc:
        raise InvalidValue(exc.what, exc.fix) from None
    return path


def parse_optional_keypair_path(value: object) -> Path | None:
    """A keypair file as `parse_keypair_path`, or nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_keypair_path(value)


def parse_optional_sol(value: object) -> Decimal | None:
    """A SOL amount > 0 (up to 9 decimals), or nothing: unset turns the check off."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_decimal(value, places=9, positive=True, unit="SOL")


FEE_SOURCE_NAMES = ("wallet", "pump", "token2022")
FEE_SOURCES_LATER = ("meteora-dbc", "meteora-damm-v2", "raydium-launchlab", "bags")


def parse_fee_sources(value: object) -> tuple[str, ...]:
    """Comma-separated fee source names (wallet, pump, token2022), each once, at least one."""
    if isinstance(value, tuple | list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise InvalidValue("is not a list of fee sources", "use e.g. wallet or wallet,token2022")
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    if not names:
        raise InvalidValue(
            "names no fee source", f"use one or more of: {', '.join(FEE_SOURCE_NAMES)}"
        )
    for name in names:
        if name in FEE_SOURCES_LATER:
            raise InvalidValue(
                f"names {name}, which is not built yet",
                f"use {', '.join(FEE_SOURCE_NAMES)} (see docs/fee-sources.md)",
            )
        if name not in FEE_SOURCE_NAMES:
            raise InvalidValue(
                f"names an unknown fee source {name!r}",
                f"use one or more of: {', '.join(FEE_SOURCE_NAMES)}",
            )
    if len(set(names)) != len(names):
        raise InvalidValue("names a fee source twice", "name each fee source once")
    return tuple(names)


def parse_destination(value: object) -> str:
    """burn, hold, or the base58 address of a treasury wallet."""
    if isinstance(value, str) and value.strip().lower() in {"burn", "hold"}:
        return value.strip().lower()
    try:
        parse_pubkey(value)
    except InvalidValue:
        raise InvalidValue(
            "is neither burn, hold nor a wallet address",
            "use burn, hold, or the base58 address of the treasury wallet",
        ) from None
    return str(parse_wallet(value))


def parse_targeting(value: object) -> Targeting:
    """JSON such as {"locations": [<X location key>], "languages": ["en"], "keywords": [...]}."""
    if isinstance(value, Targeting):
        return value
    if isinstance(value, dict):
        value = json.dumps(value)
    fix = (
        'use JSON like {"locations":["96683cc9126741d1"],"languages":["en"],"keywords":["solana"]}'
        " (locations are X location keys: docs/ads.md)"
    )
    if not isinstance(value, str):
        raise InvalidValue("is not JSON", fix)
    try:
        data = json.loads(value or "{}")
    except json.JSONDecodeError:
        raise InvalidValue("is not valid JSON", fix) from None
    try:
        return Targeting.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "the value"
        raise InvalidValue(f"has a bad entry at {where}", fix) from None


def parse_post_id(value: object) -> str | None:
    """The numeric id of the X post to promote, or nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    raise InvalidValue(
        "is not a post id", "use the number at the end of the post's URL (x.com/<user>/status/<id>)"
    )


def parse_optional_pubkey(value: object) -> Pubkey | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_pubkey(value)


def parse_optional_wallet(value: object) -> Pubkey | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_wallet(value)


def parse_account_id(value: object) -> str | None:
    """An X Ads account id (letters and digits, as in ads.x.com's URL), or nothing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isalnum():
        return value.strip()
    raise InvalidValue(
        "is not an ads account id", "use the id shown in X Ads Manager's URL (letters and digits)"
    )


# --- secrets and addresses that are not wallets ---------------------------------------------


def parse_secret(value: object) -> SecretStr | None:
    """A key or token: printable ASCII without spaces (what HTTP headers and signatures carry)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    fix = "copy the key again: it must be printable ASCII without spaces"
    if not isinstance(value, str):
        raise InvalidValue("is not text", fix)
    text = value.strip()
    if not all("!" <= c <= "~" for c in text):
        raise InvalidValue("has spaces, control or non-ASCII characters", fix)
    return SecretStr(text)


def parse_secret_list(value: object) -> SecretStr | None:
    """Printable ASCII items separated by commas or spaces (NOTIFY_URLS)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    fix = "use apprise URLs (printable ASCII; percent-encode anything else), comma separated"
    if not isinstance(value, str):
        raise InvalidValue("is not text", fix)
    text = value.strip()
    if not all("!" <= c <= "~" or c == " " for c in text):
        raise InvalidValue("has control or non-ASCII characters", fix)
    return SecretStr(text)


WRAPPED_SOL = "So11111111111111111111111111111111111111112"
# Programs and sysvars: never a token's mint, a wallet to collect fees in or to pay.
NOT_WALLETS = {
    "11111111111111111111111111111111": "the system program",
    WRAPPED_SOL: "wrapped SOL's mint",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "the SPL Token program",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb": "the Token-2022 program",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL": "the associated token account program",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr": "the memo program",
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo": "the memo program (v1)",
    "ComputeBudget111111111111111111111111111111": "the compute budget program",
    "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4": "Jupiter's swap program",
    "BPFLoaderUpgradeab1e11111111111111111111111": "the upgradeable BPF loader",
    "BPFLoader2111111111111111111111111111111111": "the BPF loader",
    "Vote111111111111111111111111111111111111111": "the vote program",
    "Stake11111111111111111111111111111111111111": "the stake program",
    "AddressLookupTab1e1111111111111111111111111": "the address lookup table program",
    "SysvarRent111111111111111111111111111111111": "the rent sysvar",
    "SysvarC1ock11111111111111111111111111111111": "the clock sysvar",
}


def parse_wallet(value: object) -> Pubkey:
    """A public key that can hold SOL for us: not a program, a sysvar or wrapped SOL's mint."""
    key = parse_pubkey(value)
    what = NOT_WALLETS.get(str(key))
    if what is not None:
        raise InvalidValue(f"is {what}, not a wallet", "use the base58 address of a wallet")
    return key


def parse_token_mint(value: object) -> Pubkey:
    """The token bought back: never wrapped SOL (a SOL -> SOL swap) nor a program."""
    key = parse_pubkey(value)
    what = NOT_WALLETS.get(str(key))
    if what is not None:
        raise InvalidValue(
            f"is {what}, not the token's mint", "use the mint address of the token bought back"
        )
    return key
