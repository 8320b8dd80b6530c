"""Result pages of a round: overview, units, elements and criteria, service areas, change since
an earlier round, their charts, the print-ready round report and the index tables to download.

Administrators and analysts see every unit; a unit officer sees their own units (and
sub-units) and gets 403 on another unit's page. Every number is read off ``round_index``.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Response as FlaskResponse
from flask import render_template, request, send_file
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from analysis.satisfaction import IndexKind, Level
from survey.admin import bp
from survey.admin.access import results_readers, roles_required
from survey.admin.requests import current_staff, page_arg
from survey.errors import NotFoundError
from survey.i18n import current_locale
from survey.models import Role, Round, utcnow
from survey.services.access import ensure_unit_visible, visible_unit_ids
from survey.services.exports import index_tables as index_exports
from survey.services.exports.microdata import RESPONSE_FORMATS, export_for_staff, export_name
from survey.services.paging import paginate_list
from survey.services.results.charts import Chart, figure_bytes
from survey.services.results.figures import (
    areas_chart,
    change_chart,
    criteria_chart,
    drawn,
    elements_chart,
    model_check_chart,
    report_charts,
    unit_chart,
    units_chart,
)
from survey.services.results.pages import (
    Companion,
    RoundResults,
    Shown,
    UnitFilter,
    companions,
    comparability_of,
    earlier_rounds,
    filter_choices,
    parse_sort,
    pick_earlier,
    priorities,
    province_change,
    round_results,
    shared_changes,
    unit_changes,
    unit_filter,
)
from survey.services.results.small_area import model_estimates
from survey.services.rounds.lifecycle import visible_round

PER_PAGE = 50
# Response-level data and model-based estimates: administrators and analysts only.
data_readers = roles_required(Role.ADMIN, Role.ANALYST)
# A chart is an image: its own inline styles are all it needs, and it may run nothing.
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"


@bp.app_template_filter("index_value")
def index_value(value: float | None, places: int = 2) -> str:
    """An index as published: two decimals in the reader's locale, a dash when undefined."""
    if value is None or not math.isfinite(value):
        return "—"
    return str(format_decimal(value, format="#,##0." + "0" * places))


FLAG_LABELS = {
    "n<30": _l("dưới 30 phiếu"),
    "df<8": _l("bậc tự do dưới 8"),
    "lonely_psu_adjusted": _l("có ô chỉ một phiếu (phương sai đã điều chỉnh)"),
    "n_eff<30": _l("cỡ mẫu hiệu dụng dưới 30"),
    "p_is_0_or_1": _l("tỷ lệ bằng 0% hoặc 100%"),
    "wide_ci": _l("khoảng tin cậy quá rộng"),
    "wide_relative_ci": _l("khoảng tin cậy quá rộng so với ước lượng"),
    "wide_relative_ci_complement": _l("tỷ lệ không hài lòng không đủ tin cậy"),
    "criteria_missing": _l("có tiêu chí không có câu trả lời"),
    "excluded_responses": _l("có phiếu không gia quyền được vì thiếu số hồ sơ"),
    "cells_without_responses": _l("có ô có hồ sơ nhưng không có phiếu"),
    "no_answers": _l("không có câu trả lời"),
    "cannot_tell": _l("chưa kết luận được: một phiếu, một quầy hoặc không có sai số"),
    "clipped": _l("khoảng tin cậy được cắt theo thang đo"),
}
VERDICT_LABELS = {
    "above": _l("Trên mục tiêu"),
    "below": _l("Dưới mục tiêu"),
    "cannot_tell": _l("Chưa kết luận được"),
    "no_data": _l("Không có số liệu"),
}


@bp.app_template_global()
def reads_all_units() -> bool:
    """Administrators and analysts: they also get the model-based page and response data."""
    return bool(current_user.is_authenticated and current_user.role in (Role.ADMIN, Role.ANALYST))


@bp.app_template_global()
def round_companions(results: RoundResults) -> list[Companion]:
    """The rounds of the other kind in the same period, side by side with this one."""
    return companions(results.round, results.table)


@bp.app_template_global()
def flag_label(flag: str) -> str:
    return str(FLAG_LABELS.get(flag, flag))


