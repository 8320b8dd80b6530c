"""The organisation as CSV: three files, one per kind, read, checked, applied and written back.

``units.csv``        code, name, level_code, parent_code, active
``unit_areas.csv``   unit_code, area_code          (the service areas each unit serves)
``desks.csv``        unit_code, code, name, areas, active

Files are UTF-8 with or without a byte-order mark, separated by commas or semicolons, with a
header row (Vietnamese header names are accepted too, see ``COLUMNS``). Any subset of the three
may be imported at once; they are checked together against what is stored, so a desk may name a
unit that the units file creates. Every bad row is reported (file, line, column, reason) and
nothing is written unless all of them are good.

Meaning of a row: a unit or desk is matched by its code; an unknown code is created, a known one
takes the row's values. Units and desks the files do not mention are left alone, and nothing is
ever deleted. For each unit listed in ``unit_areas.csv`` the listed areas become its whole list.
Optional columns that are absent leave the stored value alone. Importing the same files again,
or the files the export wrote, changes nothing.

Reading and checking are pure functions over bytes, rows and an ``OrgState`` snapshot (easy to
fuzz); only ``load_state``, ``import_organisation`` and the export touch the database.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from survey.extensions import db
from survey.models import Desk, ServiceArea, Unit, UnitLevel, User
from survey.services.audit import record_event
from survey.services.csv_upload import read_csv_upload
from survey.services.exports.spreadsheets import csv_row

UNITS, UNIT_AREAS, DESKS = "units", "unit_areas", "desks"
KINDS = (UNITS, UNIT_AREAS, DESKS)

# Accepted header names per column; the first is the one the export writes.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    UNITS: {
        "code": ("code", "unit_code", "ma_don_vi", "mã đơn vị"),
        "name": ("name", "ten_don_vi", "tên đơn vị", "ten", "tên"),
        "level_code": ("level_code", "ma_cap", "mã cấp", "cap", "cấp"),
        "parent_code": ("parent_code", "ma_don_vi_cha", "mã đơn vị cha", "ma_cap_tren"),
        "active": ("active", "hoat_dong", "hoạt động"),
    },
    UNIT_AREAS: {
        "unit_code": ("unit_code", "ma_don_vi", "mã đơn vị"),
        "area_code": ("area_code", "service_area_code", "ma_linh_vuc", "mã lĩnh vực"),
    },
    DESKS: {
        "unit_code": ("unit_code", "ma_don_vi", "mã đơn vị"),
        "code": ("code", "desk_code", "ma_quay", "mã quầy"),
        "name": ("name", "ten_quay", "tên quầy", "ten", "tên"),
        "areas": ("areas", "area_codes", "linh_vuc", "lĩnh vực"),
        "active": ("active", "hoat_dong", "hoạt động"),
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    UNITS: ("code", "name", "level_code"),
    UNIT_AREAS: ("unit_code", "area_code"),
    DESKS: ("unit_code", "code", "name"),
}
FILE_NAMES = {UNITS: "units.csv", UNIT_AREAS: "unit_areas.csv", DESKS: "desks.csv"}

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
ALLOWED_SUFFIXES = (".csv", ".txt")
# The database column sizes.
MAX_CODE = 64
MAX_NAME = 300

# A letter or digit, then letters, digits and _ . - / : no spaces (desk area lists are separated
# by them) and no leading = + - @, which spreadsheets would run as a formula.
CODE = re.compile(r"[^\W_][\w.\-/]*")
FORMULA_START = ("=", "+", "-", "@")
AREA_SEPARATORS = re.compile(r"[\s,;|]+")
TRUE_WORDS = frozenset({"1", "true", "yes", "x", "có", "co"})
FALSE_WORDS = frozenset({"0", "false", "no", "không", "khong"})


@dataclass(frozen=True)
class Problem:
    """One reason the files cannot be imported."""

    file: str  # one of KINDS
    line: int | None  # line in the file, 1 being the header; None for the whole file
    column: str | None
    reason: Any  # a lazily translated message


@dataclass(frozen=True)
class Row:
    line: int  # the line the record starts on
    values: dict[str, str]  # the known columns the header has, stripped and NFC-normalised


@dataclass(frozen=True)
class Table:
    kind: str
    columns: frozenset[str]
    rows: list[Row]


# --- values ------------------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def code_problem(code: str, what: Any) -> Any | None:
    """Why ``code`` cannot be a code (None when it can). ``what`` names the thing in messages."""
    if not code:
        return _l("Thiếu %(what)s.", what=what)
    if len(code) > MAX_CODE:
        return _l("%(what)s dài tối đa %(n)s ký tự.", what=what, n=MAX_CODE)
    if not CODE.fullmatch(code):
        return _l(
            "%(what)s chỉ gồm chữ, chữ số và các dấu _ . - /, bắt đầu bằng chữ hoặc số, "
            "không có dấu cách.",
            what=what,
        )
    return None


def name_problem(name: str, what: Any) -> Any | None:
    if not name:
        return _l("Thiếu %(what)s.", what=what)
    if len(name) > MAX_NAME:
        return _l("%(what)s dài tối đa %(n)s ký tự.", what=what, n=MAX_NAME)
    if _has_control(name):
        return _l("%(what)s có ký tự điều khiển không hợp lệ.", what=what)
    if name.startswith(FORMULA_START):
        return _l(
            "%(what)s không được bắt đầu bằng dấu bằng, dấu cộng, dấu trừ hoặc @ "
            "(bảng tính sẽ hiểu là công thức).",
            what=what,
        )
    return None


def parse_active(text: str) -> bool | None:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def split_areas(text: str) -> list[str]:
    return [code for code in AREA_SEPARATORS.split(text) if code]


# --- reading a file ----------------------------------------------------------------------------


def file_name_problem(kind: str, filename: str) -> Problem | None:
    if not filename.lower().endswith(ALLOWED_SUFFIXES):
        return Problem(kind, None, None, _l("Chỉ nhận tệp .csv (hoặc .txt) dạng văn bản."))
    return None


def read_table(kind: str, data: bytes) -> tuple[Table | None, list[Problem]]:
    """The rows of one uploaded file, or every reason it cannot be read as one
    (``survey.services.csv_upload``, the reader of every upload)."""
    records, problems = read_csv_upload(
        data, COLUMNS[kind], REQUIRED[kind], max_bytes=MAX_FILE_BYTES, max_rows=MAX_ROWS
    )
    if records is None:
        return None, [Problem(kind, p.line, p.column, p.reason) for p in problems]
    if not records.rows:
        return None, [Problem(kind, None, None, _l("Tệp không có dòng dữ liệu nào."))]
    rows = [
        Row(line, {column: records.value(cells, column) for column in records.positions})
        for line, cells in records.rows
    ]
    return Table(kind, frozenset(records.positions), rows), []


# --- what is stored ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitState:
    code: str
    name: str
    level_code: str
    parent_code: str | None
    active: bool
    successor_code: str | None = None


@dataclass(frozen=True)
class DeskState:
    code: str
    unit_code: str
    name: str
    areas: tuple[str, ...]  # sorted; empty means every area of the unit
    active: bool


@dataclass(frozen=True)
class OrgState:
    levels: frozenset[str]
    areas: frozenset[str]
    units: Mapping[str, UnitState]
    unit_areas: Mapping[str, frozenset[str]]
    desks: Mapping[str, DeskState]


# --- checking the files against it -------------------------------------------------------------


@dataclass
class ImportPlan:
    """The state the files ask for, for the units, links and desks they mention."""

    units: dict[str, UnitState] = field(default_factory=dict)
    unit_areas: dict[str, frozenset[str]] = field(default_factory=dict)
    desks: dict[str, DeskState] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _bool_cell(kind: str, row: Row, problems: list[Problem]) -> bool | None:
    raw = row.values["active"]
    value = parse_active(raw)
    if value is None:
        problems.append(
            Problem(
                kind,
                row.line,
                "active",
                _l("Cột active ghi 1 (đang hoạt động) hoặc 0 (ngừng hoạt động)."),
            )
        )
    return value


def _check_units(table: Table, state: OrgState, plan: ImportPlan) -> dict[str, int]:
    """Fill ``plan.units``; returns each listed code's line."""
    problems = plan.problems
    first_line: dict[str, int] = {}
    # Codes the file lists, good rows or not: a parent with a bad row is not also "unknown".
    listed = {row.values["code"] for row in table.rows}
    for row in table.rows:
        values, line = row.values, row.line
        bad = len(problems)
        code = values["code"]
        why = code_problem(code, _l("mã đơn vị"))
        if why is not None:
            problems.append(Problem(UNITS, line, "code", why))
        elif code in first_line:
            problems.append(
                Problem(
                    UNITS,
                    line,
                    "code",
                    _l(
                        "Mã đơn vị %(code)s trùng với dòng %(first)s.",
                        code=code,
                        first=first_line[code],
                    ),
                )
            )
        else:
            first_line[code] = line
        why = name_problem(values["name"], _l("tên đơn vị"))
        if why is not None:
            problems.append(Problem(UNITS, line, "name", why))
        level = values["level_code"]
        if not level:
            problems.append(Problem(UNITS, line, "level_code", _l("Thiếu mã cấp đơn vị.")))
        elif level not in state.levels:
            problems.append(
                Problem(
                    UNITS,
                    line,
                    "level_code",
                    _l(
                        "Không có cấp đơn vị mã %(code)s (các cấp: %(known)s).",
                        code=level[:MAX_CODE],
                        known=", ".join(sorted(state.levels)),
                    ),
                )
            )
        stored = state.units.get(code)
        parent: str | None
        if "parent_code" in table.columns:
            parent = values["parent_code"] or None
        else:
            parent = stored.parent_code if stored else None
        if parent is not None and parent == code:
            problems.append(
                Problem(
                    UNITS, line, "parent_code", _l("Đơn vị không thể là cấp trên của chính nó.")
                )
            )
        elif parent is not None and parent not in state.units and parent not in listed:
            problems.append(
                Problem(
                    UNITS,
                    line,
                    "parent_code",
                    _l("Không có đơn vị cấp trên mã %(code)s.", code=parent[:MAX_CODE]),
                )
            )
        active: bool | None = stored.active if stored else True
        if "active" in table.columns:
            active = _bool_cell(UNITS, row, problems)
        if active and stored is not None and stored.successor_code is not None:
            problems.append(
                Problem(
                    UNITS,
                    line,
                    "active",
                    _l(
                        "Đơn vị %(code)s đã sáp nhập vào %(successor)s; không mở lại bằng tệp "
                        "nhập được.",
                        code=code,
                        successor=stored.successor_code,
                    ),
                )
            )
        if len(problems) == bad and active is not None:
            plan.units[code] = UnitState(
                code=code,
                name=values["name"],
                level_code=level,
                parent_code=parent,
                active=active,
                successor_code=stored.successor_code if stored else None,
            )
    _check_cycles(state, plan, first_line)
    return first_line


