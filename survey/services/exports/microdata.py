"""Round exports for analysts: one row per counted response, one column per item, with the
design variables (unit, service area, cell, desk, dossiers, weight) needed to redo every estimate.

Rows are produced in chunks straight from the database, so memory does not grow with the round
(CSV and XLSX stream; SPSS and Stata files are built by pyreadstat from a data frame, filled
chunk by chunk into one float matrix, so it holds the numbers once at 8 bytes each). Free-text
comments are not exported: they are read after moderation.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select

from survey.extensions import db
from survey.local_time import to_local
from survey.models import (
    Answer,
    Item,
    ItemRole,
    Response,
    Round,
    Scale,
    User,
)
from survey.services.audit import record_event
from survey.services.exports.spreadsheets import csv_row, xlsx_row
from survey.services.questionnaires.frozen import ItemSpec, questionnaire_spec
from survey.services.questionnaires.scores import score_definitions
from survey.services.responses.counting import counted, design_frame

CHUNK = 5000
# "Không áp dụng" is not a score and not a missing answer: every format keeps it apart from a
# blank (not answered), as a labelled missing code (the codebook and the about sheet say so).
NOT_APPLICABLE = "NA"  # CSV and XLSX; R reads it as NA, the analysis command as missing
NOT_APPLICABLE_SPSS = 99  # declared a user-missing value, labelled
NOT_APPLICABLE_STATA = "a"  # the extended missing value .a, labelled
NOT_APPLICABLE_LABEL = "Không áp dụng / not applicable"
_NA_MARK = -99999.0  # stands for not applicable in the float matrix of _dataframe
CAVEAT = (
    "Trọng số w = N_ô / n_ô cho mỗi ô đơn vị x lĩnh vực: trong một ô, người trả lời được coi "
    "như những người không trả lời. / Weights w = N_cell / n_cell per unit x service area cell: "
    "within a cell, those who answered are taken to be like those who did not."
)


@dataclass(frozen=True)
class Variable:
    name: str  # safe for SPSS, Stata and R: a letter, then letters, digits, underscores
    label: str
    value_labels: dict[int, str] = field(default_factory=dict)
    numeric: bool = True
    item_id: int | None = None
    option: int | None = None  # for one 0/1 column per option of a choice item
    sums: tuple[int, ...] = ()  # a score of the version: the item ids whose points it adds


DESIGN = (
    Variable("response_id", "Mã phiếu (số thứ tự trong cơ sở dữ liệu)"),
    Variable("received_at", "Thời điểm nhận phiếu (giờ Việt Nam)", numeric=False),
    Variable("channel", "Kênh (qr, kiosk, web, paper)", numeric=False),
    Variable("unit", "Mã đơn vị", numeric=False),
    Variable("unit_name", "Tên đơn vị (tại thời điểm mở đợt)", numeric=False),
    Variable("area", "Mã lĩnh vực", numeric=False),
    Variable("cell", "Ô đơn vị x lĩnh vực (tầng của thiết kế)", numeric=False),
    Variable("desk", "Mã quầy", numeric=False),
    Variable("dossiers", "Số hồ sơ của ô trong kỳ (N_ô)"),
    Variable("responses_in_cell", "Số phiếu được tính của ô (n_ô)"),
    Variable("weight", "Trọng số N_ô / n_ô"),
)


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned[:1].isalpha() else f"q_{cleaned}"


def variables(round_: Round) -> list[Variable]:
    """The export's columns: the design variables, then the items in questionnaire order."""
    spec = questionnaire_spec(round_.template_version)
    columns = list(DESIGN)
    for item in spec.items:
        if item.scale == Scale.TEXT:
            continue
        labels = {value: vi for value, vi, _en in item.points()}
        if item.scale == Scale.CHOICE:
            for value, vi, _en in item.points():
                columns.append(
                    Variable(
                        _safe(f"{item.code}_{value}"),
                        f"{item.text} — {vi}",
                        {0: "Không chọn", 1: "Chọn"},
                        item_id=item.id,
                        option=value,
                    )
                )
            continue
        columns.append(Variable(_safe(item.code), item.text, labels, item_id=item.id))
    ids = {item.code: item.id for item in spec.items}
    for score in score_definitions(round_.template_version):
        columns.append(
            Variable(
                _safe(score.code),
                f"{score.name} (0-{score.maximum})",
                sums=tuple(ids[code] for code in score.items if code in ids),
            )
        )
    return columns


