"""Units in the console: the tree as a staff member may see it, one unit's page, and creating,
editing, deactivating and reactivating units (administrators only; the views check roles)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from survey.errors import DomainError, NotFoundError
from survey.extensions import db
from survey.models import Desk, Round, RoundUnit, ServiceArea, Unit, UnitLevel, User
from survey.services.access import ForbiddenError
from survey.services.audit import record_event
from survey.services.csv_upload import clean
from survey.services.organisation.csv_files import code_problem, name_problem

STATUSES = ("all", "active", "inactive")


class OrgInputError(DomainError):
    """One field of an organisation form is wrong; ``field`` names it so the page can say so
    beside the field."""

    status = 422

    def __init__(self, field: str, message: Any) -> None:
        super().__init__(str(message))
        self.field = field


def fold(text: str) -> str:
    """Lower case without Vietnamese diacritics, so "binh minh" finds "Bình Minh"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


# --- the tree ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeFilter:
    under: int | None = None  # only this unit and the units below it
    query: str = ""  # code or name contains this (diacritics and case ignored)
    status: str = "all"  # "all", "active" or "inactive"
    depth: int | None = None  # at most this many levels (1: only the top units)


@dataclass(frozen=True)
class TreeRow:
    unit: Unit
    depth: int  # 0 for the top units shown
    parent_code: str | None
    children: int
    desks: int
    active_desks: int


def visible_unit(unit_id: int, visible: set[int] | None) -> Unit:
    """The unit, if it exists and ``visible`` (None: every unit) includes it."""
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        raise NotFoundError(str(_l("Không tìm thấy đơn vị.")))
    if visible is not None and unit.id not in visible:
        raise ForbiddenError(str(_l("Bạn không có quyền xem đơn vị này.")))
    return unit


def _desk_counts() -> tuple[dict[int, int], dict[int, int]]:
    total: dict[int, int] = {}
    active: dict[int, int] = {}
    rows = db.session.execute(
        select(Desk.unit_id, Desk.is_active, func.count()).group_by(Desk.unit_id, Desk.is_active)
    )
    for unit_id, is_active, count in rows:
        total[unit_id] = total.get(unit_id, 0) + count
        if is_active:
            active[unit_id] = count
    return total, active


def unit_tree(visible: set[int] | None, wanted: TreeFilter) -> list[TreeRow]:
    """The units ``visible`` allows, depth first (parents before children, siblings by code),
    narrowed by ``wanted``. Three queries whatever the number of units."""
    units = {
        u.id: u
        for u in db.session.scalars(
            select(Unit).options(joinedload(Unit.level), joinedload(Unit.successor))
        )
        if visible is None or u.id in visible
    }
    children: dict[int | None, list[Unit]] = {}
    for unit in units.values():
        parent = unit.parent_id if unit.parent_id in units else None
        children.setdefault(parent, []).append(unit)
    for siblings in children.values():
        siblings.sort(key=lambda u: u.code)
    if wanted.under is not None:
        roots = [visible_unit(wanted.under, visible)]
    else:
        roots = children.get(None, [])
    total, active = _desk_counts()
    searching = fold(wanted.query.strip())
    rows: list[TreeRow] = []
    stack: list[tuple[Unit, int]] = [(root, 0) for root in reversed(roots)]
    while stack:
        unit, depth = stack.pop()
        below = children.get(unit.id, [])
        if wanted.depth is None or searching or depth + 1 < wanted.depth:
            stack.extend((child, depth + 1) for child in reversed(below))
        if wanted.status == "active" and not unit.is_active:
            continue
        if wanted.status == "inactive" and unit.is_active:
            continue
        if searching and searching not in fold(unit.code) and searching not in fold(unit.name):
            continue
        above = units.get(unit.parent_id) if unit.parent_id is not None else None
        rows.append(
            TreeRow(
                unit=unit,
                depth=depth,
                parent_code=above.code if above else None,
                children=len(below),
                desks=total.get(unit.id, 0),
                active_desks=active.get(unit.id, 0),
            )
        )
    return rows


def unit_path(unit: Unit, visible: set[int] | None) -> list[Unit]:
    """The visible ancestors of ``unit``, top first."""
    path: list[Unit] = []
    seen = {unit.id}
    parent = unit.parent
    while (
        parent is not None and parent.id not in seen and (visible is None or parent.id in visible)
    ):
        path.append(parent)
        seen.add(parent.id)
        parent = parent.parent
    return list(reversed(path))


