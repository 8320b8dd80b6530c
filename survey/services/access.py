"""Who may see what: administrators and analysts see every unit, a unit officer sees their
unit and its sub-units, and nothing else."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from survey.errors import DomainError
from survey.extensions import db
from survey.models import Role, Unit, User


class ForbiddenError(DomainError):
    status = 403
    code = "forbidden"


def unit_subtree(unit_id: int) -> set[int]:
    """The unit and every unit below it (breadth-first over the parent links)."""
    found = {unit_id}
    frontier = {unit_id}
    while frontier:
        children = set(db.session.scalars(select(Unit.id).where(Unit.parent_id.in_(frontier))))
        frontier = children - found
        found |= frontier
    return found


def visible_unit_ids(user: User) -> set[int] | None:
    """The units whose data ``user`` may see; None means all of them."""
    if user.role in (Role.ADMIN, Role.ANALYST):
        return None
    if user.role == Role.UNIT_OFFICER and user.unit_id is not None:
        return unit_subtree(user.unit_id)
    return set()


def ensure_unit_visible(user: User, unit_id: int) -> None:
    visible = visible_unit_ids(user)
    if visible is not None and unit_id not in visible:
        raise ForbiddenError(str(_l("Bạn không có quyền xem số liệu của đơn vị này.")))
