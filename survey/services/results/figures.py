"""The result pages' charts, assembled from a round's results in the reader's language (the
drawing itself is ``survey.services.results.charts``)."""

from __future__ import annotations

import base64
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from analysis.satisfaction.compare import Direction
from survey.models import Round
from survey.services.results.charts import (
    Chart,
    Interval,
    bar_chart,
    figure_bytes,
    forest_chart,
    heat_map,
    residual_chart,
)
from survey.services.results.pages import (
    RoundResults,
    Shown,
    UnitChange,
    is_unreliable,
    unit_changes,
)
from survey.services.results.small_area import ModelEstimates


def _axis(results: RoundResults) -> str:
    if results.measure == IndexDefinition.MEAN:
        return _("Điểm trung bình (khoảng tin cậy 95%)")
    return _("Chỉ số hài lòng, % (khoảng tin cậy 95%)")


def _scale(results: RoundResults) -> str:
    if results.measure == IndexDefinition.MEAN:
        return _("Điểm trung bình")
    return _("Chỉ số hài lòng, %")


def _limits(results: RoundResults) -> tuple[float, float] | None:
    return (0.0, 100.0) if results.percent else None


def _target_label(results: RoundResults) -> str:
    if results.target is None:
        return ""
    return _("Mục tiêu %(target)s%%", target=f"{results.target:g}")


def _interval(shown: Shown, label: str | None = None) -> Interval:
    row = shown.row
    return Interval(
        label if label is not None else shown.name,
        row.estimate,
        row.ci_low,
        row.ci_high,
        is_unreliable(row),
    )


def units_chart(results: RoundResults, units: list[Shown]) -> Chart:
    """Forest chart of the units' overall index with the target line."""
    return forest_chart(
        [_interval(u) for u in units],
        xlabel=_axis(results),
        reference=results.target,
        reference_label=_target_label(results),
        limits=_limits(results),
    )


def unit_chart(results: RoundResults, code: str) -> Chart:
    """One unit's elements then criteria, as bars with intervals."""
    rows = [
        _interval(s, f"{s.code} {s.name.upper()}")
        for s in results.indices_of(IndexKind.ELEMENT, level=Level.UNIT, unit=code)
    ]
    criteria = results.indices_of(IndexKind.CRITERION, level=Level.UNIT, unit=code)
    rows += [_interval(s, f"{s.code} {s.name}") for s in criteria]
    return bar_chart(
        rows,
        xlabel=_axis(results),
        reference=results.target,
        reference_label=_target_label(results),
        limits=_limits(results),
    )


def elements_chart(results: RoundResults, units: list[Shown]) -> Chart:
    """Heat map of units x elements."""
    heat = results.heat_map(units)
    values = [[math.nan if c is None else c.estimate for c in row] for row in heat.cells]
    weak = [[c is not None and is_unreliable(c) for c in row] for row in heat.cells]
    limits = _limits(results) or (1.0, 5.0)
    return heat_map(
        [u.name for u in heat.units],
        [f"{code} {name}" for code, name in heat.elements],
        values,
        unreliable=weak,
        colour_label=_scale(results),
        limits=limits,
    )


def criteria_chart(results: RoundResults) -> Chart:
    """The province's criteria (for a unit officer: their first unit's) as bars."""
    keys: dict[str, str] = {}
    level = Level.PROVINCE
    if not results.sees_everything:
        units = results.units("name")
        if units:
            level, keys = Level.UNIT, {"unit": units[0].code}
    criteria = results.indices_of(IndexKind.CRITERION, level=level, **keys)
    rows = [_interval(s, f"{s.code} {s.name}") for s in criteria]
    return bar_chart(
        rows,
        xlabel=_axis(results),
        reference=results.target,
        reference_label=_target_label(results),
        limits=_limits(results),
    )


def areas_chart(results: RoundResults) -> Chart:
    """Service areas over the province (a unit officer: the cells of their units)."""
    if results.sees_everything:
        rows = [_interval(s) for s in results.areas()]
    else:
        rows = [_interval(s, f"{s.name} / {s.area_name}") for s in results.cells()]
    return forest_chart(
        rows,
        xlabel=_axis(results),
        reference=results.target,
        reference_label=_target_label(results),
        limits=_limits(results),
    )


def change_chart(found: list[UnitChange]) -> Chart:
    """Each unit's change with its interval; significant changes in the accent colour."""
    rows = [
        Interval(
            u.name,
            u.change.estimate,
            u.change.ci_low,
            u.change.ci_high,
            unreliable=u.change.direction == Direction.NO_DATA,
            marked=u.significant,
        )
        for u in found
    ]
    return forest_chart(
        rows, xlabel=_("Thay đổi (điểm phần trăm, khoảng tin cậy 95%)"), reference=0.0
    )


# Drawn charts kept per process: drawing one takes 0.05-1.5 s whatever the round's size. Keyed
# by the results' state (a new response, an exclusion or a new target is a new key) and what was
# asked; names (areas may be renamed) are drawn again after CHART_SECONDS.
CHART_CACHE_SIZE = 64
CHART_SECONDS = 300.0


def drawn(
    results: RoundResults, asked: Hashable, build: Callable[[], Chart], fmt: str = "svg"
) -> bytes:
    """The chart ``build`` draws, in ``fmt``, drawn once per state of ``results`` and
    ``asked`` (what else decides it: the chart, the page's arguments) and language."""
    state = results.state
    if state is None:
        return figure_bytes(build(), fmt)
    cache: OrderedDict[Hashable, tuple[float, bytes]] = current_app.extensions.setdefault(
        "hailong_charts", OrderedDict()
    )
    key = (state, asked, fmt, str(get_locale()))
    now = time.monotonic()
    found = cache.get(key)
    if found is not None and now - found[0] < CHART_SECONDS:
        cache.move_to_end(key)
        return found[1]
    content = figure_bytes(build(), fmt)
    cache[key] = (now, content)
    while len(cache) > CHART_CACHE_SIZE:
        cache.popitem(last=False)
    return content


def data_uri(content: bytes) -> str:
    """An SVG chart as a data: URI, so a saved report carries its charts."""
    encoded = base64.b64encode(content).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


def report_charts(
    results: RoundResults, units: list[Shown], earlier: Round | None
) -> dict[str, str]:
    """The report's charts as data: URIs (empty when the round has no responses)."""
    if results.empty:
        return {}
    codes = tuple(u.code for u in units)
    by_name = sorted(units, key=lambda u: u.name)
    charts = {
        "units": data_uri(
            drawn(results, ("report-units", codes), lambda: units_chart(results, units))
        ),
        "elements": data_uri(
            drawn(results, ("report-elements", codes), lambda: elements_chart(results, by_name))
        ),
        "criteria": data_uri(drawn(results, "report-criteria", lambda: criteria_chart(results))),
        "areas": data_uri(drawn(results, "report-areas", lambda: areas_chart(results))),
    }
    if earlier is not None:
        found = unit_changes(results, earlier)
        if found:
            charts["change"] = data_uri(figure_bytes(change_chart(found), "svg"))
    return charts


def model_check_chart(estimates: ModelEstimates) -> Chart:
    """The small-area model's residuals against its synthetic estimates."""
    return residual_chart(
        [(c.synthetic, c.residual) for c in estimates.checks],
        xlabel=_("Ước lượng tổng hợp của mô hình (x'β, %)"),
        ylabel=_("Phần dư chuẩn hoá"),
        band_label=_("Khoảng ±2: khoảng 95% số điểm nằm trong đó nếu mô hình phù hợp"),
    )