# --- one unit's page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundName:
    round_id: int
    round_name: str
    state: str
    unit_name: str  # the unit's name in that round


@dataclass(frozen=True)
class UnitPage:
    unit: Unit
    path: list[Unit]
    children: list[Unit]
    desks: list[Desk]
    predecessors: list[Unit]
    rounds: list[RoundName]


def unit_page(unit: Unit, visible: set[int] | None) -> UnitPage:
    children = list(
        db.session.scalars(
            select(Unit)
            .where(Unit.parent_id == unit.id)
            .options(joinedload(Unit.level))
            .order_by(Unit.code)
        )
    )
    desks = list(
        db.session.scalars(
            select(Desk)
            .where(Desk.unit_id == unit.id)
            .options(selectinload(Desk.service_areas))
            .order_by(Desk.is_active.desc(), Desk.code)
        )
    )
    predecessors = list(
        db.session.scalars(select(Unit).where(Unit.successor_id == unit.id).order_by(Unit.code))
    )
    rounds = [
        RoundName(round_id, name, state, unit_name)
        for round_id, name, state, unit_name in db.session.execute(
            select(Round.id, Round.name, Round.state, RoundUnit.unit_name)
            .join(RoundUnit, RoundUnit.round_id == Round.id)
            .where(RoundUnit.unit_id == unit.id)
            .order_by(Round.opens_at.desc(), Round.id.desc())
        )
    ]
    return UnitPage(unit, unit_path(unit, visible), children, desks, predecessors, rounds)


# --- choices for the forms ---------------------------------------------------------------------


def levels() -> list[UnitLevel]:
    return list(db.session.scalars(select(UnitLevel).order_by(UnitLevel.position, UnitLevel.code)))


def all_areas() -> list[ServiceArea]:
    return list(db.session.scalars(select(ServiceArea).order_by(ServiceArea.code)))


def unit_codes() -> list[tuple[str, str, bool]]:
    """Every unit's code, name and whether it is active, for the code suggestions of the forms."""
    return [
        (code, name, active)
        for code, name, active in db.session.execute(
            select(Unit.code, Unit.name, Unit.is_active).order_by(Unit.code)
        )
    ]


def subtree_ids(unit_id: int) -> set[int]:
    """The unit and every unit below it, from one query."""
    parents = dict(db.session.execute(select(Unit.id, Unit.parent_id)).all())
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found = {unit_id}
    frontier = [unit_id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


# --- creating and editing ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnitDraft:
    code: str
    name: str
    level_code: str
    parent_code: str  # empty: a top unit
    area_ids: tuple[int, ...]


def unit_snapshot(unit: Unit) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "level_code": unit.level_code,
        "parent_code": unit.parent.code if unit.parent else None,
        "active": unit.is_active,
        "successor_code": unit.successor.code if unit.successor else None,
        "service_areas": [a.code for a in unit.service_areas],
    }


