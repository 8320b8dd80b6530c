"""Dossier counts per unit x service area for a round (the weighting frame), from CSV.

The file has one row per cell with the columns ``unit_code``, ``service_area_code`` and
``dossiers`` (Vietnamese headers ``ma_don_vi``, ``ma_linh_vuc``, ``so_ho_so`` are accepted too;
other columns are ignored). It is read as UTF-8 with or without a byte-order mark, commas or
semicolons. Every bad row is reported with its line, column and reason, and nothing is written
unless the whole file is good. Importing the same file again changes nothing; a new file updates
the cells it lists and, when asked, removes the cells it does not list.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.errors import ConflictError
from survey.extensions import db
from survey.models import DossierCount, Round, RoundState, ServiceArea, Unit, User
from survey.services.audit import record_event
from survey.services.csv_upload import CsvRecords, read_csv_upload
from survey.services.exports.spreadsheets import csv_row

COLUMNS: dict[str, tuple[str, ...]] = {
    "unit_code": ("unit_code", "ma_don_vi", "mã đơn vị", "mã_đơn_vị"),
    "service_area_code": ("service_area_code", "ma_linh_vuc", "mã lĩnh vực", "mã_lĩnh_vực"),
    "dossiers": ("dossiers", "so_ho_so", "số hồ sơ", "số_hồ_sơ"),
}
# The database column is a 32-bit integer; no unit handles two billion dossiers in a round.
MAX_DOSSIERS = 2**31 - 1
WHOLE_NUMBER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class RowError:
    line: int | None  # line in the file, 1 being the header; None for the file as a whole
    column: str | None
    reason: Any  # a lazily translated message


@dataclass(frozen=True)
class Cell:
    line: int
    unit_id: int
    service_area_id: int
    dossiers: int


@dataclass
class ImportOutcome:
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def read_csv_table(
    data: bytes,
    columns: Mapping[str, tuple[str, ...]],
    optional: Collection[str] = (),
    **limits: int,
) -> tuple[CsvRecords | None, list[RowError]]:
    """The rows of an uploaded CSV file, or every reason it cannot be read
    (``survey.services.csv_upload``, the reader of every upload; ``limits``: its ``max_bytes``
    and ``max_rows`` when not the usual ones). Shared by the imports of a round's dossier
    counts, codes and sampling frame."""
    required = [column for column in columns if column not in optional]
    records, problems = read_csv_upload(data, columns, required, **limits)
    return records, [RowError(p.line, p.column, p.reason) for p in problems]


def _count(raw: str) -> tuple[int | None, Any]:
    text = raw.strip()
    if not text:
        return None, _l("Thiếu số hồ sơ; nếu ô này không có số liệu, hãy xoá dòng.")
    if not WHOLE_NUMBER.fullmatch(text):
        return None, _l("“%(value)s” không phải số nguyên.", value=text[:40])
    value = int(text)
    if value < 0:
        return None, _l("Số hồ sơ không được âm.")
    if value > MAX_DOSSIERS:
        return None, _l("Số hồ sơ quá lớn.")
    return value, None


def parse_dossier_csv(data: bytes, round_: Round) -> tuple[list[Cell], list[RowError]]:
    """The cells of the file, or every reason the file cannot be imported."""
    table, errors = read_csv_table(data, COLUMNS)
    if table is None:
        return [], errors

    units = {u.code: u for u in db.session.scalars(select(Unit))}
    areas = {a.code: a for a in db.session.scalars(select(ServiceArea))}
    in_scope = {s.unit_id for s in round_.scope}
    cells: list[Cell] = []
    first_line: dict[tuple[int, int], int] = {}
    for line, row in table.rows:

        def value(column: str, row: list[str] = row) -> str:
            return table.value(row, column)

        row_errors = []
        unit_code, area_code = value("unit_code"), value("service_area_code")
        unit = units.get(unit_code)
        if not unit_code:
            row_errors.append(RowError(line, "unit_code", _l("Thiếu mã đơn vị.")))
        elif unit is None:
            row_errors.append(
                RowError(line, "unit_code", _l("Không có đơn vị mã %(code)s.", code=unit_code))
            )
        elif unit.id not in in_scope:
            row_errors.append(
                RowError(
                    line,
                    "unit_code",
                    _l("Đơn vị %(code)s không thuộc phạm vi đợt khảo sát.", code=unit_code),
                )
            )
        area = areas.get(area_code)
        if not area_code:
            row_errors.append(RowError(line, "service_area_code", _l("Thiếu mã lĩnh vực.")))
        elif area is None:
            row_errors.append(
                RowError(
                    line, "service_area_code", _l("Không có lĩnh vực mã %(code)s.", code=area_code)
                )
            )
        dossiers, why = _count(value("dossiers"))
        if why is not None:
            row_errors.append(RowError(line, "dossiers", why))
        if unit is not None and area is not None:
            key = (unit.id, area.id)
            if key in first_line:
                row_errors.append(
                    RowError(
                        line,
                        "service_area_code",
                        _l(
                            "Trùng ô %(unit)s × %(area)s đã có ở dòng %(first)s.",
                            unit=unit_code,
                            area=area_code,
                            first=first_line[key],
                        ),
                    )
                )
            else:
                first_line[key] = line
        if row_errors:
            errors.extend(row_errors)
        elif unit is not None and area is not None and dossiers is not None:
            cells.append(Cell(line, unit.id, area.id, dossiers))
    if not cells and not errors:
        errors.append(RowError(None, None, _l("Tệp không có dòng dữ liệu nào.")))
    return cells, errors


def import_dossier_counts(
    round_: Round, data: bytes, *, replace: bool, now: datetime, actor: User
) -> ImportOutcome:
    """Check the whole file, then write it: new cells are added, changed counts updated, and with
    ``replace`` the cells the file does not list are removed. Nothing is written on any error."""
    if round_.state == RoundState.PUBLISHED:
        raise ConflictError(
            _l(
                "Đợt khảo sát đã công bố: không thể thay đổi số hồ sơ, "
                "vì kết quả đã công bố phải tái lập được."
            )
        )
    cells, errors = parse_dossier_csv(data, round_)
    outcome = ImportOutcome(errors=errors, rows=len(cells))
    if errors:
        return outcome
    stored = {
        (c.unit_id, c.service_area_id): c
        for c in db.session.scalars(select(DossierCount).where(DossierCount.round_id == round_.id))
    }
    codes = _codes()
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for cell in cells:
        key = (cell.unit_id, cell.service_area_id)
        label = f"{codes.units[cell.unit_id]}/{codes.areas[cell.service_area_id]}"
        existing = stored.pop(key, None)
        if existing is None:
            db.session.add(
                DossierCount(
                    round_id=round_.id,
                    unit_id=cell.unit_id,
                    service_area_id=cell.service_area_id,
                    dossiers=cell.dossiers,
                )
            )
            outcome.added += 1
            after[label] = cell.dossiers
        elif existing.dossiers != cell.dossiers:
            before[label], after[label] = existing.dossiers, cell.dossiers
            existing.dossiers = cell.dossiers
            outcome.updated += 1
        else:
            outcome.unchanged += 1
    if replace:
        for (unit_id, area_id), leftover in stored.items():
            before[f"{codes.units[unit_id]}/{codes.areas[area_id]}"] = leftover.dossiers
            db.session.delete(leftover)
            outcome.removed += 1
    db.session.flush()
    if outcome.changed:
        record_event(
            action="round.dossiers_import",
            entity_type="round",
            entity_id=round_.id,
            now=now,
            actor=actor,
            before=before,
            after=after,
            note=(
                f"rows={outcome.rows} added={outcome.added} updated={outcome.updated} "
                f"unchanged={outcome.unchanged} removed={outcome.removed} replace={replace}"
            ),
        )
    return outcome


@dataclass(frozen=True)
class _Codes:
    units: dict[int, str]
    areas: dict[int, str]


def _codes() -> _Codes:
    return _Codes(
        dict(db.session.execute(select(Unit.id, Unit.code)).all()),
        dict(db.session.execute(select(ServiceArea.id, ServiceArea.code)).all()),
    )


def frame_csv(round_: Round) -> bytes:
    """The round's frame as a file to fill in and import again: one row per unit in scope and
    service area it serves (and per cell already counted), with the counts stored so far.
    UTF-8 with a byte-order mark, which spreadsheet programs need to show Vietnamese."""
    stored = {
        (c.unit_id, c.service_area_id): c.dossiers
        for c in db.session.scalars(select(DossierCount).where(DossierCount.round_id == round_.id))
    }
    cells = set(stored)
    for scoped in round_.scope:
        cells |= {(scoped.unit_id, area.id) for area in scoped.unit.service_areas}
    units = {s.unit_id: (s.unit.code, s.unit_name) for s in round_.scope}
    areas = {a.id: (a.code, a.name) for a in db.session.scalars(select(ServiceArea))}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*COLUMNS, "unit_name", "service_area_name"])
    for unit_id, area_id in sorted(cells, key=lambda c: (units[c[0]][0], areas[c[1]][0])):
        count = stored.get((unit_id, area_id))
        writer.writerow(
            csv_row(
                [
                    units[unit_id][0],
                    areas[area_id][0],
                    "" if count is None else count,
                    units[unit_id][1],
                    areas[area_id][1],
                ]
            )
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
