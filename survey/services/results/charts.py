"""Charts of the result and monitoring pages: pure functions from numbers to a ``Chart``, a
list of shapes laid out in pixels, written as SVG by hand or, when a PNG is asked for, drawn
by matplotlib from the same shapes.

Why not matplotlib for SVG too: its layout engine and text rendering took 0.1-0.4 s a chart
whatever the round's size, so the first view of the report after each new response took 0.7 s
against 0.03 s warm (issue 21). Written here, a chart takes about a millisecond, its text stays
text (selectable, read by screen readers, a tenth of the size) and the same numbers give the
same bytes.

Sized for a laptop screen and an A4 page: 768 px wide (8 inches at 96 per inch), a fixed height
per row, dark marks on white, unreliable values drawn hollow, grey and hatched rather than left
out.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

INK = "#1f5f9c"
GREY = "#9a9a9a"
TARGET = "#b26b00"
GRID = "#dddddd"
BAND = "#e8eef5"
TEXT = "#1a1a1a"
PX_PER_INCH = 96
ROW_INCHES = 0.3
WIDTH = 8.0 * PX_PER_INCH
ROW = ROW_INCHES * PX_PER_INCH
FONT = 13.0  # px: matplotlib's default 10 pt
SMALL = 11.0
FAMILY = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
# A sequential blue scale for the heat map (ColorBrewer "Blues", as matplotlib's "Blues").
BLUES = (
    "#f7fbff",
    "#deebf7",
    "#c6dbef",
    "#9ecae1",
    "#6baed6",
    "#4292c6",
    "#2171b5",
    "#08519c",
    "#08306b",
)


@dataclass(frozen=True)
class Interval:
    label: str
    estimate: float
    low: float
    high: float
    unreliable: bool = False
    marked: bool = False  # drawn in the accent colour (a significant change)


# --- Shapes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    width: float = 1.0
    dashed: bool = False


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str | None
    stroke: str | None = None
    hatched: bool = False


@dataclass(frozen=True)
class _Circle:
    x: float
    y: float
    r: float
    fill: str
    stroke: str


@dataclass(frozen=True)
class _Text:
    x: float
    y: float
    text: str
    size: float = FONT
    anchor: str = "start"  # start, middle, end
    colour: str = TEXT
    italic: bool = False
    rotate: float = 0.0  # degrees, clockwise (as SVG's, y pointing down)


Shape = _Line | _Rect | _Circle | _Text


@dataclass
class Chart:
    """A drawing ``width`` x ``height`` pixels: shapes in the order they are painted."""

    width: float
    height: float
    title: str = ""
    shapes: list[Shape] = field(default_factory=list)

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str, **kw: object) -> None:
        self.shapes.append(_Line(x1, y1, x2, y2, colour, **kw))  # type: ignore[arg-type]

    def rect(self, x: float, y: float, w: float, h: float, fill: str | None, **kw: object) -> None:
        self.shapes.append(_Rect(x, y, w, h, fill, **kw))  # type: ignore[arg-type]

    def circle(self, x: float, y: float, r: float, fill: str, stroke: str) -> None:
        self.shapes.append(_Circle(x, y, r, fill, stroke))

    def text(self, x: float, y: float, text: str, **kw: object) -> None:
        self.shapes.append(_Text(x, y, text, **kw))  # type: ignore[arg-type]

    def svg(self) -> bytes:
        out = [
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(self.width)}" '
            f'height="{_n(self.height)}" viewBox="0 0 {_n(self.width)} {_n(self.height)}" '
            f'role="img" font-family="{FAMILY}">',
            f"<title>{escape(self.title)}</title>" if self.title else "",
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" '
            f'stroke="{GREY}" stroke-width="1.2"/></pattern></defs>',
            f'<rect width="{_n(self.width)}" height="{_n(self.height)}" fill="#ffffff"/>',
        ]
        for shape in self.shapes:
            out.append(_svg(shape))
        out.append("</svg>\n")
        return "".join(out).encode("utf-8")

    def png(self, dpi: int = 150) -> bytes:
        """The same shapes drawn by matplotlib (imported here: it costs 0.4 s at start-up)."""
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Circle, Rectangle

        figure = Figure(figsize=(self.width / PX_PER_INCH, self.height / PX_PER_INCH))
        axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        axes.set_xlim(0, self.width)
        axes.set_ylim(self.height, 0)
        axes.set_axis_off()
        point = 72 / PX_PER_INCH  # matplotlib's sizes are in points
        for shape in self.shapes:
            if isinstance(shape, _Line):
                axes.add_line(
                    Line2D(
                        [shape.x1, shape.x2],
                        [shape.y1, shape.y2],
                        color=shape.colour,
                        linewidth=shape.width * point,
                        linestyle=(0, (4, 3)) if shape.dashed else "-",
                    )
                )
            elif isinstance(shape, _Rect):
                axes.add_patch(
                    Rectangle(
                        (shape.x, shape.y),
                        shape.w,
                        shape.h,
                        facecolor=shape.fill or "none",
                        edgecolor=shape.stroke or (GREY if shape.hatched else "none"),
                        hatch="///" if shape.hatched else None,
                        linewidth=point if shape.stroke else 0,
                    )
                )
            elif isinstance(shape, _Circle):
                axes.add_patch(
                    Circle(
                        (shape.x, shape.y),
                        shape.r,
                        facecolor=shape.fill,
                        edgecolor=shape.stroke,
                        linewidth=1.5 * point,
                    )
                )
            else:
                axes.text(
                    shape.x,
                    shape.y,
                    shape.text,
                    fontsize=shape.size * point,
                    ha={"start": "left", "middle": "center", "end": "right"}[shape.anchor],
                    va="center",
                    color=shape.colour,
                    fontstyle="italic" if shape.italic else "normal",
                    rotation=-shape.rotate,
                    rotation_mode="anchor",
                )
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=dpi)
        return out.getvalue()


def _n(value: float) -> str:
    """A coordinate, short and the same for the same number."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _svg(shape: Shape) -> str:
    if isinstance(shape, _Line):
        dash = ' stroke-dasharray="5 4"' if shape.dashed else ""
        return (
            f'<line x1="{_n(shape.x1)}" y1="{_n(shape.y1)}" x2="{_n(shape.x2)}" '
            f'y2="{_n(shape.y2)}" stroke="{shape.colour}" stroke-width="{_n(shape.width)}"{dash}/>'
        )
    if isinstance(shape, _Rect):
        box = f'x="{_n(shape.x)}" y="{_n(shape.y)}" width="{_n(shape.w)}" height="{_n(shape.h)}"'
        stroke = f' stroke="{shape.stroke}"' if shape.stroke else ""
        drawn = f'<rect {box} fill="{shape.fill or "none"}"{stroke}/>'
        if shape.hatched:
            drawn += f'<rect {box} fill="url(#hatch)"/>'
        return drawn
    if isinstance(shape, _Circle):
        return (
            f'<circle cx="{_n(shape.x)}" cy="{_n(shape.y)}" r="{_n(shape.r)}" '
            f'fill="{shape.fill}" stroke="{shape.stroke}" stroke-width="1.5"/>'
        )
    style = ' font-style="italic"' if shape.italic else ""
    turn = (
        f' transform="rotate({_n(shape.rotate)} {_n(shape.x)} {_n(shape.y)})"'
        if shape.rotate
        else ""
    )
    return (
        f'<text x="{_n(shape.x)}" y="{_n(shape.y)}" font-size="{_n(shape.size)}" '
        f'fill="{shape.colour}" text-anchor="{shape.anchor}" dominant-baseline="central"'
        f"{style}{turn}>{escape(shape.text)}</text>"
    )


