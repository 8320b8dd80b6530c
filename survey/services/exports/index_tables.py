"""Index tables for analysts: every index of every level the result pages show (province,
units on their own desks, units with their sub-units (level ``unit_tree``, the parent's code in
``unit``), service areas, unit x area cells; criteria, elements, aspects, the overall index and the
overall question; each measure), one row each, with its interval, n, flags and the verdict
against the target, as CSV (UTF-8 with a byte-order mark, for Excel) or XLSX with a methods
sheet. The numbers are those of the pages: ``round_index``, rounded as published.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from analysis.satisfaction import IndexKind, IndexRow, Level
from survey.services.exports.microdata import weights_caveat
from survey.services.exports.spreadsheets import csv_row, xlsx_row
from survey.services.results.pages import RoundResults, is_unreliable

COLUMNS = (
    "level",
    "unit",
    "unit_name",
    "area",
    "area_name",
    "kind",
    "index",
    "index_name",
    "measure",
    "headline",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "confidence",
    "ci_method",
    "df",
    "n",
    "n_answering",
    "n_excluded",
    "n_eff",
    "deff",
    "coverage",
    "flags",
    "unreliable",
    "target",
    "verdict",
    "rank",
    "rank_best",
    "rank_worst",
)
LEVELS = (Level.PROVINCE, Level.UNIT, Level.UNIT_TREE, Level.AREA, Level.CELL)


def _number(value: float | None, places: int | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, places) if places is not None else value


def _index_name(results: RoundResults, row: IndexRow) -> str:
    if row.kind == IndexKind.OVERALL:
        return "Chỉ số hài lòng chung / Overall index"
    return results.names.index(row.index)


def records(results: RoundResults) -> Iterator[list[object]]:
    """One list per row, in ``COLUMNS`` order, for the rows the reader may see: a unit officer
    gets the province and their units' rows, not the province-wide service areas."""
    from analysis.satisfaction.compare import verdict

    ranks = results.ranks()
    for level in LEVELS:
        if level == Level.AREA and not results.sees_everything:
            continue
        for row in results.table.rows(level=level):
            if level in (Level.UNIT, Level.UNIT_TREE, Level.CELL) and not results.sees(row.unit):
                continue
            headline = row.measure == results.measure
            rank = (
                ranks.get(row.unit or "")
                if level == Level.UNIT and row.kind == IndexKind.OVERALL and headline
                else None
            )
            target = results.target_for(row) if headline else None
            yield [
                row.level.value,
                row.unit or "",
                results.names.unit(row.unit) if row.unit else "",
                row.area or "",
                results.names.area(row.area) if row.area else "",
                row.kind.value,
                row.index,
                _index_name(results, row),
                row.measure.value,
                int(headline),
                _number(row.estimate, 2),
                _number(row.se, 2),
                _number(row.ci_low, 2),
                _number(row.ci_high, 2),
                row.confidence,
                row.ci_method,
                _number(row.df, None),
                row.n,
                row.n_answering,
                row.n_excluded,
                _number(row.n_eff, 2),
                _number(row.deff, 4),
                _number(row.coverage, 4),
                ";".join(row.flags),
                int(is_unreliable(row)),
                target,
                verdict(row, target).value if target is not None else "",
                rank.rank if rank else None,
                rank.best if rank else None,
                rank.worst if rank else None,
            ]
    if results.sees_everything:
        yield from _model_records(results)


def _model_records(results: RoundResults) -> Iterator[list[object]]:
    """The model-based overall index of every unit of each level a model could be fitted
    for (``measure`` = ``model``): its EBLUP, root MSE as ``se``, the MSE interval, never a
    verdict (``survey.services.results.small_area``)."""
    from survey.services.results.small_area import model_estimates, unit_levels

    for level in unit_levels(results):
        estimates = model_estimates(results, level)
        if estimates.fit is None or not estimates.fit.converged:
            continue
        for r in estimates.rows:
            flags = [
                "model",
                *(["synthetic"] if r.synthetic else []),
                *(["clipped"] if r.clipped else []),
            ]
            yield [
                Level.UNIT.value,
                r.code,
                r.name,
                "",
                "",
                IndexKind.OVERALL.value,
                "overall",
                "Chỉ số hài lòng chung, ước lượng theo mô hình / Overall index, model-based",
                "model",
                0,
                _number(r.eblup, 2),
                _number(math.sqrt(max(r.mse, 0.0)), 2),
                _number(r.low, 2),
                _number(r.high, 2),
                0.95,
                "mse",
                None,
                r.n,
                None,
                None,
                None,
                None,
                None,
                ";".join(flags),
                0,
                None,
                "",
                None,
                None,
                None,
            ]


def write_csv(results: RoundResults, out: BinaryIO) -> int:
    """Rows written; empty numbers as empty fields."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    count = 0
    for row in records(results):
        writer.writerow(csv_row("" if value is None else value for value in row))
        count += 1
    text.flush()
    text.detach()
    return count


def about(results: RoundResults) -> list[list[object]]:
    round_ = results.round
    version = round_.template_version
    d = results.table.weighting.diagnostics
    return [
        ["round", round_.name],
        ["questionnaire", f"{version.template.code} v{version.number}"],
        ["period (UTC)", f"{round_.opens_at.isoformat()} – {round_.closes_at.isoformat()}"],
        ["headline measure", str(results.measure)],
        ["counted responses", d.responses],
        ["responses without a dossier count (not weighted)", d.responses_excluded],
        ["dossiers in the frame", d.dossiers],
        ["weights", weights_caveat(round_)],
        [
            "intervals",
            "95%; criteria: Korn-Graubard (beta); composites and mean scores: t with the "
            "design degrees of freedom; variance by Taylor linearisation, stratified by unit x "
            "service area cell with the finite-population correction",
        ],
        [
            "flags",
            "NCHS presentation standards for proportions; 'unreliable' = n<30, n_eff<30, "
            "wide_ci, wide_relative_ci or no_answers (shown greyed, never hidden)",
        ],
        [
            "verdict",
            "above: the interval lies above the target; below: under it; cannot_tell: "
            "otherwise (headline measure only)",
        ],
        [
            "rank_best / rank_worst",
            "ranks compatible with all pairwise comparisons (Bonferroni, joint 95%): units "
            "whose ranges overlap cannot be told apart",
        ],
    ]


def write_xlsx(results: RoundResults, out: Path | BinaryIO) -> int:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("indices")
    sheet.append(xlsx_row(sheet, COLUMNS))
    count = 0
    for row in records(results):
        sheet.append(xlsx_row(sheet, row))
        count += 1
    notes = book.create_sheet("about")
    for line in about(results):
        notes.append(xlsx_row(notes, line))
    book.save(out)
    return count


def csv_bytes(results: RoundResults) -> bytes:
    out = io.BytesIO()
    write_csv(results, out)
    return out.getvalue()


def xlsx_bytes(results: RoundResults) -> bytes:
    out = io.BytesIO()
    write_xlsx(results, out)
    return out.getvalue()