def rows(
    round_: Round, *, not_applicable: object = None, last_id: int | None = None
) -> Iterator[list[object]]:
    """Export rows in response order, ``CHUNK`` responses at a time. Blank answers are None;
    not-applicable answers are ``not_applicable``. ``last_id``: stop there (a snapshot of an
    open round)."""
    columns = variables(round_)
    position = {(v.item_id, v.option): i for i, v in enumerate(columns) if v.item_id}
    choice_items = {v.item_id for v in columns if v.option is not None}
    option_columns = [i for i, v in enumerate(columns) if v.option is not None]
    score_columns = [(i, v.sums) for i, v in enumerate(columns) if v.sums]
    frame = design_frame(round_)
    bound = [] if last_id is None else [Response.id <= last_id]
    after = 0
    while True:
        chunk = db.session.execute(
            select(
                Response.id,
                Response.received_at,
                Response.channel,
                Response.unit_id,
                Response.service_area_id,
                Response.desk_id,
            )
            .where(counted(round_), Response.id > after, *bound)
            .order_by(Response.id)
            .limit(CHUNK)
        ).all()
        if not chunk:
            return
        first, after = chunk[0].id, chunk[-1].id
        answers: dict[int, list[tuple[int, int | None, bool]]] = {}
        for response_id, item_id, value, na in db.session.execute(
            select(Answer.response_id, Answer.item_id, Answer.value, Answer.not_applicable)
            .join(Item, Item.id == Answer.item_id)
            .where(Answer.response_id.between(first, after), Item.scale != Scale.TEXT.value)
        ):
            answers.setdefault(response_id, []).append((item_id, value, na))
        for r in chunk:
            unit_code, unit_name = frame.units[r.unit_id]
            area = frame.areas[r.service_area_id]
            cell = (r.unit_id, r.service_area_id)
            dossiers = frame.dossiers.get(cell)
            n = frame.counts.get(cell, 0)
            row: list[object] = [
                r.id,
                to_local(r.received_at).isoformat(timespec="seconds"),
                r.channel,
                unit_code,
                unit_name,
                area,
                f"{unit_code}:{area}",
                frame.desks.get(r.desk_id, ""),
                dossiers,
                n,
                frame.weight(cell),
            ]
            row.extend([None] * (len(columns) - len(row)))
            for index in option_columns:
                row[index] = 0  # an option not chosen, as opposed to a question not shown
            points: dict[int, int] = {}
            for item_id, value, na in answers.get(r.id, ()):
                if not na and value is not None:
                    points[item_id] = value
                if item_id in choice_items:
                    index_of = position.get((item_id, value))
                    if index_of is not None:
                        row[index_of] = 1
                    continue
                index_of = position.get((item_id, None))
                if index_of is not None:
                    row[index_of] = not_applicable if na else value
            for index_of, parts in score_columns:
                # A score needs every one of its items (score_answers): else it is blank.
                if all(p in points for p in parts):
                    row[index_of] = sum(points[p] for p in parts)
            yield row