# --- Layout helpers ----------------------------------------------------------------------------


def text_width(text: str, size: float = FONT) -> float:
    """An estimate of the width of ``text`` at ``size`` px in a sans-serif font (DejaVu Sans,
    matplotlib's, is among the widest: the estimate errs on the wide side)."""
    em = 0.0
    for c in text:
        if c in " .,:;'!|ilIjtf()[]-/":
            em += 0.36
        elif c.isupper() or c in "mwMW%":
            em += 0.76
        else:
            em += 0.62
    return size * em


def _short(label: str, limit: int = 42, width: float = math.inf, size: float = FONT) -> str:
    """``label`` cut to ``limit`` characters and to ``width`` px, with an ellipsis."""
    if len(label) > limit:
        label = label[: limit - 1] + "…"
    while text_width(label, size) > width and len(label) > 2:
        label = label[:-2] + "…"
    return label


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 times a power of ten)
    covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude
    for multiple in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = multiple * magnitude
        if (high - low) / step <= count:
            break
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10) + 0.0)
        value += step
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:g}"


def _span(rows: Sequence[Interval], reference: float | None) -> tuple[float, float]:
    """The data's range, with a margin, when no limits are given."""
    values = [
        v
        for r in rows
        for v in (r.estimate, r.low, r.high)
        if math.isfinite(v)  # an interval without a value is not drawn
    ]
    if reference is not None:
        values.append(reference)
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    margin = (high - low) * 0.05 or max(abs(high) * 0.05, 0.5)
    return low - margin, high + margin


