"""The console's Jinja2 environment: templates shipped in the package, always autoescaped.

Filters turn our integers into what a person reads (SOL from lamports, USD from micro-USD,
UTC times), so templates never do money arithmetic.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from flywheel.domain.money import format_sol, format_usd
from flywheel.service.health import iso_z


def _time(moment: datetime | None) -> str:
    text = iso_z(moment)
    return "-" if text is None else text.replace("T", " ").replace("Z", " UTC")


def _short(signature: str | None, keep: int = 8) -> str:
    if not signature:
        return "-"
    return (
        signature if len(signature) <= 2 * keep + 1 else f"{signature[:keep]}…{signature[-keep:]}"
    )


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flywheel.service.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name fails the test, not the page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(sol=format_sol, usd=format_usd, time=_time, short=_short)
    # What the layout reads on every page; a route's values override these.
    env.globals.update(flash="", operator=False, login_enabled=False, csrf="", error="")
    return env


@cache
def stylesheet() -> str:
    """The vendored CSS, for pages that must open alone (the proof) and for /static."""
    return (files("flywheel.service.console") / "static" / "console.css").read_text("utf-8")
