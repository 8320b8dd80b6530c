"""Service areas (lĩnh vực) in the console: the list, creating, editing, deactivating and
reactivating one. Administrators only; the views check the role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from survey.errors import NotFoundError
from survey.extensions import db
from survey.models import Desk, ServiceArea, Unit, User
from survey.models.org import desk_service_areas, unit_service_areas
from survey.services.audit import record_event
from survey.services.csv_upload import clean
from survey.services.organisation.csv_files import code_problem, name_problem
from survey.services.organisation.units import OrgInputError


@dataclass(frozen=True)
class AreaRow:
    area: ServiceArea
    units: int  # units that serve it
    desks: int  # desks that name it


def area_rows() -> list[AreaRow]:
    """Every area by code, with how many units and desks use it (three queries)."""
    units: dict[int, int] = dict(
        db.session.execute(
            select(unit_service_areas.c.service_area_id, func.count()).group_by(
                unit_service_areas.c.service_area_id
            )
        ).all()
    )
    desks: dict[int, int] = dict(
        db.session.execute(
            select(desk_service_areas.c.service_area_id, func.count()).group_by(
                desk_service_areas.c.service_area_id
            )
        ).all()
    )
    return [
        AreaRow(area, units.get(area.id, 0), desks.get(area.id, 0))
        for area in db.session.scalars(select(ServiceArea).order_by(ServiceArea.code))
    ]


def get_area(area_id: int) -> ServiceArea:
    area = db.session.get(ServiceArea, area_id)
    if area is None:
        raise NotFoundError(str(_l("Không tìm thấy lĩnh vực.")))
    return area


def area_users(area: ServiceArea) -> tuple[list[Unit], list[Desk]]:
    """The active units that serve ``area`` and the active desks that name it."""
    units = list(
        db.session.scalars(
            select(Unit)
            .join(unit_service_areas, unit_service_areas.c.unit_id == Unit.id)
            .where(unit_service_areas.c.service_area_id == area.id, Unit.is_active)
            .order_by(Unit.code)
        )
    )
    desks = list(
        db.session.scalars(
            select(Desk)
            .join(desk_service_areas, desk_service_areas.c.desk_id == Desk.id)
            .where(desk_service_areas.c.service_area_id == area.id, Desk.is_active)
            .order_by(Desk.code)
        )
    )
    return units, desks


@dataclass(frozen=True)
class AreaDraft:
    code: str
    name: str
    name_en: str


def _snapshot(area: ServiceArea) -> dict[str, Any]:
    return {"code": area.code, "name": area.name, "name_en": area.name_en, "active": area.is_active}


def _checked(draft: AreaDraft, area: ServiceArea | None) -> tuple[str, str, str]:
    code, name, name_en = clean(draft.code), clean(draft.name), clean(draft.name_en)
    why = code_problem(code, _l("mã lĩnh vực"))
    if why is not None:
        raise OrgInputError("code", why)
    taken = db.session.scalar(select(ServiceArea.id).where(ServiceArea.code == code))
    if taken is not None and (area is None or taken != area.id):
        raise OrgInputError("code", _l("Mã lĩnh vực %(code)s đã có.", code=code))
    why = name_problem(name, _l("tên lĩnh vực"))
    if why is not None:
        raise OrgInputError("name", why)
    if name_en:
        why = name_problem(name_en, _l("tên tiếng Anh"))
        if why is not None:
            raise OrgInputError("name_en", why)
    return code, name, name_en


def create_area(draft: AreaDraft, *, now: datetime, actor: User) -> ServiceArea:
    code, name, name_en = _checked(draft, None)
    area = ServiceArea(code=code, name=name, name_en=name_en, is_active=True)
    db.session.add(area)
    db.session.flush()
    record_event(
        action="service_area.create",
        entity_type="service_area",
        entity_id=area.id,
        now=now,
        actor=actor,
        after=_snapshot(area),
    )
    return area


def update_area(area: ServiceArea, draft: AreaDraft, *, now: datetime, actor: User) -> ServiceArea:
    code, name, name_en = _checked(draft, area)
    before = _snapshot(area)
    area.code, area.name, area.name_en = code, name, name_en
    db.session.flush()
    after = _snapshot(area)
    changed = [key for key in after if before[key] != after[key]]
    if changed:
        record_event(
            action="service_area.update",
            entity_type="service_area",
            entity_id=area.id,
            now=now,
            actor=actor,
            before={k: before[k] for k in changed},
            after={"code": area.code, **{k: after[k] for k in changed}},
        )
    return area


def set_area_active(area: ServiceArea, active: bool, *, now: datetime, actor: User) -> ServiceArea:
    """Citizens no longer see an inactive area among a desk's choices; links stay, so
    reactivating brings it back where it was."""
    if area.is_active == active:
        raise OrgInputError(
            "confirm",
            _l("Lĩnh vực này đang hoạt động.") if active else _l("Lĩnh vực này đã ngừng."),
        )
    area.is_active = active
    db.session.flush()
    record_event(
        action="service_area.reactivate" if active else "service_area.deactivate",
        entity_type="service_area",
        entity_id=area.id,
        now=now,
        actor=actor,
        before={"active": not active},
        after={"code": area.code, "active": active},
    )
    return area
