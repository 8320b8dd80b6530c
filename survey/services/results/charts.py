"""Charts of the result pages: pure functions from numbers to a matplotlib ``Figure`` (never
``pyplot``, so nothing is shared between requests); views serialise them as SVG or PNG.

Sized for a laptop screen and an A4 page: 8 inches wide, a fixed height per row, dark marks on
white, unreliable values drawn hollow and grey rather than left out.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a chart is drawn: matplotlib costs 0.4 s at start-up
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle


INK = "#1f5f9c"
GREY = "#9a9a9a"
TARGET = "#b26b00"
ROW_INCHES = 0.3
WIDTH = 8.0


@dataclass(frozen=True)
class Interval:
    label: str
    estimate: float
    low: float
    high: float
    unreliable: bool = False
    marked: bool = False  # drawn in the accent colour (a significant change)


def _height(rows: int) -> float:
    return max(2.0, 1.1 + ROW_INCHES * rows)


def _figure(**options: object) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**options)  # type: ignore[arg-type]


def _blank(figure: Figure) -> Figure:
    """Nothing to draw (no responses yet): an empty frame, the page says why."""
    figure.add_subplot().set_axis_off()
    return figure


def _short(label: str, limit: int = 42) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def forest_chart(
    rows: Sequence[Interval],
    *,
    xlabel: str,
    reference: float | None = None,
    reference_label: str = "",
    limits: tuple[float, float] | None = None,
) -> Figure:
    """One row per interval (first at the top): a point at the estimate, a bar across the
    interval, and a vertical line at ``reference`` (the target, or 0 for changes)."""
    figure = _figure(figsize=(WIDTH, _height(len(rows))), layout="constrained")
    if not rows:
        return _blank(figure)
    axes = figure.add_subplot()
    for y, row in enumerate(rows):
        colour = GREY if row.unreliable else (TARGET if row.marked else INK)
        if math.isfinite(row.low) and math.isfinite(row.high):
            axes.hlines(y, row.low, row.high, color=colour, linewidth=2)
        if math.isfinite(row.estimate):
            axes.plot(
                [row.estimate],
                [y],
                marker="o",
                markersize=6,
                color=colour,
                markerfacecolor="white" if row.unreliable else colour,
            )
    if reference is not None:
        axes.axvline(reference, color=TARGET, linestyle="--", linewidth=1.2, label=reference_label)
        if reference_label:
            axes.legend(loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    axes.set_yticks(range(len(rows)), [_short(r.label) for r in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    if limits is not None:
        axes.set_xlim(*limits)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def heat_map(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    unreliable: Sequence[Sequence[bool]],
    colour_label: str,
    limits: tuple[float, float] = (0.0, 100.0),
) -> Figure:
    """Units x elements, each cell coloured by its index and printed with it; unreliable cells
    hatched, cells without a value left white."""
    import numpy as np

    data = np.array(values, dtype=float).reshape(len(rows), len(columns))
    figure = _figure(figsize=(WIDTH, max(2.5, 1.8 + 0.32 * len(rows))), layout="constrained")
    if not rows or not columns:
        return _blank(figure)
    axes = figure.add_subplot()
    image = axes.imshow(
        np.ma.masked_invalid(data), cmap="Blues", vmin=limits[0], vmax=limits[1], aspect="auto"
    )
    middle = (limits[0] + limits[1]) / 2
    for i in range(len(rows)):
        for j in range(len(columns)):
            value = data[i, j]
            if not math.isfinite(value):
                continue
            weak = unreliable[i][j]
            axes.text(
                j,
                i,
                f"{value:.1f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > middle and not weak else "black",
                fontstyle="italic" if weak else "normal",
            )
            if weak:
                axes.add_patch(
                    _hatch(j, i)  # grey hatching over an unreliable cell
                )
    axes.set_xticks(range(len(columns)), [_short(c, 22) for c in columns], rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), [_short(r, 36) for r in rows])
    figure.colorbar(image, ax=axes, label=colour_label, shrink=0.8)
    return figure


def _hatch(x: float, y: float) -> Rectangle:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor=GREY, linewidth=0)


def bar_chart(
    rows: Sequence[Interval],
    *,
    xlabel: str,
    reference: float | None = None,
    reference_label: str = "",
    limits: tuple[float, float] | None = None,
) -> Figure:
    """Horizontal bars to the estimate with the interval as an error bar (criteria, areas)."""
    figure = _figure(figsize=(WIDTH, _height(len(rows))), layout="constrained")
    if not rows:
        return _blank(figure)
    axes = figure.add_subplot()
    for y, row in enumerate(rows):
        if not math.isfinite(row.estimate):
            continue
        colour = GREY if row.unreliable else INK
        axes.barh(
            y,
            row.estimate,
            height=0.6,
            color="white" if row.unreliable else colour,
            edgecolor=colour,
            hatch="///" if row.unreliable else None,
        )
        if math.isfinite(row.low) and math.isfinite(row.high):
            axes.errorbar(
                row.estimate,
                y,
                xerr=[[row.estimate - row.low], [row.high - row.estimate]],
                color="black",
                capsize=3,
                linewidth=1,
            )
    if reference is not None:
        axes.axvline(reference, color=TARGET, linestyle="--", linewidth=1.2, label=reference_label)
        if reference_label:
            axes.legend(loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    axes.set_yticks(range(len(rows)), [_short(r.label) for r in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    if limits is not None:
        axes.set_xlim(*limits)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", color="#dddddd", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """SVG (no timestamp, so the same chart gives the same bytes) or PNG at print resolution."""
    out = io.BytesIO()
    if fmt == "png":
        figure.savefig(out, format="png", dpi=150)
    else:
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def residual_chart(
    points: Sequence[tuple[float, float]], *, xlabel: str, ylabel: str, band_label: str
) -> Figure:
    """A model check: one point per unit at (synthetic estimate, standardised residual), with
    the band +-2 in which about 95% of the points lie when the model fits."""
    figure = _figure(figsize=(WIDTH, 4.0), layout="constrained")
    if not points:
        return _blank(figure)
    axes = figure.add_subplot()
    axes.axhspan(-2, 2, color="#e8eef5", label=band_label)
    axes.axhline(0, color=GREY, linewidth=1)
    axes.scatter([p[0] for p in points], [p[1] for p in points], s=18, color=INK)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    return figure