def _check_cycles(state: OrgState, plan: ImportPlan, lines: Mapping[str, int]) -> None:
    """Report every listed unit that would be its own ancestor once the file is applied."""
    parents = {code: unit.parent_code for code, unit in state.units.items()}
    parents.update({code: unit.parent_code for code, unit in plan.units.items()})
    in_cycle: dict[str, list[str]] = {}
    settled: set[str] = set()
    for start in plan.units:
        path: list[str] = []
        on_path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in settled and node not in on_path:
            on_path[node] = len(path)
            path.append(node)
            node = parents.get(node)
        if node is not None and node in on_path:
            cycle = path[on_path[node] :]
            for member in cycle:
                in_cycle[member] = cycle
        settled.update(path)
    for code, cycle in in_cycle.items():
        if code in lines and code in plan.units:
            ring = " → ".join([*cycle[cycle.index(code) :], *cycle[: cycle.index(code)], code])
            plan.problems.append(
                Problem(
                    UNITS,
                    lines[code],
                    "parent_code",
                    _l("Cây đơn vị có vòng lặp: %(ring)s.", ring=ring),
                )
            )
            del plan.units[code]


def _unit_known(code: str, state: OrgState, unit_lines: Mapping[str, int]) -> bool:
    return code in state.units or code in unit_lines


