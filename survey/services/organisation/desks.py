"""Desks in the console: creating, editing, deactivating, reactivating, and a new link (token)
that retires the old QR posters. Administrators for every unit, unit officers for the units they
may see: ``visible_desk`` and ``desk_unit`` enforce that, whatever id the URL carries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.errors import ConflictError, NotFoundError
from survey.extensions import db
from survey.models import Desk, ServiceArea, Unit, User
from survey.models.org import new_desk_token
from survey.services.access import ForbiddenError
from survey.services.audit import record_event
from survey.services.csv_upload import clean
from survey.services.organisation.csv_files import code_problem, name_problem
from survey.services.organisation.units import OrgInputError, visible_unit


def visible_desk(desk_id: int, visible: set[int] | None) -> Desk:
    desk = db.session.get(Desk, desk_id)
    if desk is None:
        raise NotFoundError(str(_l("Không tìm thấy quầy.")))
    if visible is not None and desk.unit_id not in visible:
        raise ForbiddenError(str(_l("Bạn không có quyền xem quầy này.")))
    return desk


def desk_unit(unit_id: int, visible: set[int] | None) -> Unit:
    """The unit a new desk is added to: visible, and active (a desk of an inactive unit could
    never be reached)."""
    unit = visible_unit(unit_id, visible)
    if not unit.is_active:
        raise ConflictError(str(_l("Đơn vị này đã ngừng hoạt động: không thêm quầy được.")))
    return unit


def area_choices(unit: Unit, desk: Desk | None = None) -> list[ServiceArea]:
    """The unit's areas, and any the desk names already (so that editing shows them)."""
    areas = {a.id: a for a in unit.service_areas}
    if desk is not None:
        areas.update({a.id: a for a in desk.service_areas})
    return sorted(areas.values(), key=lambda a: a.code)


def suggested_code(unit: Unit) -> str:
    """``UNITCODE-Qn`` with the first n not taken."""
    taken = set(db.session.scalars(select(Desk.code).where(Desk.code.startswith(unit.code))))
    number = len(unit.desks) + 1
    while f"{unit.code}-Q{number}" in taken:
        number += 1
    return f"{unit.code}-Q{number}"


@dataclass(frozen=True)
class DeskDraft:
    code: str
    name: str
    area_ids: tuple[int, ...]
    requires_dossier_code: bool


def desk_snapshot(desk: Desk) -> dict[str, Any]:
    return {
        "code": desk.code,
        "name": desk.name,
        "unit_code": desk.unit.code,
        "service_areas": [a.code for a in desk.service_areas],
        "requires_dossier_code": desk.requires_dossier_code,
        "active": desk.is_active,
    }


def _areas(unit: Unit, area_ids: Iterable[int]) -> list[ServiceArea]:
    served = {a.id: a for a in unit.service_areas}
    chosen = []
    for area_id in sorted(set(area_ids)):
        area = served.get(area_id)
        if area is None:
            named = db.session.get(ServiceArea, area_id)
            raise OrgInputError(
                "area_ids",
                _l(
                    "Đơn vị không phục vụ lĩnh vực %(area)s: chỉ chọn trong các lĩnh vực của "
                    "đơn vị.",
                    area=named.code if named else area_id,
                ),
            )
        chosen.append(area)
    return sorted(chosen, key=lambda a: a.code)


def _checked(draft: DeskDraft, desk: Desk | None) -> tuple[str, str]:
    code, name = clean(draft.code), clean(draft.name)
    why = code_problem(code, _l("mã quầy"))
    if why is not None:
        raise OrgInputError("code", why)
    taken = db.session.scalar(select(Desk.id).where(Desk.code == code))
    if taken is not None and (desk is None or taken != desk.id):
        raise OrgInputError("code", _l("Mã quầy %(code)s đã có.", code=code))
    why = name_problem(name, _l("tên quầy"))
    if why is not None:
        raise OrgInputError("name", why)
    return code, name


def create_desk(unit: Unit, draft: DeskDraft, *, now: datetime, actor: User) -> Desk:
    code, name = _checked(draft, None)
    desk = Desk(
        unit=unit,
        code=code,
        name=name,
        requires_dossier_code=draft.requires_dossier_code,
        is_active=True,
        token=new_desk_token(),
        token_issued_at=now,
        created_at=now,
    )
    desk.service_areas = _areas(unit, draft.area_ids)
    db.session.add(desk)
    db.session.flush()
    record_event(
        action="desk.create",
        entity_type="desk",
        entity_id=desk.id,
        now=now,
        actor=actor,
        after=desk_snapshot(desk),
    )
    return desk


def update_desk(desk: Desk, draft: DeskDraft, *, now: datetime, actor: User) -> Desk:
    code, name = _checked(draft, desk)
    areas = _areas(desk.unit, draft.area_ids)
    before = desk_snapshot(desk)
    desk.code, desk.name = code, name
    desk.requires_dossier_code = draft.requires_dossier_code
    desk.service_areas = areas
    db.session.flush()
    after = desk_snapshot(desk)
    changed = [key for key in after if before[key] != after[key]]
    if changed:
        record_event(
            action="desk.update",
            entity_type="desk",
            entity_id=desk.id,
            now=now,
            actor=actor,
            before={k: before[k] for k in changed},
            after={"code": desk.code, **{k: after[k] for k in changed}},
        )
    return desk


def set_desk_active(desk: Desk, active: bool, *, now: datetime, actor: User) -> Desk:
    """An inactive desk's link shows the not-valid page; reactivating restores the same link."""
    if desk.is_active == active:
        raise OrgInputError(
            "confirm", _l("Quầy này đang hoạt động.") if active else _l("Quầy này đã ngừng.")
        )
    if active and not desk.unit.is_active:
        raise OrgInputError(
            "confirm", _l("Đơn vị của quầy đã ngừng hoạt động: không mở lại quầy được.")
        )
    desk.is_active = active
    db.session.flush()
    record_event(
        action="desk.reactivate" if active else "desk.deactivate",
        entity_type="desk",
        entity_id=desk.id,
        now=now,
        actor=actor,
        before={"active": not active},
        after={"code": desk.code, "active": active},
    )
    return desk


def regenerate_token(desk: Desk, *, now: datetime, actor: User) -> Desk:
    """A new link for the desk; the old one, and every poster printed with it, stops working at
    once. The audit trail records when, never the tokens themselves."""
    before = {"token_issued_at": desk.token_issued_at.isoformat(timespec="seconds")}
    desk.token = new_desk_token()
    desk.token_issued_at = now
    db.session.flush()
    record_event(
        action="desk.token",
        entity_type="desk",
        entity_id=desk.id,
        now=now,
        actor=actor,
        before=before,
        after={"code": desk.code, "token_issued_at": now.isoformat(timespec="seconds")},
    )
    return desk
