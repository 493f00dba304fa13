"""Line charts as inline SVG, drawn on the server: no script, no library, prints and works
offline. Values are Decimal (exact figures from integers); only the drawing uses floats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from markupsafe import Markup, escape

from flywheel.domain.epoch_state import EpochState
from flywheel.domain.money import LAMPORTS_PER_SOL

WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 70, 12, 14, 28


@dataclass(frozen=True)
class Series:
    key: str
    title: str
    unit: str
    points: list[tuple[datetime, Decimal]]
    # Totals read best from zero; a supply or a price moves little against its size, so its
    # axis spans only what it did.
    from_zero: bool = True


_SUFFIXES = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "G"), (Decimal(10) ** 6, "M"))


def _label(value: Decimal) -> str:
    """Short enough for the axis: 96.4G, 1.2M, 0.0001021."""
    if value == 0:
        return "0"
    for scale, suffix in _SUFFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.5g}{suffix}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def svg(series: Series) -> Markup:
    """One chart; a single point is drawn as a dot, none as a note."""
    title = escape(series.title)
    head = (
        f'<svg id="chart-{escape(series.key)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg">'
    )
    if not series.points:
        return Markup(f'{head}<text x="{LEFT}" y="{HEIGHT // 2}">no data yet</text></svg>')  # noqa: S704 (escaped above)
    values = [v for _, v in series.points]
    low = min(min(values), Decimal(0)) if series.from_zero else min(values)
    high = max(values)
    span = high - low or Decimal(1)
    times = [t.timestamp() for t, _ in series.points]
    t0, t_span = times[0], (times[-1] - times[0]) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def xy(moment: float, value: Decimal) -> tuple[float, float]:
        x = LEFT + (moment - t0) / t_span * plot_w if len(times) > 1 else LEFT + plot_w / 2
        y = TOP + plot_h - float((value - low) / span) * plot_h
        return round(x, 1), round(y, 1)

    coords = [xy(t, v) for t, v in zip(times, values, strict=True)]
    path = " ".join(f"{x},{y}" for x, y in coords)
    parts = [
        head,
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{escape(_label(high))}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">{escape(_label(low))}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{series.points[0][0]:%m-%d %H:%M}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
        f"{series.points[-1][0]:%m-%d %H:%M}</text>",
        f'<polyline class="line" points="{path}"/>',
        *(f'<circle cx="{x}" cy="{y}" r="2.5" fill="currentColor"/>' for x, y in coords[-1:]),
        "</svg>",
    ]
    # Every text in `parts` went through escape() or is a number we formatted.
    return Markup("".join(parts))  # noqa: S704


def epoch_series(epochs: list[EpochState], supply_now: int | None) -> list[Series]:
    """Cumulative SOL spent, tokens burned, the supply and the realized price, per finished
    epoch (oldest first). The supply is read back from today's: supply after an epoch is the
    supply now plus what later epochs burned (others' burns, if any, are not counted)."""
    done = [e for e in epochs if e.finished_at is not None]
    spent: list[tuple[datetime, Decimal]] = []
    burned: list[tuple[datetime, Decimal]] = []
    price: list[tuple[datetime, Decimal]] = []
    total_spent = total_burned = 0
    for epoch in done:
        assert epoch.finished_at is not None
        total_spent += epoch.buyback_spent_lamports
        if epoch.destination == "burn":
            total_burned += epoch.tokens_settled
        spent.append((epoch.finished_at, Decimal(total_spent) / LAMPORTS_PER_SOL))
        burned.append((epoch.finished_at, Decimal(total_burned)))
        if epoch.tokens_bought > 0:
            ratio = Decimal(epoch.buyback_spent_lamports) / Decimal(epoch.tokens_bought)
            price.append((epoch.finished_at, ratio))
    supply: list[tuple[datetime, Decimal]] = []
    if supply_now is not None:
        later = 0
        for epoch in reversed(done):
            assert epoch.finished_at is not None
            supply.append((epoch.finished_at, Decimal(supply_now + later)))
            if epoch.destination == "burn":
                later += epoch.tokens_settled
        supply.reverse()
    return [
        Series("spent", "Cumulative SOL spent", "SOL", spent),
        Series("burned", "Tokens burned (base units)", "tokens", burned),
        Series("supply", "Token supply (base units)", "tokens", supply, from_zero=False),
        Series("price", "Realized price (lamports per base unit)", "lamports", price, False),
    ]