def _check_unit_areas(
    table: Table, state: OrgState, plan: ImportPlan, unit_lines: Mapping[str, int]
) -> dict[str, int]:
    """Fill ``plan.unit_areas``; returns the first line of each listed unit."""
    problems = plan.problems
    first_pair: dict[tuple[str, str], int] = {}
    first_unit: dict[str, int] = {}
    listed: dict[str, set[str]] = {}
    for row in table.rows:
        unit_code, area_code = row.values["unit_code"], row.values["area_code"]
        bad = len(problems)
        if not unit_code:
            problems.append(Problem(UNIT_AREAS, row.line, "unit_code", _l("Thiếu mã đơn vị.")))
        elif not _unit_known(unit_code, state, unit_lines):
            problems.append(
                Problem(
                    UNIT_AREAS,
                    row.line,
                    "unit_code",
                    _l("Không có đơn vị mã %(code)s.", code=unit_code[:MAX_CODE]),
                )
            )
        if not area_code:
            problems.append(Problem(UNIT_AREAS, row.line, "area_code", _l("Thiếu mã lĩnh vực.")))
        elif area_code not in state.areas:
            problems.append(
                Problem(
                    UNIT_AREAS,
                    row.line,
                    "area_code",
                    _l("Không có lĩnh vực mã %(code)s.", code=area_code[:MAX_CODE]),
                )
            )
        pair = (unit_code, area_code)
        if len(problems) == bad and pair in first_pair:
            problems.append(
                Problem(
                    UNIT_AREAS,
                    row.line,
                    "area_code",
                    _l(
                        "Cặp %(unit)s × %(area)s trùng với dòng %(first)s.",
                        unit=unit_code,
                        area=area_code,
                        first=first_pair[pair],
                    ),
                )
            )
        if len(problems) == bad:
            first_pair[pair] = row.line
            first_unit.setdefault(unit_code, row.line)
            listed.setdefault(unit_code, set()).add(area_code)
    plan.unit_areas = {code: frozenset(areas) for code, areas in listed.items()}
    return first_unit


