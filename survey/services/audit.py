"""The append-only audit trail of staff changes: recording events, and browsing them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from survey.errors import NotFoundError
from survey.extensions import db
from survey.models import AuditEvent, User
from survey.services.paging import Page


def record_event(
    *,
    action: str,
    entity_type: str,
    entity_id: object,
    now: datetime,
    actor: User | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=now,
        actor_id=actor.id if actor is not None else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
        note=note,
    )
    db.session.add(event)
    db.session.flush()
    return event


# --- browsing the trail ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the administrator narrows the trail to; empty strings and None mean "any".
    ``since`` is inclusive and ``until`` exclusive, both naive UTC."""

    action: str = ""
    entity_type: str = ""
    entity_id: str = ""
    actor: str = ""  # a username
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Change:
    """One field of an event: its value before and after, as text, and how it changed."""

    field: str
    before: str | None  # None: the field was not there
    after: str | None
    kind: str  # "added", "removed", "changed" or "same"


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor_name: str | None  # None: no signed-in staff (a failed login, a command)
    changes: list[Change]


@dataclass(frozen=True)
class AuditFacets:
    actions: list[str]
    entity_types: list[str]


def audit_facets() -> AuditFacets:
    """The actions and entity types that occur in the trail, for the filter's choices."""
    actions = db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    types = db.session.scalars(
        select(AuditEvent.entity_type).distinct().order_by(AuditEvent.entity_type)
    )
    return AuditFacets(list(actions), list(types))


def _filtered(query: Select[AuditEvent, str], wanted: AuditFilter) -> Select[AuditEvent, str]:
    if wanted.action:
        query = query.where(AuditEvent.action == wanted.action)
    if wanted.entity_type:
        query = query.where(AuditEvent.entity_type == wanted.entity_type)
    if wanted.entity_id:
        query = query.where(AuditEvent.entity_id == wanted.entity_id)
    if wanted.actor:
        query = query.where(User.username == wanted.actor.strip().lower())
    if wanted.since is not None:
        query = query.where(AuditEvent.occurred_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEvent.occurred_at < wanted.until)
    return query