@bp.app_template_global()
def verdict_label(verdict: str) -> str:
    return str(VERDICT_LABELS.get(str(verdict), verdict))


@bp.app_template_global()
def heat_class(value: float | None, percent: bool = True) -> str:
    """One of nine shades for a heat-map cell (results.css), from the index's range."""
    if value is None or not math.isfinite(value):
        return ""
    share = value / 100 if percent else (value - 1) / 4
    return f"heat-{min(8, max(0, int(share * 9)))}"


def _results(round_id: int) -> RoundResults:
    unit_ids = visible_unit_ids(current_staff())
    round_ = visible_round(round_id, unit_ids)
    return round_results(
        round_, unit_ids, target=request.args.get("target"), english=current_locale() == "en"
    )


def _unit_in_round(round_: Round, unit_id: int) -> None:
    if not any(s.unit_id == unit_id for s in round_.scope):
        raise NotFoundError(_("Đơn vị này không thuộc đợt khảo sát."))
    ensure_unit_visible(current_staff(), unit_id)


def _chart(results: RoundResults | None, build: Callable[[], Chart]) -> FlaskResponse:
    """The chart ``build`` draws, in the format asked for; drawn once per state of
    ``results`` and page arguments (None: drawn every time)."""
    fmt = "png" if request.args.get("format") == "png" else "svg"
    if results is None:
        content = figure_bytes(build(), fmt)
    else:
        content = drawn(results, (request.path, tuple(sorted(request.args.items()))), build, fmt)
    answer = FlaskResponse(content, mimetype="image/png" if fmt == "png" else "image/svg+xml")
    answer.headers["Content-Security-Policy"] = CHART_CSP
    answer.headers["Cache-Control"] = "private, max-age=60"
    return answer


def _args(**extra: Any) -> dict[str, Any]:
    """The query arguments the result pages share (target, sort, page), for links and charts."""
    kept = {
        k: v
        for k, v in request.args.items()
        if k in ("target", "sort", "page", "since", "level", "area", "parent")
    }
    return kept | extra


@bp.get("/rounds/<int:round_id>/results")
@results_readers
def round_results_overview(round_id: int) -> str:
    results = _results(round_id)
    return render_template(
        "admin/results/overview.html",
        round=results.round,
        results=results,
        province=results.province(),
        question=results.overall_question(),
        units=results.units(),
        weighting=results.weighting_summary(),
        args=_args(),
    )


@bp.get("/rounds/<int:round_id>/results/units")
@results_readers
def round_results_units(round_id: int) -> str:
    results = _results(round_id)
    sort = parse_sort(request.args.get("sort"))
    chosen = _unit_filter(results)
    units = paginate_list(results.units(sort, chosen), page_arg(), PER_PAGE)
    return render_template(
        "admin/results/units.html",
        round=results.round,
        results=results,
        units=units,
        sort=sort,
        chosen=chosen,
        filter_choices=filter_choices(results),
        args=_args(sort=sort, page=units.page),
    )


def _unit_filter(results: RoundResults) -> UnitFilter:
    return unit_filter(
        results, request.args.get("level"), request.args.get("area"), request.args.get("parent")
    )


@bp.get("/rounds/<int:round_id>/results/units/chart")
@results_readers
def round_chart_units(round_id: int) -> FlaskResponse:
    results = _results(round_id)
    found = results.units(parse_sort(request.args.get("sort")), _unit_filter(results))
    units = paginate_list(found, page_arg(), PER_PAGE)
    return _chart(results, lambda: units_chart(results, units.items))


@bp.get("/rounds/<int:round_id>/results/units/<int:unit_id>")
@results_readers
def round_results_unit(round_id: int, unit_id: int) -> str:
    results = _results(round_id)
    _unit_in_round(results.round, unit_id)
    code = next(c for c, uid in results.names.unit_ids.items() if uid == unit_id)
    shown = results.unit(code)
    return render_template(
        "admin/results/unit.html",
        round=results.round,
        results=results,
        unit_id=unit_id,
        unit_name=results.names.unit(code),
        unit=shown,
        tree=results.unit_tree(code),
        tree_elements=results.indices_of(IndexKind.ELEMENT, level=Level.UNIT_TREE, unit=code),
        elements=results.indices_of(IndexKind.ELEMENT, level=Level.UNIT, unit=code),
        criteria=results.indices_of(IndexKind.CRITERION, level=Level.UNIT, unit=code),
        question=results.overall_question_of(level=Level.UNIT, unit=code),
        cells=results.cells(code),
        desks=results.desks(code),
        args=_args(),
    )