def _areas_of(unit_code: str, state: OrgState, plan: ImportPlan) -> frozenset[str]:
    if unit_code in plan.unit_areas:
        return plan.unit_areas[unit_code]
    return state.unit_areas.get(unit_code, frozenset())


def _check_desks(
    table: Table, state: OrgState, plan: ImportPlan, unit_lines: Mapping[str, int]
) -> None:
    problems = plan.problems
    first_line: dict[str, int] = {}
    for row in table.rows:
        values, line = row.values, row.line
        bad = len(problems)
        unit_code, code = values["unit_code"], values["code"]
        if not unit_code:
            problems.append(Problem(DESKS, line, "unit_code", _l("Thiếu mã đơn vị.")))
        elif not _unit_known(unit_code, state, unit_lines):
            problems.append(
                Problem(
                    DESKS,
                    line,
                    "unit_code",
                    _l("Không có đơn vị mã %(code)s.", code=unit_code[:MAX_CODE]),
                )
            )
        why = code_problem(code, _l("mã quầy"))
        if why is not None:
            problems.append(Problem(DESKS, line, "code", why))
        elif code in first_line:
            problems.append(
                Problem(
                    DESKS,
                    line,
                    "code",
                    _l(
                        "Mã quầy %(code)s trùng với dòng %(first)s.",
                        code=code,
                        first=first_line[code],
                    ),
                )
            )
        else:
            first_line[code] = line
        why = name_problem(values["name"], _l("tên quầy"))
        if why is not None:
            problems.append(Problem(DESKS, line, "name", why))
        stored = state.desks.get(code)
        areas: tuple[str, ...]
        if "areas" in table.columns:
            areas = tuple(sorted(set(split_areas(values["areas"]))))
            unknown = [a for a in areas if a not in state.areas]
            served = _areas_of(unit_code, state, plan)
            if unknown:
                problems.append(
                    Problem(
                        DESKS,
                        line,
                        "areas",
                        _l(
                            "Không có lĩnh vực mã %(codes)s.",
                            codes=", ".join(a[:MAX_CODE] for a in unknown[:10]),
                        ),
                    )
                )
            elif unit_code and (outside := [a for a in areas if a not in served]):
                problems.append(
                    Problem(
                        DESKS,
                        line,
                        "areas",
                        _l(
                            "Đơn vị %(unit)s không phục vụ lĩnh vực %(codes)s; thêm lĩnh vực cho "
                            "đơn vị trước (tệp unit_areas).",
                            unit=unit_code,
                            codes=", ".join(outside[:10]),
                        ),
                    )
                )
        else:
            areas = stored.areas if stored else ()
        active: bool | None = stored.active if stored else True
        if "active" in table.columns:
            active = _bool_cell(DESKS, row, problems)
        if len(problems) == bad and active is not None:
            plan.desks[code] = DeskState(code, unit_code, values["name"], areas, active)