@dataclass(frozen=True)
class _Frame:
    """The plotting area of a chart with one row per label and a value axis across."""

    left: float
    top: float
    right: float
    bottom: float
    low: float
    high: float

    def x(self, value: float) -> float:
        value = min(max(value, self.low), self.high)
        return self.left + (value - self.low) / (self.high - self.low) * (self.right - self.left)


def _rows_frame(
    rows: Sequence[Interval],
    *,
    xlabel: str,
    reference: float | None,
    reference_label: str,
    limits: tuple[float, float] | None,
) -> tuple[Chart, _Frame]:
    """A chart with a row per interval, its value axis, grid, labels and reference line drawn."""
    top = 34.0 if reference is not None and reference_label else 12.0
    height = max(2.0 * PX_PER_INCH, top + ROW * len(rows) + 58)
    chart = Chart(WIDTH, height, xlabel)
    labels = [_short(r.label, width=WIDTH * 0.45 - 16) for r in rows]
    left = max((text_width(t) for t in labels), default=0) + 16
    low, high = limits if limits is not None else _span(rows, reference)
    frame = _Frame(left, top, WIDTH - 20, top + ROW * len(rows), low, high)
    for tick in nice_ticks(low, high):
        x = frame.x(tick)
        chart.line(x, frame.top, x, frame.bottom, GRID, width=0.8)
        chart.line(x, frame.bottom, x, frame.bottom + 5, TEXT, width=0.8)
        chart.text(x, frame.bottom + 15, _tick_label(tick), size=SMALL, anchor="middle")
    chart.line(frame.left, frame.top, frame.left, frame.bottom, TEXT, width=0.8)
    chart.line(frame.left, frame.bottom, frame.right, frame.bottom, TEXT, width=0.8)
    chart.text((frame.left + frame.right) / 2, frame.bottom + 38, xlabel, anchor="middle")
    for y, label in enumerate(labels):
        chart.text(frame.left - 8, top + ROW * (y + 0.5), label, anchor="end")
    if reference is not None:
        x = frame.x(reference)
        chart.line(x, frame.top, x, frame.bottom, TARGET, width=1.6, dashed=True)
        if reference_label:
            chart.line(frame.left, 14, frame.left + 28, 14, TARGET, width=1.6, dashed=True)
            chart.text(frame.left + 36, 14, reference_label)
    return chart, frame


# --- Charts ------------------------------------------------------------------------------------


def blank(height: float = 2.0 * PX_PER_INCH) -> Chart:
    """Nothing to draw (no responses yet): an empty frame, the page says why."""
    return Chart(WIDTH, height)


def forest_chart(
    rows: Sequence[Interval],
    *,
    xlabel: str,
    reference: float | None = None,
    reference_label: str = "",
    limits: tuple[float, float] | None = None,
) -> Chart:
    """One row per interval (first at the top): a point at the estimate, a bar across the
    interval, and a vertical line at ``reference`` (the target, or 0 for changes)."""
    if not rows:
        return blank()
    chart, frame = _rows_frame(
        rows, xlabel=xlabel, reference=reference, reference_label=reference_label, limits=limits
    )
    for i, row in enumerate(rows):
        y = frame.top + ROW * (i + 0.5)
        colour = GREY if row.unreliable else (TARGET if row.marked else INK)
        if math.isfinite(row.low) and math.isfinite(row.high):
            chart.line(frame.x(row.low), y, frame.x(row.high), y, colour, width=2.5)
        if math.isfinite(row.estimate):
            fill = "#ffffff" if row.unreliable else colour
            chart.circle(frame.x(row.estimate), y, 4.5, fill, colour)
    return chart