@bp.get("/rounds/<int:round_id>/results/units/<int:unit_id>/chart")
@results_readers
def round_chart_unit(round_id: int, unit_id: int) -> FlaskResponse:
    results = _results(round_id)
    _unit_in_round(results.round, unit_id)
    code = next(c for c, uid in results.names.unit_ids.items() if uid == unit_id)
    return _chart(results, lambda: unit_chart(results, code))


@bp.get("/rounds/<int:round_id>/results/elements")
@results_readers
def round_results_elements(round_id: int) -> str:
    results = _results(round_id)
    units = paginate_list(results.units("name"), page_arg(), PER_PAGE)
    return render_template(
        "admin/results/elements.html",
        round=results.round,
        results=results,
        units=units,
        heat=results.heat_map(units.items),
        elements=results.indices_of(IndexKind.ELEMENT, level=Level.PROVINCE),
        criteria=results.indices_of(IndexKind.CRITERION, level=Level.PROVINCE),
        priorities=priorities(results, english=current_locale() == "en"),
        args=_args(page=units.page),
    )


@bp.get("/rounds/<int:round_id>/results/elements/chart")
@results_readers
def round_chart_elements(round_id: int) -> FlaskResponse:
    results = _results(round_id)
    units = paginate_list(results.units("name"), page_arg(), PER_PAGE)
    return _chart(results, lambda: elements_chart(results, units.items))


@bp.get("/rounds/<int:round_id>/results/criteria/chart")
@results_readers
def round_chart_criteria(round_id: int) -> FlaskResponse:
    results = _results(round_id)
    return _chart(results, lambda: criteria_chart(results))


@bp.get("/rounds/<int:round_id>/results/areas")
@results_readers
def round_results_areas(round_id: int) -> str:
    results = _results(round_id)
    cells = paginate_list(results.cells(), page_arg(), PER_PAGE)
    units = paginate_list(results.units("name"), page_arg("unit_page"), PER_PAGE)
    return render_template(
        "admin/results/areas.html",
        round=results.round,
        results=results,
        areas=results.areas(),
        cells=cells,
        units=units,
        heat=results.area_heat_map(units.items),
        args=_args(page=cells.page),
    )


@bp.get("/rounds/<int:round_id>/results/areas/chart")
@results_readers
def round_chart_areas(round_id: int) -> FlaskResponse:
    results = _results(round_id)
    return _chart(results, lambda: areas_chart(results))


@bp.get("/rounds/<int:round_id>/results/small-area")
@data_readers
def round_results_small_area(round_id: int) -> str:
    results = _results(round_id)
    estimates = model_estimates(results, request.args.get("level"))
    rows = paginate_list(estimates.rows, page_arg(), PER_PAGE)
    return render_template(
        "admin/results/small_area.html",
        round=results.round,
        results=results,
        estimates=estimates,
        rows=rows,
        args=_args(level=estimates.level, page=rows.page),
    )


@bp.get("/rounds/<int:round_id>/results/small-area/chart")
@data_readers
def round_chart_small_area(round_id: int) -> FlaskResponse:
    results = _results(round_id)
    return _chart(
        results,
        lambda: model_check_chart(model_estimates(results, request.args.get("level"))),
    )