def _check_untouched_desks(
    state: OrgState, plan: ImportPlan, area_lines: Mapping[str, int]
) -> None:
    """A unit that stops serving an area must not leave a desk (not in the desks file) serving
    it."""
    for desk in state.desks.values():
        if desk.code in plan.desks or desk.unit_code not in plan.unit_areas:
            continue
        dropped = [a for a in desk.areas if a not in plan.unit_areas[desk.unit_code]]
        if dropped:
            plan.problems.append(
                Problem(
                    UNIT_AREAS,
                    area_lines[desk.unit_code],
                    "area_code",
                    _l(
                        "Quầy %(desk)s của đơn vị %(unit)s vẫn phục vụ lĩnh vực %(codes)s; "
                        "bỏ lĩnh vực đó khỏi quầy (tệp desks) hoặc giữ nó cho đơn vị.",
                        desk=desk.code,
                        unit=desk.unit_code,
                        codes=", ".join(dropped),
                    ),
                )
            )


def plan_import(tables: Mapping[str, Table], state: OrgState) -> ImportPlan:
    """What the files ask for, and every problem with them. Pure: reads nothing else."""
    plan = ImportPlan()
    unit_lines: dict[str, int] = {}
    if UNITS in tables:
        unit_lines = _check_units(tables[UNITS], state, plan)
    area_lines: dict[str, int] = {}
    if UNIT_AREAS in tables:
        area_lines = _check_unit_areas(tables[UNIT_AREAS], state, plan, unit_lines)
    if DESKS in tables:
        _check_desks(tables[DESKS], state, plan, unit_lines)
    if UNIT_AREAS in tables:
        _check_untouched_desks(state, plan, area_lines)
    plan.problems.sort(key=lambda p: (KINDS.index(p.file), p.line or 0))
    return plan


# --- what would change ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    code: str
    before: dict[str, Any] | None  # None: created
    after: dict[str, Any]


@dataclass
class Changes:
    units: list[Change] = field(default_factory=list)
    unit_areas: list[Change] = field(default_factory=list)
    desks: list[Change] = field(default_factory=list)
    units_unchanged: int = 0
    unit_areas_unchanged: int = 0
    desks_unchanged: int = 0

    @property
    def units_created(self) -> int:
        return sum(1 for c in self.units if c.before is None)

    @property
    def units_updated(self) -> int:
        return sum(1 for c in self.units if c.before is not None)

    @property
    def desks_created(self) -> int:
        return sum(1 for c in self.desks if c.before is None)

    @property
    def desks_updated(self) -> int:
        return sum(1 for c in self.desks if c.before is not None)

    @property
    def links_added(self) -> int:
        return sum(
            len(set(c.after["service_areas"]) - set((c.before or {}).get("service_areas", ())))
            for c in self.unit_areas
        )

    @property
    def links_removed(self) -> int:
        return sum(
            len(set((c.before or {}).get("service_areas", ())) - set(c.after["service_areas"]))
            for c in self.unit_areas
        )

    @property
    def created(self) -> int:
        """Units and desks created."""
        return self.units_created + self.desks_created

    @property
    def updated(self) -> int:
        """Units (their fields or their list of areas) and desks changed."""
        return (
            self.units_updated
            + self.desks_updated
            + sum(1 for c in self.unit_areas if c.code not in self._created_units)
        )

    @property
    def _created_units(self) -> set[str]:
        return {c.code for c in self.units if c.before is None}

    @property
    def any(self) -> bool:
        return bool(self.units or self.unit_areas or self.desks)


def _unit_fields(unit: UnitState) -> dict[str, Any]:
    return {
        "name": unit.name,
        "level_code": unit.level_code,
        "parent_code": unit.parent_code,
        "active": unit.active,
    }


