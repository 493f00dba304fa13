"""Where the service lives on this machine: the address it listens on, the files it writes.

Checked when the configuration is read, so a value that cannot work (a device, a virtual
filesystem, an ambiguous address) is one line and exit 2, not an error in the middle of work.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from pathlib import Path

from flywheel.config.parsers import InvalidValue, parse_path

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", flags=re.ASCII)
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})


def parse_host(value: object) -> str:
    """An IP address or a hostname to bind to; shorthand like '0' or '127.1' is refused."""
    fix = "use an IP address (127.0.0.1, ::1, 0.0.0.0 for every interface) or a hostname"
    if not isinstance(value, str) or not value:
        raise InvalidValue("is not a host", fix)
    if not value.isascii() or not value.isprintable() or value != value.strip():
        raise InvalidValue("has spaces or invisible or non-ASCII characters", fix)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", value) or re.fullmatch(r"0[xX][0-9a-fA-F]+", value):
        # getaddrinfo reads '0' as 0.0.0.0 and '127.1' as 127.0.0.1: say which you mean.
        raise InvalidValue("is an ambiguous shorthand address", fix)
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidValue("is neither an IP address nor a valid hostname", fix)
    return value


def host_warning(host: str) -> str | None:
    """What an operator must know about binding to `host`, or None."""
    if host in WILDCARD_HOSTS:
        return (
            f"HTTP_HOST={host} listens on every interface: /health and the webhooks are reachable "
            "from outside this machine (right in Docker behind a published port; otherwise use "
            "127.0.0.1)"
        )
    return None


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


_VIRTUAL_ROOTS = ("/proc", "/sys", "/dev")


def _virtual(path: Path) -> str | None:
    """The kernel's virtual filesystem `path` is in (root may "write" there; files fail).

    /dev/shm too: state kept in memory is gone after a reboot.
    """
    resolved = os.path.realpath(path)
    return next(
        (root for root in _VIRTUAL_ROOTS if resolved == root or resolved.startswith(root + "/")),
        None,
    )


def _usable_directory(directory: Path, fix: str) -> None:
    """`directory` is, or can be created as, a directory this process may write in."""
    virtual = _virtual(directory)
    if virtual is not None:
        raise InvalidValue(f"is under {virtual}, a virtual filesystem", fix)
    try:
        existing = _nearest_existing(directory)
        mode = existing.stat().st_mode
    except OSError as exc:
        raise InvalidValue(f"cannot be examined ({exc.strerror})", fix) from None
    if not stat.S_ISDIR(mode):
        kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a directory"
        where = "is" if existing == directory else f"is under {existing}, which is"
        raise InvalidValue(f"{where} {kind}", fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidValue(f"is not writable by this user ({existing})", fix)


def parse_directory(value: object) -> Path:
    """A directory we write files in: an existing writable one, or one we can create."""
    path = parse_path(value)
    _usable_directory(path, "use a directory this user can write in (it is created if missing)")
    return path


def parse_file_path(value: object) -> Path:
    """A regular file we create and write (the state database): not a directory or a device."""
    path = parse_path(value)
    fix = "use a file path, such as data/flywheel.sqlite, in a directory this user can write in"
    try:
        mode = path.stat().st_mode if os.path.lexists(path) else None
    except OSError as exc:
        raise InvalidValue(f"cannot be examined ({exc.strerror})", fix) from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device?)"
        raise InvalidValue(f"is {kind}", fix)
    if mode is not None and not os.access(path, os.R_OK | os.W_OK):
        raise InvalidValue("is not readable and writable by this user", fix)
    _usable_directory(path.parent, fix)
    return path
