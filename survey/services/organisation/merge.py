"""Merging units (a reform): the absorbed units become inactive with a link to their successor,
which may take over their desks (same tokens, so the printed posters keep working) and their
sub-units.

History is left where it is: responses keep the unit they were given to, and every round keeps
the unit names it snapshotted (``RoundUnit.unit_name``), so old rounds still report under the
names units had then."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from survey.extensions import db
from survey.models import Desk, Round, RoundState, RoundUnit, ServiceArea, Unit, User
from survey.services.audit import record_event
from survey.services.csv_upload import clean
from survey.services.organisation.units import OrgInputError, subtree_ids

MAX_ABSORBED = 1000
SEPARATORS = re.compile(r"[\s,;]+")


def parse_codes(text: str) -> list[str]:
    """Unit codes separated by spaces, commas, semicolons or new lines, each once, in order."""
    seen: dict[str, None] = {}
    for code in SEPARATORS.split(clean(text)):
        if code:
            seen.setdefault(code[:64], None)
    return list(seen)


@dataclass(frozen=True)
class MergeRequest:
    successor_code: str
    absorbed_codes: tuple[str, ...]
    move_desks: bool
    move_children: bool


@dataclass(frozen=True)
class MergePlan:
    """What a merge will do, shown on the confirmation page and then applied as shown."""

    request: MergeRequest
    successor: Unit
    absorbed: list[Unit]
    desks: list[Desk]  # every desk of the absorbed units
    children: list[Unit]  # sub-units of the absorbed units that are not absorbed themselves
    areas_added: list[ServiceArea]  # areas the successor gains with the desks
    officers: list[User]  # active accounts scoped to an absorbed unit
    open_rounds: list[str]  # open rounds with an absorbed unit in scope

    @property
    def active_desks(self) -> int:
        return sum(1 for d in self.desks if d.is_active)


def _units_by_code(codes: list[str]) -> dict[str, Unit]:
    return {
        u.code: u
        for u in db.session.scalars(
            select(Unit)
            .where(Unit.code.in_(codes))
            .options(selectinload(Unit.desks).selectinload(Desk.service_areas))
        )
    }


def _desk_areas(desk: Desk) -> list[ServiceArea]:
    """The areas a desk serves: its own, else (empty list) every area of its unit."""
    return list(desk.service_areas) or list(desk.unit.service_areas)


def plan_merge(request: MergeRequest) -> MergePlan:
    """Check a merge and say what it will do; raises ``OrgInputError`` naming the field."""
    successor_code = clean(request.successor_code)
    if not successor_code:
        raise OrgInputError("successor_code", _l("Nhập mã đơn vị kế thừa."))
    codes = list(request.absorbed_codes)
    if not codes:
        raise OrgInputError("absorbed_codes", _l("Nhập mã ít nhất một đơn vị bị sáp nhập."))
    if len(codes) > MAX_ABSORBED:
        raise OrgInputError(
            "absorbed_codes", _l("Tối đa %(n)s đơn vị mỗi lần sáp nhập.", n=MAX_ABSORBED)
        )
    found = _units_by_code([*codes, successor_code])
    successor = found.get(successor_code)
    if successor is None:
        raise OrgInputError(
            "successor_code", _l("Không có đơn vị mã %(code)s.", code=successor_code[:64])
        )
    if not successor.is_active:
        raise OrgInputError(
            "successor_code", _l("Đơn vị kế thừa %(code)s đã ngừng hoạt động.", code=successor.code)
        )
    if successor_code in codes:
        raise OrgInputError("absorbed_codes", _l("Đơn vị kế thừa không thể đồng thời bị sáp nhập."))
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise OrgInputError(
            "absorbed_codes",
            _l("Không có đơn vị mã %(codes)s.", codes=", ".join(unknown[:20])),
        )
    inactive = [code for code in codes if not found[code].is_active]
    if inactive:
        raise OrgInputError(
            "absorbed_codes",
            _l(
                "Đơn vị %(codes)s đã ngừng hoạt động hoặc đã sáp nhập trước đó.",
                codes=", ".join(inactive[:20]),
            ),
        )
    absorbed = [found[code] for code in codes]
    absorbed_ids = {u.id for u in absorbed}
    if request.move_children:
        for unit in absorbed:
            if successor.id in subtree_ids(unit.id):
                raise OrgInputError(
                    "move_children",
                    _l(
                        "Đơn vị kế thừa trực thuộc %(code)s: không chuyển các đơn vị trực thuộc "
                        "sang nó được (cây sẽ có vòng lặp). Bỏ chọn mục này.",
                        code=unit.code,
                    ),
                )
    children = list(
        db.session.scalars(
            select(Unit)
            .where(Unit.parent_id.in_(absorbed_ids), Unit.id.not_in(absorbed_ids))
            .order_by(Unit.code)
        )
    )
    desks = sorted((d for u in absorbed for d in u.desks), key=lambda d: d.code)
    served = {a.id for a in successor.service_areas}
    gained: dict[int, ServiceArea] = {}
    for desk in desks:
        gained.update({a.id: a for a in _desk_areas(desk) if a.id not in served})
    officers = list(
        db.session.scalars(
            select(User)
            .where(User.unit_id.in_(absorbed_ids), User.is_active)
            .order_by(User.username)
        )
    )
    open_rounds = list(
        db.session.scalars(
            select(Round.name)
            .join(RoundUnit, RoundUnit.round_id == Round.id)
            .where(RoundUnit.unit_id.in_(absorbed_ids), Round.state == RoundState.OPEN)
            .distinct()
            .order_by(Round.name)
        )
    )
    return MergePlan(
        request=request,
        successor=successor,
        absorbed=absorbed,
        desks=desks,
        children=children,
        areas_added=sorted(gained.values(), key=lambda a: a.code) if request.move_desks else [],
        officers=officers,
        open_rounds=open_rounds,
    )


def merge_units(plan: MergePlan, *, now: datetime, actor: User) -> None:
    """Apply a checked plan and audit every change it makes."""
    successor, request = plan.successor, plan.request
    for unit in plan.absorbed:
        unit.is_active = False
        unit.successor = successor
        record_event(
            action="unit.merge",
            entity_type="unit",
            entity_id=unit.id,
            now=now,
            actor=actor,
            before={"code": unit.code, "active": True, "successor_code": None},
            after={"code": unit.code, "active": False, "successor_code": successor.code},
        )
    if request.move_children:
        for child in plan.children:
            old_parent = child.parent.code if child.parent else None
            child.parent = successor
            record_event(
                action="unit.update",
                entity_type="unit",
                entity_id=child.id,
                now=now,
                actor=actor,
                before={"parent_code": old_parent},
                after={"code": child.code, "parent_code": successor.code},
                note=f"merge into {successor.code}",
            )
    if request.move_desks:
        if plan.areas_added:
            before_areas = [a.code for a in successor.service_areas]
            successor.service_areas = sorted(
                [*successor.service_areas, *plan.areas_added], key=lambda a: a.code
            )
            record_event(
                action="unit.service_areas",
                entity_type="unit",
                entity_id=successor.id,
                now=now,
                actor=actor,
                before={"service_areas": before_areas},
                after={
                    "code": successor.code,
                    "service_areas": [a.code for a in successor.service_areas],
                },
                note="merge: areas of the desks taken over",
            )
        for desk in plan.desks:
            # A desk that served "every area of its unit" keeps serving exactly those areas.
            areas = sorted(_desk_areas(desk), key=lambda a: a.code)
            before = {
                "unit_code": desk.unit.code,
                "service_areas": [a.code for a in desk.service_areas],
            }
            desk.service_areas = areas
            desk.unit = successor
            record_event(
                action="desk.move",
                entity_type="desk",
                entity_id=desk.id,
                now=now,
                actor=actor,
                before=before,
                after={
                    "code": desk.code,
                    "unit_code": successor.code,
                    "service_areas": [a.code for a in areas],
                },
                note=f"merge into {successor.code}",
            )
    db.session.flush()
    record_event(
        action="unit.absorb",
        entity_type="unit",
        entity_id=successor.id,
        now=now,
        actor=actor,
        after={
            "code": successor.code,
            "absorbed": [u.code for u in plan.absorbed],
            "desks_moved": len(plan.desks) if request.move_desks else 0,
            "sub_units_moved": len(plan.children) if request.move_children else 0,
        },
    )
