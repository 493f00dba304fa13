"""Loading the executor's keypair from a solana-keygen file.

The configuration layer checks the file's permissions; this module only reads it. Errors name
the file, never its contents: `from None` keeps the parser's message (which may quote the input)
out of tracebacks and logs.
"""

from __future__ import annotations

from pathlib import Path

from solders.keypair import Keypair

from flywheel.errors import ConfigError


def load_keypair(path: str | Path, *, setting: str = "EXECUTOR_KEYPAIR_PATH") -> Keypair:
    """The keypair in a solana-keygen JSON file (an array of 64 integers)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"{setting}: cannot read {file}: {reason}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{setting}: {file} is not a text keypair file"]) from None
    try:
        return Keypair.from_json(text)
    except Exception:
        raise ConfigError(
            [
                f"{setting}: {file} is not a valid solana-keygen keypair file "
                "(expected a JSON array of 64 integers whose second half is the public key)"
            ]
        ) from None