def bar_chart(
    rows: Sequence[Interval],
    *,
    xlabel: str,
    reference: float | None = None,
    reference_label: str = "",
    limits: tuple[float, float] | None = None,
) -> Chart:
    """Horizontal bars to the estimate with the interval as an error bar (criteria, areas)."""
    if not rows:
        return blank()
    chart, frame = _rows_frame(
        rows, xlabel=xlabel, reference=reference, reference_label=reference_label, limits=limits
    )
    base = frame.x(0.0)
    for i, row in enumerate(rows):
        if not math.isfinite(row.estimate):
            continue
        y = frame.top + ROW * (i + 0.5)
        end = frame.x(row.estimate)
        colour = GREY if row.unreliable else INK
        chart.rect(
            min(base, end),
            y - ROW * 0.3,
            abs(end - base),
            ROW * 0.6,
            "#ffffff" if row.unreliable else colour,
            stroke=colour,
            hatched=row.unreliable,
        )
        if math.isfinite(row.low) and math.isfinite(row.high):
            low, high = frame.x(row.low), frame.x(row.high)
            chart.line(low, y, high, y, "#000000", width=1.2)
            for x in (low, high):
                chart.line(x, y - 4, x, y + 4, "#000000", width=1.2)
    if reference is not None:  # over the bars
        x = frame.x(reference)
        chart.line(x, frame.top, x, frame.bottom, TARGET, width=1.6, dashed=True)
    return chart


def blues(share: float) -> str:
    """The colour of ``share`` (0 to 1) on the heat map's scale."""
    share = min(max(share, 0.0), 1.0) * (len(BLUES) - 1)
    i = min(int(share), len(BLUES) - 2)
    t = share - i
    a, b = BLUES[i], BLUES[i + 1]
    mixed = (round(int(a[k : k + 2], 16) * (1 - t) + int(b[k : k + 2], 16) * t) for k in (1, 3, 5))
    return "#" + "".join(f"{c:02x}" for c in mixed)


def heat_map(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    unreliable: Sequence[Sequence[bool]],
    colour_label: str,
    limits: tuple[float, float] = (0.0, 100.0),
) -> Chart:
    """Units x elements, each cell coloured by its index and printed with it; unreliable cells
    hatched, cells without a value left white."""
    cell_h = 0.32 * PX_PER_INCH
    if not rows or not columns:
        return blank(2.5 * PX_PER_INCH)
    row_labels = [_short(r, 36, WIDTH * 0.4 - 16) for r in rows]
    column_labels = [_short(c, 22) for c in columns]
    left = max(text_width(t) for t in row_labels) + 16
    below = max(text_width(t, SMALL) for t in column_labels) * 0.5 + 24
    top = 12.0
    right = WIDTH - 96
    height = max(2.5 * PX_PER_INCH, top + cell_h * len(rows) + below + 8)
    chart = Chart(WIDTH, height, colour_label)
    cell_w = (right - left) / len(columns)
    low, high = limits
    middle = (low + high) / 2
    for i, label in enumerate(row_labels):
        y = top + cell_h * i
        chart.text(left - 8, y + cell_h / 2, label, anchor="end")
        for j in range(len(columns)):
            value = float(values[i][j])
            x = left + cell_w * j
            if not math.isfinite(value):
                chart.rect(x, y, cell_w, cell_h, "#ffffff", stroke=GRID)
                continue
            weak = unreliable[i][j]
            chart.rect(x, y, cell_w, cell_h, blues((value - low) / (high - low)), hatched=weak)
            chart.text(
                x + cell_w / 2,
                y + cell_h / 2,
                f"{value:.1f}",
                size=SMALL,
                anchor="middle",
                colour="#ffffff" if value > middle and not weak else "#000000",
                italic=weak,
            )
    bottom = top + cell_h * len(rows)
    for j, label in enumerate(column_labels):
        x = left + cell_w * (j + 0.5)
        chart.text(x, bottom + 10, label, size=SMALL, anchor="end", rotate=-30)
    # The colour bar, in steps, with its scale.
    bar_x, bar_top, bar_bottom = right + 18, top, max(bottom, top + 120)
    steps = 40
    step_h = (bar_bottom - bar_top) / steps
    for k in range(steps):
        share = 1 - (k + 0.5) / steps
        chart.rect(bar_x, bar_top + k * step_h, 14, step_h + 0.3, blues(share))
    for tick in nice_ticks(low, high, 5):
        y = bar_bottom - (tick - low) / (high - low) * (bar_bottom - bar_top)
        chart.line(bar_x + 14, y, bar_x + 18, y, TEXT, width=0.8)
        chart.text(bar_x + 21, y, _tick_label(tick), size=SMALL)
    chart.text(
        WIDTH - 10,
        (bar_top + bar_bottom) / 2,
        colour_label,
        size=SMALL,
        anchor="middle",
        rotate=-90,
    )
    return chart