def audit_page(wanted: AuditFilter, page: int, per_page: int) -> Page[AuditRow]:
    """Events matching ``wanted``, newest first (ties by id, so paging is stable)."""
    base = _filtered(
        select(AuditEvent, User.username).outerjoin(User, AuditEvent.actor_id == User.id),
        wanted,
    )
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    last = max(1, -(-total // per_page))
    page = min(max(1, page), last)
    rows = db.session.execute(
        base.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return Page(
        [AuditRow(event, name, changes(event)) for event, name in rows], page, per_page, total
    )


def get_event(event_id: int) -> AuditRow:
    found = db.session.execute(
        select(AuditEvent, User.username)
        .outerjoin(User, AuditEvent.actor_id == User.id)
        .where(AuditEvent.id == event_id)
    ).first()
    if found is None:
        raise NotFoundError(_l("Không tìm thấy sự kiện trong nhật ký."))
    return AuditRow(found[0], found[1], changes(found[0]))


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    """Nested objects as dotted paths (``unit.code``); lists and scalars are leaves."""
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: value}
        flat: dict[str, object] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or str(_l("(giá trị)")): value}


def _text(value: object) -> str:
    if value is None or value == "":
        return str(_l("(trống)"))
    if isinstance(value, bool):
        return str(_l("có") if value else _l("không"))
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# States of rounds, comments and responses: recorded as codes, read as words.
STATE_LABELS = {
    "draft": _l("nháp"),
    "open": _l("đang mở"),
    "closed": _l("đã đóng"),
    "published": _l("đã công bố"),
    "pending": _l("chờ duyệt"),
    "approved": _l("đã duyệt"),
    "hidden": _l("đã ẩn"),
    "counted": _l("được tính"),
    "excluded": _l("bị loại"),
}


def _value(field: str, value: object) -> str:
    if field.rsplit(".", 1)[-1] in ("state", "status") and isinstance(value, str):
        label = STATE_LABELS.get(value)
        if label is not None:
            return str(label)
    return _text(value)


def changes(event: AuditEvent) -> list[Change]:
    """The event's before and after side by side, field by field, in the order the fields were
    recorded (fields only in ``before`` last)."""
    before = _flatten(event.before) if event.before is not None else {}
    after = _flatten(event.after) if event.after is not None else {}
    found = []
    for field in [*after, *(key for key in before if key not in after)]:
        old, new = field in before, field in after
        if old and new:
            same = before[field] == after[field]
            kind = "same" if same else "changed"
        else:
            kind = "added" if new else "removed"
        found.append(
            Change(
                field,
                _value(field, before[field]) if old else None,
                _value(field, after[field]) if new else None,
                kind,
            )
        )
    return found


# --- names a person reads ---------------------------------------------------------------------

ACTION_LABELS = {
    "api_token.create": _l("Tạo mã truy cập API"),
    "api_token.revoke": _l("Thu hồi mã truy cập API"),
    "comment.approved": _l("Duyệt ý kiến"),
    "comment.hidden": _l("Ẩn ý kiến"),
    "comment.pending": _l("Trả ý kiến về chờ duyệt"),
    "comment.redacted": _l("Ẩn một phần ý kiến"),
    "desk.create": _l("Tạo quầy"),
    "desk.deactivate": _l("Ngừng hoạt động quầy"),
    "desk.move": _l("Chuyển quầy sang đơn vị khác"),
    "desk.reactivate": _l("Cho quầy hoạt động lại"),
    "desk.token": _l("Tạo đường dẫn mới cho quầy"),
    "desk.update": _l("Sửa quầy"),
    "login.locked": _l("Khoá đăng nhập tạm thời"),
    "org.import": _l("Nhập tổ chức từ tệp CSV"),
    "responses.exclude": _l("Loại phiếu"),
    "responses.restore": _l("Khôi phục phiếu"),
    "round.create": _l("Tạo đợt khảo sát"),
    "round.update": _l("Sửa đợt khảo sát"),
    "round.open": _l("Mở đợt khảo sát"),
    "round.closed": _l("Đóng đợt khảo sát"),
    "round.published": _l("Công bố kết quả"),
    "round.dossiers_import": _l("Nhập số hồ sơ"),
    "round.export": _l("Tải dữ liệu phiếu"),
    "round.public": _l("Đổi trang kết quả công khai"),
    "service_area.create": _l("Tạo lĩnh vực"),
    "service_area.deactivate": _l("Ngừng lĩnh vực"),
    "service_area.reactivate": _l("Dùng lại lĩnh vực"),
    "service_area.update": _l("Sửa lĩnh vực"),
    "template.create": _l("Tạo mẫu phiếu"),
    "template.import": _l("Nhập mẫu phiếu"),
    "template.version.clone": _l("Sao chép phiên bản mẫu phiếu"),
    "unit.absorb": _l("Sáp nhập đơn vị vào đơn vị khác"),
    "unit.create": _l("Tạo đơn vị"),
    "unit.deactivate": _l("Ngừng hoạt động đơn vị"),
    "unit.merge": _l("Hợp nhất đơn vị"),
    "unit.reactivate": _l("Cho đơn vị hoạt động lại"),
    "unit.service_areas": _l("Đổi lĩnh vực của đơn vị"),
    "unit.update": _l("Sửa đơn vị"),
    "user.create": _l("Tạo tài khoản"),
    "user.deactivate": _l("Khoá tài khoản"),
    "user.password_change": _l("Đổi mật khẩu"),
    "user.password_reset": _l("Đặt lại mật khẩu"),
    "user.reactivate": _l("Mở lại tài khoản"),
}
ENTITY_LABELS = {
    "api_token": _l("mã truy cập API"),
    "comment": _l("ý kiến"),
    "desk": _l("quầy"),
    "login": _l("đăng nhập"),
    "organisation": _l("tổ chức"),
    "round": _l("đợt khảo sát"),
    "service_area": _l("lĩnh vực"),
    "template": _l("mẫu phiếu"),
    "template_version": _l("phiên bản mẫu phiếu"),
    "unit": _l("đơn vị"),
    "user": _l("tài khoản"),
}


def action_label(code: str) -> str:
    """The Vietnamese (or English) name of an audit action; the code itself when unknown."""
    return str(ACTION_LABELS.get(code, code))


def entity_label(code: str) -> str:
    return str(ENTITY_LABELS.get(code, code))
