"""Sizing a buyback to the price-impact limit (runbook scenario 4: split the order).

When a quote moves the price more than allowed, buy the largest amount that stays within the
limit and carry the rest, instead of buying nothing or paying the impact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from flywheel.domain.trade import Quote

QuoteFn = Callable[[int], Awaitable[Quote]]


async def largest_within_impact(
    first: Quote,
    quote: QuoteFn,
    *,
    max_impact_bps: int,
    max_quotes: int = 8,
    min_step_ratio_bps: int = 100,
) -> Quote | None:
    """Bisect between 0 and `first.in_lamports` for the largest quote within `max_impact_bps`.

    At most `max_quotes` further quotes; stops once the search interval is narrower than
    `min_step_ratio_bps` of the original amount. Returns None when nothing fits.
    """
    if first.price_impact_bps <= max_impact_bps:
        return first
    low, high = 0, first.in_lamports  # `high` is known to exceed the limit
    best: Quote | None = None
    min_step = max(1, first.in_lamports * min_step_ratio_bps // 10_000)
    for _ in range(max_quotes):
        if high - low <= min_step:
            break
        middle = (low + high) // 2
        if middle <= 0:
            break
        candidate = await quote(middle)
        if candidate.price_impact_bps <= max_impact_bps:
            best, low = candidate, middle
        else:
            high = middle
    return best