def residual_chart(
    points: Sequence[tuple[float, float]], *, xlabel: str, ylabel: str, band_label: str
) -> Chart:
    """A model check: one point per unit at (synthetic estimate, standardised residual), with
    the band +-2 in which about 95% of the points lie when the model fits."""
    height = 4.0 * PX_PER_INCH
    if not points:
        return blank(height)
    chart = Chart(WIDTH, height, xlabel)
    xs = [p[0] for p in points if math.isfinite(p[0])]
    ys = [p[1] for p in points if math.isfinite(p[1])]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    margin = (x_high - x_low) * 0.05 or 1.0
    x_low, x_high = x_low - margin, x_high + margin
    y_low, y_high = min([-3.0, *ys]) - 0.2, max([3.0, *ys]) + 0.2
    left, right, top, bottom = 64.0, WIDTH - 20, 34.0, height - 58

    def x(v: float) -> float:
        return left + (v - x_low) / (x_high - x_low) * (right - left)

    def y(v: float) -> float:
        return bottom - (v - y_low) / (y_high - y_low) * (bottom - top)

    chart.rect(left, y(2.0), right - left, y(-2.0) - y(2.0), BAND)
    chart.rect(left, 8, 28, 12, BAND)
    chart.text(left + 36, 14, band_label)
    chart.line(left, y(0.0), right, y(0.0), GREY, width=1.2)
    for tick in nice_ticks(x_low, x_high):
        chart.line(x(tick), bottom, x(tick), bottom + 5, TEXT, width=0.8)
        chart.text(x(tick), bottom + 15, _tick_label(tick), size=SMALL, anchor="middle")
    for tick in nice_ticks(y_low, y_high):
        chart.line(left - 5, y(tick), left, y(tick), TEXT, width=0.8)
        chart.text(left - 8, y(tick), _tick_label(tick), size=SMALL, anchor="end")
    chart.line(left, top, left, bottom, TEXT, width=0.8)
    chart.line(left, bottom, right, bottom, TEXT, width=0.8)
    for px, py in points:
        if math.isfinite(px) and math.isfinite(py):
            chart.circle(x(px), y(py), 3.5, INK, INK)
    chart.text((left + right) / 2, bottom + 38, xlabel, anchor="middle")
    chart.text(16, (top + bottom) / 2, ylabel, anchor="middle", rotate=-90)
    return chart


def column_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    ylabel: str,
    height: float = 3.0 * PX_PER_INCH,
) -> Chart:
    """Stacked columns, one per label (a day), ``series`` as (name, colour, values) from the
    bottom up, with a legend above; at most about 12 labels are written under the columns."""
    chart = Chart(WIDTH, height, ylabel)
    left, right, top, bottom = 64.0, WIDTH - 20, 34.0, height - 40
    totals = [sum(values[i] for _n, _c, values in series) for i in range(len(labels))]
    peak = max([1, *totals])
    ticks = [t for t in nice_ticks(0, peak, 5) if float(t).is_integer()] or [0.0]
    if ticks[-1] < peak and len(ticks) > 1:  # one more step, so the tallest column is under it
        ticks.append(ticks[-1] + ticks[1] - ticks[0])
    top_value = max(peak, ticks[-1])

    def y(v: float) -> float:
        return bottom - v / top_value * (bottom - top)

    for tick in ticks:
        chart.line(left, y(tick), right, y(tick), GRID, width=0.8)
        chart.text(left - 8, y(tick), f"{int(tick)}", size=SMALL, anchor="end")
    slot = (right - left) / max(len(labels), 1)
    every = max(1, math.ceil(len(labels) / 12))
    for i, label in enumerate(labels):
        x = left + slot * i
        base = 0.0
        for _name, colour, values in series:
            if values[i]:
                chart.rect(
                    x + slot * 0.1,
                    y(base + values[i]),
                    slot * 0.8,
                    y(base) - y(base + values[i]),
                    colour,
                )
            base += values[i]
        if i % every == 0:
            chart.text(x + slot / 2, bottom + 14, label, size=SMALL, anchor="middle")
    chart.line(left, top, left, bottom, TEXT, width=0.8)
    chart.line(left, bottom, right, bottom, TEXT, width=0.8)
    chart.text(16, (top + bottom) / 2, ylabel, anchor="middle", rotate=-90)
    x = left
    for name, colour, _values in series:
        chart.rect(x, 8, 20, 12, colour)
        chart.text(x + 26, 14, name)
        x += 26 + text_width(name) + 24
    return chart


def figure_bytes(chart: Chart, fmt: str) -> bytes:
    """SVG (the same chart gives the same bytes) or PNG at print resolution."""
    return chart.png() if fmt == "png" else chart.svg()