def write_csv(round_: Round, out: IO[bytes]) -> int:
    """UTF-8 with a byte-order mark, so that Excel shows Vietnamese correctly. Returns rows."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(csv_row(v.name for v in variables(round_)))
    count = 0
    for row in rows(round_, not_applicable=NOT_APPLICABLE):
        writer.writerow(csv_row("" if x is None else x for x in row))
        count += 1
    text.flush()
    text.detach()
    return count


def codebook(round_: Round) -> list[list[object]]:
    table: list[list[object]] = [["variable", "label", "values"]]
    for v in variables(round_):
        values = "; ".join(f"{k} = {label}" for k, label in v.value_labels.items())
        if _answer_column(v):
            values += f"; {NOT_APPLICABLE} = {NOT_APPLICABLE_LABEL}; empty = not answered"
        table.append([v.name, v.label, values])
    return table


def _answer_column(v: Variable) -> bool:
    """A question's own column (not a choice option's 0/1): it may hold "not applicable"."""
    return v.item_id is not None and v.option is None


def write_xlsx(round_: Round, path: Path) -> int:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("responses")
    sheet.append(xlsx_row(sheet, [v.name for v in variables(round_)]))
    count = 0
    for row in rows(round_, not_applicable=NOT_APPLICABLE):
        sheet.append(xlsx_row(sheet, row))
        count += 1
    book_sheet = book.create_sheet("codebook")
    for line in codebook(round_):
        book_sheet.append(xlsx_row(book_sheet, line))
    about = book.create_sheet("about")
    for line in _about(round_, count):
        about.append(xlsx_row(about, line))
    book.save(path)
    return count


def _about(round_: Round, count: int) -> list[list[object]]:
    return [
        ["round", round_.name],
        [
            "questionnaire",
            f"{round_.template_version.template.code} v{round_.template_version.number}",
        ],
        ["period (UTC)", f"{round_.opens_at.isoformat()} – {round_.closes_at.isoformat()}"],
        ["counted responses", count],
        ["weights", CAVEAT],
        [
            "not applicable",
            f"'{NOT_APPLICABLE}' in CSV and XLSX, {NOT_APPLICABLE_SPSS} (user-missing) in SPSS, "
            f".{NOT_APPLICABLE_STATA} in Stata, each labelled; blank = not answered",
        ],
        ["comments", "free-text comments are not exported; they are read after moderation"],
    ]


Labels = dict[str, str | None]
ValueLabels = dict[str, dict[int | float, str]]


def _dataframe(round_: Round, not_applicable: float) -> tuple[Any, Labels, ValueLabels]:
    """The export as a data frame for pyreadstat, which writes a whole frame at once. Built
    chunk by chunk into preallocated columns: the numbers as one float64 matrix (8 bytes a
    value), the texts as object arrays whose repeated values (unit, area, desk...) share one
    string; never a Python list of every row, which would take several times the memory."""
    import numpy as np
    import pandas as pd

    columns = variables(round_)
    count, last_id = db.session.execute(
        select(func.count(Response.id), func.max(Response.id)).where(counted(round_))
    ).one()
    numeric = [i for i, v in enumerate(columns) if v.numeric]
    texts = [i for i, v in enumerate(columns) if not v.numeric]
    matrix = np.full((count, len(numeric)), np.nan)
    strings = {i: np.full(count, "", dtype=object) for i in texts}
    shared: dict[int, dict[str, str]] = {i: {} for i in texts if columns[i].name != "received_at"}
    filled = 0
    chunk: list[list[object]] = []

    def flush() -> None:
        nonlocal filled
        end = filled + len(chunk)
        # None (blank, not applicable) becomes NaN in a float array.
        matrix[filled:end] = np.array([[row[i] for i in numeric] for row in chunk], dtype=float)
        for i in texts:
            column, seen = strings[i], shared.get(i)
            for offset, row in enumerate(chunk):
                value = "" if row[i] is None else str(row[i])
                column[filled + offset] = value if seen is None else seen.setdefault(value, value)
        filled = end
        chunk.clear()

    for row in rows(round_, not_applicable=not_applicable, last_id=last_id or 0):
        chunk.append(row)
        if len(chunk) == CHUNK:
            flush()
    if chunk:
        flush()
    data: dict[str, Any] = {}
    position = {i: j for j, i in enumerate(numeric)}
    for i, v in enumerate(columns):
        data[v.name] = matrix[:filled, position[i]] if v.numeric else strings[i][:filled]
    frame = pd.DataFrame(data, copy=False)
    labels: Labels = {v.name: v.label for v in columns}
    values: ValueLabels = {
        v.name: {key: text for key, text in v.value_labels.items()}
        for v in columns
        if v.value_labels
    }
    return frame, labels, values


def write_sav(round_: Round, path: Path) -> int:
    import pyreadstat

    frame, labels, values = _dataframe(round_, float(NOT_APPLICABLE_SPSS))
    answers = [v.name for v in variables(round_) if _answer_column(v)]
    for name in answers:
        values[name] = {**values.get(name, {}), NOT_APPLICABLE_SPSS: NOT_APPLICABLE_LABEL}
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels=labels,
        variable_value_labels=values,
        missing_ranges={name: [NOT_APPLICABLE_SPSS] for name in answers},
        file_label=round_.name[:64],
    )
    return len(frame)


def write_dta(round_: Round, path: Path) -> int:
    import pyreadstat

    frame, labels, numeric_labels = _dataframe(round_, _NA_MARK)
    # pyreadstat's type hints leave out Stata's letter keys (a..z) for extended missing values.
    values: dict[str, dict[Any, str]] = dict(numeric_labels)
    marked: dict[str, list[str]] = {}
    for v in variables(round_):
        column = frame[v.name]
        if _answer_column(v) and (column == _NA_MARK).any():
            # Stata's .a lives in the data as the letter: the column holds numbers and "a".
            frame[v.name] = column.astype(object).where(column != _NA_MARK, NOT_APPLICABLE_STATA)
            values[v.name] = {**values.get(v.name, {}), NOT_APPLICABLE_STATA: NOT_APPLICABLE_LABEL}
            marked[v.name] = [NOT_APPLICABLE_STATA]
    # Stata keeps variable labels to 80 characters.
    short: Labels = {k: (v or "")[:80] for k, v in labels.items()}
    pyreadstat.write_dta(
        frame,
        str(path),
        column_labels=short,
        variable_value_labels=values,
        missing_user_values=marked,
        version=15,
    )
    return len(frame)


def criteria_weights(items: tuple[ItemSpec, ...], version: Any) -> dict[str, float]:
    """Each criterion's share of the overall index: the overall index is the mean of aspect
    indices, each the mean of its element indices, each the mean of its criteria."""
    weights: dict[str, float] = {}
    by_element: dict[int, list[ItemSpec]] = {}
    for item in items:
        if item.role == ItemRole.CRITERION and item.element_id is not None:
            by_element.setdefault(item.element_id, []).append(item)
    aspects = [a for a in version.aspects if any(e.id in by_element for e in a.elements)]
    for aspect in aspects:
        elements = [e for e in aspect.elements if e.id in by_element]
        for element in elements:
            crits = by_element[element.id]
            for item in crits:
                weights[_safe(item.code)] = 1 / (len(aspects) * len(elements) * len(crits))
    return weights


def analysis_spec(round_: Round, data_file: str) -> dict[str, Any]:
    """A SPEC.json for ``python -m analysis estimate`` that reproduces the round's overall
    index (top-2-box composite) and the overall question from the CSV export."""
    spec = questionnaire_spec(round_.template_version)
    weights = criteria_weights(spec.items, round_.template_version)
    satisfied = sorted(
        {v for item in spec.items if _safe(item.code) in weights for v in _satisfied(item)}
    )
    estimates: list[dict[str, Any]] = [
        {
            "id": "overall_index",
            "statistic": "composite",
            "items": list(weights),
            "item_weights": list(weights.values()),
            "success": satisfied,
        }
    ]
    for item in spec.items:
        if item.role == ItemRole.OVERALL:
            estimates.append(
                {
                    "id": f"overall_question_{item.code}",
                    "statistic": "proportion",
                    "variable": _safe(item.code),
                    "success": list(_satisfied(item)),
                    "ci": "beta",
                }
            )
    return {
        "data": data_file,
        # A cell with one response is a lonely PSU: the result pages treat it as R's "adjust".
        "design": {
            "ids": [],
            "strata": "cell",
            "weights": "weight",
            "fpc": ["dossiers"],
            "lonely_psu": "adjust",
        },
        "calibration": None,
        "estimates": estimates,
        "note": CAVEAT,
    }


def _satisfied(item: ItemSpec) -> tuple[int, ...]:
    values = db.session.scalar(select(Item.satisfied_values).where(Item.id == item.id))
    return tuple(values or ())


def write_spec(round_: Round, out: IO[bytes], data_file: str) -> None:
    out.write(json.dumps(analysis_spec(round_, data_file), ensure_ascii=False, indent=2).encode())


def export_name(round_: Round, now: datetime, extension: str) -> str:
    if extension == "bundle":
        return f"hailong-round{round_.id}-{now:%Y%m%d}-reproduce.zip"
    return f"hailong-round{round_.id}-{now:%Y%m%d}.{extension}"


# The formats of one round's counted responses, with what a browser is told they are.
RESPONSE_FORMATS: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "zip": "application/zip",  # the CSV with the SPEC.json that reads it
    "bundle": "application/zip",  # the reproduction bundle: data, codebook, R/Stata/SPSS scripts
}


def write_responses(round_: Round, fmt: str, path: Path, *, now: datetime) -> int:
    """Write the round's counted responses to ``path`` in one of RESPONSE_FORMATS; "zip" holds
    the CSV and a SPEC.json for ``python -m analysis estimate`` beside it; "bundle" the
    reproduction bundle (``survey.services.exports.bundle``). Returns the number of responses
    written."""
    if fmt == "csv":
        with path.open("wb") as f:
            return write_csv(round_, f)
    if fmt == "xlsx":
        return write_xlsx(round_, path)
    if fmt == "sav":
        return write_sav(round_, path)
    if fmt == "dta":
        return write_dta(round_, path)
    if fmt == "zip":
        data_file = export_name(round_, now, "csv")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
            with bundle.open(data_file, "w", force_zip64=True) as f:
                count = write_csv(round_, f)
            with bundle.open("SPEC.json", "w") as f:
                write_spec(round_, f, data_file)
        return count
    if fmt == "bundle":
        # Imported here: the bundle is built on this module (an import at the top would loop).
        from survey.services.exports.bundle import write_bundle

        return write_bundle(round_, path)
    raise ValueError(f"unknown export format {fmt!r}")


def export_for_staff(round_: Round, fmt: str, folder: Path, *, actor: User, now: datetime) -> Path:
    """A download from the console: the file in ``folder``, and an audit event saying who took
    the round's response data and in what form."""
    path = folder / export_name(round_, now, fmt)
    count = write_responses(round_, fmt, path, now=now)
    record_event(
        action="round.export",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        after={"format": fmt, "responses": count},
    )
    db.session.commit()
    return path