def _desk_fields(desk: DeskState) -> dict[str, Any]:
    return {
        "unit_code": desk.unit_code,
        "name": desk.name,
        "areas": list(desk.areas),
        "active": desk.active,
    }


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [key for key in new if old.get(key) != new[key]]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


def diff_plan(plan: ImportPlan, state: OrgState) -> Changes:
    """The creations and updates the plan makes to the stored state; pure."""
    changes = Changes()
    for code, unit in plan.units.items():
        stored = state.units.get(code)
        if stored is None:
            changes.units.append(Change(code, None, {"code": code, **_unit_fields(unit)}))
            continue
        before, after = _diff(_unit_fields(stored), _unit_fields(unit))
        if after:
            changes.units.append(Change(code, before, after))
        else:
            changes.units_unchanged += 1
    for code, areas in plan.unit_areas.items():
        old = state.unit_areas.get(code, frozenset())
        if old != areas:
            changes.unit_areas.append(
                Change(code, {"service_areas": sorted(old)}, {"service_areas": sorted(areas)})
            )
        else:
            changes.unit_areas_unchanged += 1
    for code, desk in plan.desks.items():
        stored_desk = state.desks.get(code)
        if stored_desk is None:
            changes.desks.append(Change(code, None, {"code": code, **_desk_fields(desk)}))
            continue
        before, after = _diff(_desk_fields(stored_desk), _desk_fields(desk))
        if after:
            changes.desks.append(Change(code, before, after))
        else:
            changes.desks_unchanged += 1
    return changes


# --- the database side -------------------------------------------------------------------------


def load_state() -> OrgState:
    units = list(
        db.session.scalars(
            select(Unit).options(
                selectinload(Unit.service_areas),
                selectinload(Unit.parent),
                selectinload(Unit.successor),
            )
        )
    )
    desks = db.session.scalars(
        select(Desk).options(selectinload(Desk.service_areas), selectinload(Desk.unit))
    )
    return OrgState(
        levels=frozenset(db.session.scalars(select(UnitLevel.code))),
        areas=frozenset(db.session.scalars(select(ServiceArea.code))),
        units={
            u.code: UnitState(
                u.code,
                u.name,
                u.level_code,
                u.parent.code if u.parent else None,
                u.is_active,
                u.successor.code if u.successor else None,
            )
            for u in units
        },
        unit_areas={u.code: frozenset(a.code for a in u.service_areas) for u in units},
        desks={
            d.code: DeskState(
                d.code,
                d.unit.code,
                d.name,
                tuple(sorted(a.code for a in d.service_areas)),
                d.is_active,
            )
            for d in desks
        },
    )


@dataclass
class ImportOutcome:
    problems: list[Problem] = field(default_factory=list)
    changes: Changes = field(default_factory=Changes)
    files: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _apply(changes: Changes, plan: ImportPlan) -> dict[str, Unit]:
    units = {u.code: u for u in db.session.scalars(select(Unit))}
    for change in changes.units:
        wanted = plan.units[change.code]
        if change.before is None:
            units[change.code] = Unit(code=change.code, name=wanted.name, level_code="")
            db.session.add(units[change.code])
    for change in changes.units:
        wanted = plan.units[change.code]
        unit = units[change.code]
        unit.name = wanted.name
        unit.level_code = wanted.level_code
        unit.parent = units[wanted.parent_code] if wanted.parent_code else None
        unit.is_active = wanted.active
    areas = {a.code: a for a in db.session.scalars(select(ServiceArea))}
    for change in changes.unit_areas:
        units[change.code].service_areas = [areas[c] for c in sorted(plan.unit_areas[change.code])]
    desks = {d.code: d for d in db.session.scalars(select(Desk))}
    for change in changes.desks:
        wanted_desk = plan.desks[change.code]
        desk = desks.get(change.code)
        if desk is None:
            desk = Desk(code=change.code)
            db.session.add(desk)
            desks[change.code] = desk
        desk.unit = units[wanted_desk.unit_code]
        desk.name = wanted_desk.name
        desk.is_active = wanted_desk.active
        desk.service_areas = [areas[c] for c in wanted_desk.areas]
    db.session.flush()
    return units