@bp.get("/rounds/<int:round_id>/results/change")
@results_readers
def round_results_change(round_id: int) -> str:
    results = _results(round_id)
    candidates = earlier_rounds(results.round, results.unit_ids)
    earlier = pick_earlier(candidates, request.args.get("since"))
    found = unit_changes(results, earlier) if earlier is not None else []
    changes = paginate_list(found, page_arg(), PER_PAGE)
    return render_template(
        "admin/results/change.html",
        round=results.round,
        results=results,
        candidates=candidates,
        earlier=earlier,
        comparable=comparability_of(results, earlier) if earlier is not None else None,
        shared=shared_changes(results, earlier) if earlier is not None else [],
        province=province_change(results, earlier) if earlier is not None else None,
        changes=changes,
        args=_args(page=changes.page, **({"since": earlier.id} if earlier else {})),
    )


@bp.get("/rounds/<int:round_id>/results/change/chart")
@results_readers
def round_chart_change(round_id: int) -> FlaskResponse:
    results = _results(round_id)
    earlier = pick_earlier(
        earlier_rounds(results.round, results.unit_ids), request.args.get("since")
    )
    found = unit_changes(results, earlier) if earlier is not None else []
    shown = paginate_list(found, page_arg(), PER_PAGE).items
    return _chart(None, lambda: change_chart(shown))


@bp.get("/rounds/<int:round_id>/report")
@results_readers
def round_report(round_id: int) -> str:
    """The whole round on one print-ready page (charts embedded, so the saved file stands
    alone): overview, units, elements, service areas, change, methods annex."""
    results = _results(round_id)
    earlier = pick_earlier(
        earlier_rounds(results.round, results.unit_ids), request.args.get("since")
    )
    units = results.units("index")
    return render_template(
        "admin/results/report.html",
        round=results.round,
        results=results,
        province=results.province(),
        question=results.overall_question(),
        units=units,
        heat=results.heat_map(sorted(units, key=_by_name)),
        elements=results.indices_of(IndexKind.ELEMENT, level=Level.PROVINCE),
        criteria=results.indices_of(IndexKind.CRITERION, level=Level.PROVINCE),
        priorities=priorities(results, english=current_locale() == "en"),
        areas=results.areas(),
        cells=results.cells(),
        earlier=earlier,
        province_change=province_change(results, earlier) if earlier is not None else None,
        changes=unit_changes(results, earlier) if earlier is not None else [],
        comparable=comparability_of(results, earlier) if earlier is not None else None,
        shared=shared_changes(results, earlier) if earlier is not None else [],
        weighting=results.weighting_summary(),
        charts=report_charts(results, units, earlier),
        now=utcnow(),
    )


@bp.get("/rounds/<int:round_id>/results/indices")
@results_readers
def round_index_export(round_id: int) -> FlaskResponse:
    """The index tables of every level the pages show, as CSV (default) or XLSX."""
    results = _results(round_id)
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    if fmt == "xlsx":
        body = index_exports.xlsx_bytes(results)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = index_exports.csv_bytes(results)
        mimetype = "text/csv"
    answer = FlaskResponse(body, mimetype=mimetype)
    name = export_name(results.round, utcnow(), fmt).replace("hailong-", "hailong-indices-")
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


@bp.get("/rounds/<int:round_id>/export/<fmt>")
@data_readers
def round_export(round_id: int, fmt: str) -> FlaskResponse:
    """The round's counted responses with design variables and weights: CSV, XLSX, SPSS,
    Stata, or a ZIP of the CSV and its SPEC.json. Written to a temporary folder (the writers
    work in chunks), sent, then removed; every download is audited."""
    if fmt not in RESPONSE_FORMATS:
        raise NotFoundError(_("Không có định dạng xuất này."))
    round_ = visible_round(round_id, None)
    folder = Path(tempfile.mkdtemp(prefix="hailong-export-"))
    try:
        path = export_for_staff(round_, fmt, folder, actor=current_staff(), now=utcnow())
        answer = send_file(
            path, mimetype=RESPONSE_FORMATS[fmt], as_attachment=True, download_name=path.name
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    answer.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
    answer.headers["Cache-Control"] = "private, no-store"
    return answer


def _earlier(results: RoundResults) -> Round | None:
    """The round to compare with: the one asked for (``since``), else the latest earlier one."""
    candidates = earlier_rounds(results.round, results.unit_ids)
    return pick_earlier(candidates, request.args.get("since"))


def _by_name(shown: Shown) -> str:
    return shown.name
