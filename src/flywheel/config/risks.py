"""What a valid configuration may still get wrong: warnings, and the problems `config check` adds.

Warnings never stop anything (`flywheel config check` prints them and exits 0; every command
logs them at start):
- a variable the flywheel does not know whose name is close to one it does (`MAX_SLIPAGE_BPS`:
  did you mean MAX_SLIPPAGE_BPS?), in the environment or in the .env file. Only names that look
  like ours (upper case, with an underscore) and are close to one of ours: PATH, HOME and the
  like are someone else's;
- values that are allowed but risky: MAX_SLIPPAGE_BPS over 1,000 (10 %), an EPOCH_JITTER_SECONDS
  longer than EPOCH_INTERVAL_SECONDS.

`config check` also fails (exit 2) on what the service would silently turn off: a WEBHOOK_SECRET
shorter than MIN_WEBHOOK_SECRET_LENGTH (setting one is how the webhooks are turned on; the
server answers 403 to every webhook and console action while it is short).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from flywheel.config.settings import Settings

MIN_WEBHOOK_SECRET_LENGTH = 32
RISKY_SLIPPAGE_BPS = 1_000
# How close a name must be to one of ours to be taken for a typo of it (difflib's ratio).
TYPO_CUTOFF = 0.85
_OUR_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def known_variables() -> list[str]:
    return sorted(name.upper() for name in Settings.model_fields)


def env_file_names(env_file: Path | None) -> list[str]:
    """The variable names an .env file sets, known or not (its values are not read here)."""
    if env_file is None or not env_file.is_file():
        return []
    try:
        text = env_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # the settings' own reading reports an unreadable file
    return [m.group(1) for line in text.splitlines() if (m := _ENV_LINE.match(line))]


def typo_warnings(names: Iterable[str], where: str) -> list[str]:
    """'did you mean' for each unknown name that looks like a misspelling of one of ours."""
    known = known_variables()
    known_set = set(known)
    warnings: list[str] = []
    for name in dict.fromkeys(names):
        if name.upper() in known_set or not _OUR_SHAPE.match(name):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=TYPO_CUTOFF)
        if close:
            warnings.append(
                f"{name} ({where}) is not a flywheel variable: did you mean {close[0]}?"
                f" It is ignored; {close[0]} keeps its value"
            )
    return warnings


def value_warnings(settings: Settings) -> list[str]:
    """Values that are valid but risky."""
    warnings: list[str] = []
    if settings.max_slippage_bps > RISKY_SLIPPAGE_BPS:
        warnings.append(
            f"MAX_SLIPPAGE_BPS is {settings.max_slippage_bps} ({settings.max_slippage_bps / 100:g}"
            f" %), over {RISKY_SLIPPAGE_BPS}: a swap may deliver that much less than quoted;"
            " 50-300 is usual"
        )
    interval, jitter = settings.epoch_interval_seconds, settings.epoch_jitter_seconds
    if jitter > interval:
        warnings.append(
            f"EPOCH_JITTER_SECONDS is {jitter}, longer than EPOCH_INTERVAL_SECONDS ({interval}):"
            " the random delay outweighs the interval, so epochs come at up to"
            f" {interval + jitter} s apart; keep the jitter under the interval"
        )
    return warnings


def configuration_warnings(
    settings: Settings, env_file: Path | None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Every warning about this configuration: typos in .env and the environment, risky values."""
    environment = os.environ if environ is None else environ
    where = f".env {env_file}" if env_file is not None else ".env"
    return [
        *typo_warnings(env_file_names(env_file), where),
        *typo_warnings(environment, "environment"),
        *value_warnings(settings),
    ]


def check_problems(settings: Settings) -> list[str]:
    """What `flywheel config check` refuses beyond the settings' own validation."""
    secret = settings.webhook_secret
    if secret is not None and len(secret.get_secret_value()) < MIN_WEBHOOK_SECRET_LENGTH:
        length = len(secret.get_secret_value())
        return [
            f"WEBHOOK_SECRET: has {length} characters, fewer than {MIN_WEBHOOK_SECRET_LENGTH}:"
            " the webhooks and the console's actions would refuse every request (403); make"
            " one with `openssl rand -base64 32`, or unset WEBHOOK_SECRET to turn them off"
        ]
    return []