def _record(changes: Changes, units: Mapping[str, Unit], *, now: datetime, actor: User) -> None:
    desk_ids = dict(
        db.session.execute(
            select(Desk.code, Desk.id).where(Desk.code.in_([c.code for c in changes.desks]))
        ).all()
    )
    unit_ids = {code: unit.id for code, unit in units.items()}
    for kind, items, ids in (
        ("unit", changes.units, unit_ids),
        ("unit_areas", changes.unit_areas, unit_ids),
        ("desk", changes.desks, desk_ids),
    ):
        for change in items:
            if kind == "unit_areas":
                action = "unit.service_areas"
            else:
                action = f"{kind}.{'create' if change.before is None else 'update'}"
            record_event(
                action=action,
                entity_type="desk" if kind == "desk" else "unit",
                entity_id=ids[change.code],
                now=now,
                actor=actor,
                before=change.before,
                after={"code": change.code, **change.after},
                note="CSV import",
            )


def import_organisation(
    files: Mapping[str, tuple[str, bytes]], *, now: datetime, actor: User
) -> ImportOutcome:
    """Check the uploaded files (kind -> (file name, bytes)) and, only when every row of every
    file is good, apply them and audit each change. The caller commits on ``ok``."""
    outcome = ImportOutcome(files=tuple(kind for kind in KINDS if kind in files))
    tables: dict[str, Table] = {}
    for kind in KINDS:
        if kind not in files:
            continue
        filename, data = files[kind]
        problem = file_name_problem(kind, filename)
        if problem is not None:
            outcome.problems.append(problem)
            continue
        table, problems = read_table(kind, data)
        outcome.problems.extend(problems)
        if table is not None:
            tables[kind] = table
    if outcome.problems:
        return outcome
    state = load_state()
    plan = plan_import(tables, state)
    if plan.problems:
        outcome.problems = plan.problems
        return outcome
    outcome.changes = diff_plan(plan, state)
    if outcome.changes.any:
        units = _apply(outcome.changes, plan)
        _record(outcome.changes, units, now=now, actor=actor)
    record_event(
        action="org.import",
        entity_type="organisation",
        entity_id="csv",
        now=now,
        actor=actor,
        after={
            "files": [FILE_NAMES[k] for k in outcome.files],
            "created": outcome.changes.created,
            "updated": outcome.changes.updated,
        },
    )
    return outcome


# --- export -----------------------------------------------------------------------------------


def _csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    """UTF-8 with a byte-order mark, which spreadsheet programs need to show Vietnamese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(csv_row(row) for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _tree_order(units: Mapping[str, UnitState]) -> list[UnitState]:
    """Parents before their children, siblings by code."""
    children: dict[str | None, list[UnitState]] = {}
    for unit in units.values():
        parent = unit.parent_code if unit.parent_code in units else None
        children.setdefault(parent, []).append(unit)
    ordered: list[UnitState] = []
    stack = sorted(children.get(None, []), key=lambda u: u.code, reverse=True)
    while stack:
        unit = stack.pop()
        ordered.append(unit)
        stack.extend(sorted(children.get(unit.code, []), key=lambda u: u.code, reverse=True))
    return ordered


def export_csv(kind: str, state: OrgState | None = None) -> bytes:
    """One of the three files, holding everything stored (inactive and merged units too)."""
    state = state or load_state()
    if kind == UNITS:
        return _csv(
            COLUMNS[UNITS],
            (
                (u.code, u.name, u.level_code, u.parent_code or "", int(u.active))
                for u in _tree_order(state.units)
            ),
        )
    if kind == UNIT_AREAS:
        return _csv(
            COLUMNS[UNIT_AREAS],
            (
                (code, area)
                for code in sorted(state.unit_areas)
                for area in sorted(state.unit_areas[code])
            ),
        )
    if kind == DESKS:
        return _csv(
            COLUMNS[DESKS],
            (
                (d.unit_code, d.code, d.name, " ".join(d.areas), int(d.active))
                for d in sorted(state.desks.values(), key=lambda d: (d.unit_code, d.code))
            ),
        )
    raise ValueError(f"unknown organisation file {kind!r}")