def _changed(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [key for key in after if before.get(key) != after[key]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _areas(area_ids: Iterable[int]) -> list[ServiceArea]:
    wanted = set(area_ids)
    found = list(
        db.session.scalars(
            select(ServiceArea).where(ServiceArea.id.in_(wanted)).order_by(ServiceArea.code)
        )
    )
    if len(found) != len(wanted):
        raise OrgInputError("area_ids", _l("Có lĩnh vực không tồn tại; hãy tải lại trang."))
    return found


def _resolve(
    draft: UnitDraft, unit: Unit | None
) -> tuple[str, str, Unit | None, list[ServiceArea]]:
    code, name = clean(draft.code), clean(draft.name)
    why = code_problem(code, _l("mã đơn vị"))
    if why is not None:
        raise OrgInputError("code", why)
    taken = db.session.scalar(select(Unit.id).where(Unit.code == code))
    if taken is not None and (unit is None or taken != unit.id):
        raise OrgInputError("code", _l("Mã đơn vị %(code)s đã có.", code=code))
    why = name_problem(name, _l("tên đơn vị"))
    if why is not None:
        raise OrgInputError("name", why)
    if db.session.get(UnitLevel, draft.level_code) is None:
        raise OrgInputError("level_code", _l("Chọn một cấp đơn vị."))
    parent = None
    parent_code = clean(draft.parent_code)
    if parent_code:
        parent = db.session.scalar(select(Unit).where(Unit.code == parent_code))
        if parent is None:
            raise OrgInputError(
                "parent_code", _l("Không có đơn vị mã %(code)s.", code=parent_code[:64])
            )
        if unit is not None and parent.id in subtree_ids(unit.id):
            raise OrgInputError(
                "parent_code",
                _l("Đơn vị cấp trên không thể là chính đơn vị này hoặc một đơn vị trực thuộc nó."),
            )
    return code, name, parent, _areas(draft.area_ids)


def create_unit(draft: UnitDraft, *, now: datetime, actor: User) -> Unit:
    code, name, parent, areas = _resolve(draft, None)
    unit = Unit(code=code, name=name, level_code=draft.level_code, parent=parent, is_active=True)
    unit.service_areas = areas
    db.session.add(unit)
    db.session.flush()
    record_event(
        action="unit.create",
        entity_type="unit",
        entity_id=unit.id,
        now=now,
        actor=actor,
        after=unit_snapshot(unit),
    )
    return unit


def _desks_needing(unit: Unit, areas: Sequence[ServiceArea]) -> list[tuple[Desk, ServiceArea]]:
    """Desks of ``unit`` that name an area outside ``areas``."""
    keep = {a.id for a in areas}
    return [
        (desk, area) for desk in unit.desks for area in desk.service_areas if area.id not in keep
    ]


def update_unit(unit: Unit, draft: UnitDraft, *, now: datetime, actor: User) -> Unit:
    code, name, parent, areas = _resolve(draft, unit)
    stranded = _desks_needing(unit, areas)
    if stranded:
        desk, area = stranded[0]
        raise OrgInputError(
            "area_ids",
            _l(
                "Quầy %(desk)s vẫn phục vụ lĩnh vực %(area)s: bỏ lĩnh vực này khỏi quầy trước.",
                desk=desk.code,
                area=area.code,
            ),
        )
    before = unit_snapshot(unit)
    unit.code, unit.name, unit.level_code, unit.parent = code, name, draft.level_code, parent
    unit.service_areas = areas
    db.session.flush()
    old, new = _changed(before, unit_snapshot(unit))
    if new:
        record_event(
            action="unit.update",
            entity_type="unit",
            entity_id=unit.id,
            now=now,
            actor=actor,
            before=old,
            after={"code": unit.code, **new},
        )
    return unit


@dataclass(frozen=True)
class ActivationCheck:
    """What deactivating or reactivating a unit touches, for the confirmation page."""

    active_children: list[Unit]
    active_desks: int
    officers: int
    open_rounds: list[str]


def activation_check(unit: Unit) -> ActivationCheck:
    return ActivationCheck(
        active_children=[c for c in unit.children if c.is_active],
        active_desks=sum(1 for d in unit.desks if d.is_active),
        officers=db.session.scalar(
            select(func.count()).select_from(User).where(User.unit_id == unit.id, User.is_active)
        )
        or 0,
        open_rounds=list(
            db.session.scalars(
                select(Round.name)
                .join(RoundUnit, RoundUnit.round_id == Round.id)
                .where(RoundUnit.unit_id == unit.id, Round.state == "open")
                .order_by(Round.name)
            )
        ),
    )


def set_unit_active(unit: Unit, active: bool, *, now: datetime, actor: User) -> Unit:
    """Deactivate (its desks' links then show the not-valid page) or reactivate a unit.
    Reactivating a merged unit undoes the merge's link to its successor."""
    if unit.is_active == active:
        raise OrgInputError(
            "confirm",
            _l("Đơn vị này đang hoạt động.") if active else _l("Đơn vị này đã ngừng hoạt động."),
        )
    before = {
        "active": unit.is_active,
        "successor_code": unit.successor.code if unit.successor else None,
    }
    unit.is_active = active
    if active:
        unit.successor = None
    db.session.flush()
    record_event(
        action="unit.reactivate" if active else "unit.deactivate",
        entity_type="unit",
        entity_id=unit.id,
        now=now,
        actor=actor,
        before=before,
        after={
            "code": unit.code,
            "active": active,
            "successor_code": None if active else before["successor_code"],
        },
    )
    return unit
