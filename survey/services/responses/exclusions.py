"""A desk's responses in a round, and excluding or restoring them.

An administrator excludes responses they judge not genuine (a burst at one desk, a test run) with
a reason; excluded responses keep their answers but never count anywhere (``results.counted``).
Restoring undoes it, with a reason too. Each action is one audit event listing every response it
changed with its status and reason before and after. A published round's responses are final.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from survey.errors import ConflictError, DomainError, NotFoundError
from survey.extensions import db
from survey.models import (
    Desk,
    Response,
    ResponseStatus,
    Round,
    RoundState,
    RoundUnit,
    ServiceArea,
    User,
)
from survey.services.access import ForbiddenError
from survey.services.audit import record_event
from survey.services.paging import Page

RESPONSES_PER_PAGE = 50


class ResponseSelectionError(DomainError):
    status = 400
    code = "bad_selection"


@dataclass(frozen=True)
class Window:
    """From the first to the last response of a burst, both included (naive UTC)."""

    start: datetime
    end: datetime


def desk_in_round(round_: Round, desk_id: int, unit_ids: set[int] | None) -> Desk:
    """The desk, if it belongs to a unit of the round the reader may see."""
    desk = db.session.get(Desk, desk_id)
    if desk is None:
        raise NotFoundError(_l("Không tìm thấy quầy."))
    if unit_ids is not None and desk.unit_id not in unit_ids:
        raise ForbiddenError(_l("Quầy này không thuộc đơn vị của bạn."))
    in_scope = db.session.scalar(
        select(RoundUnit.unit_id).where(
            RoundUnit.round_id == round_.id, RoundUnit.unit_id == desk.unit_id
        )
    )
    if in_scope is None:
        raise NotFoundError(_l("Quầy này không thuộc đợt khảo sát."))
    return desk


def _of_desk(round_: Round, desk: Desk) -> Select[Response]:
    return select(Response).where(Response.round_id == round_.id, Response.desk_id == desk.id)


@dataclass(frozen=True)
class ResponseRow:
    id: int
    received_at: datetime
    area_code: str
    area_name: str
    channel: str
    status: str
    exclusion_reason: str | None


def desk_responses(
    round_: Round,
    desk: Desk,
    *,
    page: int,
    status: str | None = None,
    window: Window | None = None,
    digest: str | None = None,
) -> Page[ResponseRow]:
    """A page of the desk's responses in the round, newest first; with ``digest``, only those
    that gave the same answers (a batch the monitoring page flagged)."""
    query = _of_desk(round_, desk)
    if digest is not None:
        query = query.where(Response.answers_digest == digest)
    if status in (ResponseStatus.COUNTED.value, ResponseStatus.EXCLUDED.value):
        query = query.where(Response.status == status)
    if window is not None:
        query = query.where(Response.received_at.between(window.start, window.end))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // RESPONSES_PER_PAGE))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        query.add_columns(ServiceArea.code, ServiceArea.name)
        .join(ServiceArea, ServiceArea.id == Response.service_area_id)
        .order_by(Response.received_at.desc(), Response.id.desc())
        .limit(RESPONSES_PER_PAGE)
        .offset((page - 1) * RESPONSES_PER_PAGE)
    )
    items = [
        ResponseRow(r.id, r.received_at, code, name, r.channel, r.status, r.exclusion_reason)
        for r, code, name in rows
    ]
    return Page(items, page, RESPONSES_PER_PAGE, total)


def _targets(
    round_: Round,
    desk: Desk,
    *,
    from_status: ResponseStatus,
    response_ids: Collection[int] = (),
    window: Window | None = None,
) -> list[Response]:
    if round_.state == RoundState.PUBLISHED:
        raise ConflictError(_l("Đợt khảo sát đã công bố: không thể loại hay khôi phục phiếu nữa."))
    if window is not None:
        return list(
            db.session.scalars(
                _of_desk(round_, desk)
                .where(
                    Response.status == from_status.value,
                    Response.received_at.between(window.start, window.end),
                )
                .order_by(Response.id)
            )
        )
    wanted = set(response_ids)
    if not wanted:
        raise ResponseSelectionError(_l("Chưa chọn phiếu nào."))
    found = list(
        db.session.scalars(
            _of_desk(round_, desk).where(Response.id.in_(wanted)).order_by(Response.id)
        )
    )
    # An id from another desk or round comes from a stale page or a crafted form: refuse it all.
    if {r.id for r in found} != wanted:
        raise ResponseSelectionError(
            _l("Có phiếu không thuộc quầy này trong đợt khảo sát; không phiếu nào được thay đổi.")
        )
    return [r for r in found if r.status == from_status.value]


def exclude_responses(
    round_: Round,
    desk: Desk,
    *,
    reason: str,
    now: datetime,
    actor: User,
    response_ids: Collection[int] = (),
    window: Window | None = None,
) -> int:
    """Exclude the chosen counted responses (or every counted one in ``window``); returns how
    many changed. Responses already excluded are left as they are."""
    return _move(
        round_,
        desk,
        ResponseStatus.COUNTED,
        ResponseStatus.EXCLUDED,
        stored_reason=reason,
        reason=reason,
        now=now,
        actor=actor,
        response_ids=response_ids,
        window=window,
    )


def restore_responses(
    round_: Round,
    desk: Desk,
    *,
    reason: str,
    now: datetime,
    actor: User,
    response_ids: Collection[int] = (),
    window: Window | None = None,
) -> int:
    """Count the chosen excluded responses again (or every excluded one in ``window``)."""
    return _move(
        round_,
        desk,
        ResponseStatus.EXCLUDED,
        ResponseStatus.COUNTED,
        stored_reason=None,
        reason=reason,
        now=now,
        actor=actor,
        response_ids=response_ids,
        window=window,
    )


def _move(
    round_: Round,
    desk: Desk,
    from_status: ResponseStatus,
    to_status: ResponseStatus,
    *,
    stored_reason: str | None,
    reason: str,
    now: datetime,
    actor: User,
    response_ids: Collection[int],
    window: Window | None,
) -> int:
    """Move the chosen responses from one status to the other, audited with the staff member's
    reason and every response's status and stored reason before and after."""
    changed = _targets(
        round_, desk, from_status=from_status, response_ids=response_ids, window=window
    )
    if not changed:
        return 0
    before = {str(r.id): {"status": r.status, "reason": r.exclusion_reason} for r in changed}
    for response in changed:
        response.status = to_status.value
        response.exclusion_reason = stored_reason
    db.session.flush()
    record_event(
        action="responses.exclude" if to_status == ResponseStatus.EXCLUDED else "responses.restore",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        before={"desk": desk.code, "responses": before},
        after={
            "desk": desk.code,
            "responses": {
                str(r.id): {"status": r.status, "reason": stored_reason} for r in changed
            },
            **_window_json(window),
        },
        note=reason[:1000],
    )
    return len(changed)


def _window_json(window: Window | None) -> dict[str, str]:
    if window is None:
        return {}
    return {"window_start": window.start.isoformat(), "window_end": window.end.isoformat()}
