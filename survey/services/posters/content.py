"""QR posters for desks: what to print, for whom, and the links the QR codes carry.

A desk's answer URL is ``PUBLIC_BASE_URL + "/r/" + token``, from configuration and never from
the request's host, because the console may be reached through another name or a proxy than the
one citizens use. Only active desks of active units get posters: any other token leads to the
"not valid" page. Regenerating a desk's token therefore retires its old posters.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager, selectinload

from survey.errors import ConflictError, DomainError, NotFoundError
from survey.extensions import db
from survey.models import Desk, Round, RoundUnit, Unit, User
from survey.services.access import ensure_unit_visible, visible_unit_ids
from survey.services.organisation.directory import service_areas_of_desk
from survey.services.posters.pdf import PaperSize, Poster, write_posters
from survey.services.posters.qr import qr_png, qr_svg
from survey.services.rounds.lifecycle import find_round, rounds_for, visible_round

__all__ = ["PaperSize", "Poster", "write_posters"]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104  (a name compared, not bound)


class PosterInputError(DomainError):
    status = 400
    code = "invalid_poster_request"


class NoDesksError(ConflictError):
    code = "no_desks"


def parse_size(raw: str | None) -> PaperSize:
    """A4 unless asked otherwise; anything but A4 or A5 is refused."""
    if raw is None or raw == "":
        return PaperSize.A4
    try:
        return PaperSize(raw.strip().upper())
    except ValueError:
        raise PosterInputError(_l("Khổ giấy phải là A4 hoặc A5.")) from None


def public_base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def answer_url(token: str) -> str:
    return f"{public_base_url()}/r/{token}"


def base_url_is_local() -> bool:
    """True when the configured public URL cannot be reached from a citizen's phone."""
    host = urlsplit(public_base_url()).hostname or ""
    return host in LOCAL_HOSTS or host.startswith("127.")


def poster_of(desk: Desk) -> Poster:
    return Poster(
        unit_name=desk.unit.name,
        desk_name=desk.name,
        desk_code=desk.code,
        areas=tuple(area.name for area in service_areas_of_desk(desk)),
        url=answer_url(desk.token),
    )


def _printable_desks() -> Select[Desk]:
    """Active desks of active units, with what a poster shows, by unit code then desk code."""
    return (
        select(Desk)
        .join(Desk.unit)
        .where(Desk.is_active, Unit.is_active)
        .options(
            contains_eager(Desk.unit).selectinload(Unit.service_areas),
            selectinload(Desk.service_areas),
        )
        .order_by(Unit.code, Desk.code)
    )


# --- Finding what the viewer asked for, within what they may see ------------------------------


# Ids in URLs beyond the database's integer range are simply unknown (PostgreSQL would refuse
# to compare them).
MAX_ID = 2**31 - 1


def desk_for_viewer(desk_id: int, viewer: User) -> Desk:
    desk = db.session.get(Desk, desk_id) if 0 < desk_id <= MAX_ID else None
    if desk is None:
        raise NotFoundError(_l("Không tìm thấy quầy."))
    ensure_unit_visible(viewer, desk.unit_id)
    if not desk.is_active or not desk.unit.is_active:
        raise ConflictError(
            _l("Quầy này hoặc đơn vị của quầy đã ngừng hoạt động: mã QR của quầy không dùng được.")
        )
    return desk


def unit_for_viewer(unit_id: int, viewer: User) -> Unit:
    unit = db.session.get(Unit, unit_id) if 0 < unit_id <= MAX_ID else None
    if unit is None:
        raise NotFoundError(_l("Không tìm thấy đơn vị."))
    ensure_unit_visible(viewer, unit.id)
    return unit


def unit_by_code(code: str) -> Unit | None:
    return db.session.scalar(select(Unit).where(Unit.code == code.strip()))


def _subtrees() -> dict[int, set[int]]:
    """Every unit's id mapped to the ids of its subtree, from one query over the tree."""
    children: dict[int, list[int]] = defaultdict(list)
    ids = []
    for unit_id, parent_id in db.session.execute(select(Unit.id, Unit.parent_id)):
        ids.append(unit_id)
        if parent_id is not None:
            children[parent_id].append(unit_id)
    trees: dict[int, set[int]] = {}
    for unit_id in ids:
        found, stack = {unit_id}, [unit_id]
        while stack:
            for child in children[stack.pop()]:
                if child not in found:  # a cycle in bad data must not loop forever
                    found.add(child)
                    stack.append(child)
        trees[unit_id] = found
    return trees


def subtree_ids(unit: Unit) -> set[int]:
    return _subtrees()[unit.id]


def _posters(query: Select[Desk], empty_message: Any) -> list[Poster]:
    posters = [poster_of(desk) for desk in db.session.scalars(query)]
    if not posters:
        raise NoDesksError(empty_message)
    return posters


def unit_posters(unit: Unit, *, subunits: bool = True) -> list[Poster]:
    """The posters of a unit's active desks, and of its sub-units' unless ``subunits`` is off."""
    ids = subtree_ids(unit) if subunits else {unit.id}
    return _posters(
        _printable_desks().where(Desk.unit_id.in_(ids)),
        _l("Đơn vị này chưa có quầy nào đang hoạt động."),
    )


def round_posters(
    round_: Round, viewer_units: set[int] | None, *, within: Unit | None = None
) -> list[Poster]:
    """Posters of the active desks of the round's units (those the viewer may see, and under
    ``within`` when given). A desk answers a round only if its own unit is in scope."""
    query = _printable_desks().where(
        Desk.unit_id.in_(select(RoundUnit.unit_id).where(RoundUnit.round_id == round_.id))
    )
    if viewer_units is not None:
        query = query.where(Desk.unit_id.in_(viewer_units))
    if within is not None:
        query = query.where(Desk.unit_id.in_(subtree_ids(within)))
    return _posters(query, _l("Các đơn vị của đợt khảo sát này chưa có quầy nào hoạt động."))


def render_pdf(posters: list[Poster], size: PaperSize, *, title: str) -> bytes:
    buffer = io.BytesIO()
    write_posters(posters, size, buffer, title=title)
    return buffer.getvalue()


def pdf_title(*names: str) -> str:
    return " – ".join(("Áp phích mã QR", *names))


# --- Downloads from the console ----------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    body: bytes
    mimetype: str
    filename: str


def _safe(name: str) -> str:
    """A file-name fragment: codes are free text, headers and file systems are not."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:60] or "x"


def desk_qr(desk_id: int, viewer: User, fmt: str) -> Download:
    desk = desk_for_viewer(desk_id, viewer)
    url = answer_url(desk.token)
    name = f"qr-{_safe(desk.code)}.{fmt}"
    if fmt == "png":
        return Download(qr_png(url), "image/png", name)
    return Download(qr_svg(url), "image/svg+xml", name)


def desk_pdf(desk_id: int, viewer: User, size: PaperSize) -> Download:
    desk = desk_for_viewer(desk_id, viewer)
    body = render_pdf([poster_of(desk)], size, title=pdf_title(desk.unit.name, desk.name))
    return Download(body, "application/pdf", f"poster-{_safe(desk.code)}-{size}.pdf")


def unit_pdf(unit_id: int, viewer: User, size: PaperSize, *, subunits: bool) -> Download:
    unit = unit_for_viewer(unit_id, viewer)
    body = render_pdf(unit_posters(unit, subunits=subunits), size, title=pdf_title(unit.name))
    return Download(body, "application/pdf", f"posters-{_safe(unit.code)}-{size}.pdf")


def round_pdf(round_id: int, viewer: User, size: PaperSize) -> Download:
    if not 0 < round_id <= MAX_ID:
        raise NotFoundError(_l("Không tìm thấy đợt khảo sát."))
    unit_ids = visible_unit_ids(viewer)
    round_ = visible_round(round_id, unit_ids)
    body = render_pdf(round_posters(round_, unit_ids), size, title=pdf_title(round_.name))
    return Download(body, "application/pdf", f"posters-round-{round_.id}-{size}.pdf")


# --- flask posters -----------------------------------------------------------------------------


class PosterSelectionError(DomainError):
    code = "unknown_selection"


def posters_for_command(round_id: int | None, unit_code: str | None) -> tuple[list[Poster], str]:
    """What ``flask posters`` prints, and the PDF title: a round's posters (the round opened
    last by default), only those under a unit when one is given; a unit's alone when only the
    unit is given. The same selections and titles as the console's downloads."""
    unit = None
    if unit_code is not None:
        unit = unit_by_code(unit_code)
        if unit is None:
            raise PosterSelectionError(f"no unit with code {unit_code!r}")
        if round_id is None:
            return unit_posters(unit), pdf_title(unit.name)
    round_ = find_round(round_id)
    if round_ is None:
        raise PosterSelectionError(
            f"no round with id {round_id}"
            if round_id is not None
            else "no round has been opened yet"
        )
    if unit is None:
        return round_posters(round_, None), pdf_title(round_.name)
    return round_posters(round_, None, within=unit), pdf_title(round_.name, unit.name)


# --- The posters page ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundRow:
    round: Round
    desks: int


@dataclass(frozen=True)
class UnitRow:
    unit: Unit
    own_desks: int
    all_desks: int  # with the sub-units' desks


def _active_desk_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(Desk.unit_id, func.count(Desk.id))
        .join(Desk.unit)
        .where(Desk.is_active, Unit.is_active)
        .group_by(Desk.unit_id)
    )
    return {unit_id: count for unit_id, count in rows}


def poster_rounds(viewer: User) -> list[RoundRow]:
    """The rounds the viewer sees, newest first, with how many posters each would print."""
    unit_ids = visible_unit_ids(viewer)
    counts = _active_desk_counts()
    scope: dict[int, set[int]] = defaultdict(set)
    for round_id, unit_id in db.session.execute(select(RoundUnit.round_id, RoundUnit.unit_id)):
        if unit_ids is None or unit_id in unit_ids:
            scope[round_id].add(unit_id)
    return [
        RoundRow(round_, sum(counts.get(u, 0) for u in scope[round_.id]))
        for round_ in rounds_for(unit_ids)
    ]


def _folded(text: str) -> str:
    """Lower case without diacritics, so that "binh minh" finds "Bình Minh"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def poster_units(viewer: User, search: str = "") -> list[UnitRow]:
    """The active units the viewer sees (by code) whose code or name contains ``search``
    (ignoring case and diacritics), with their desk counts."""
    unit_ids = visible_unit_ids(viewer)
    query = select(Unit).where(Unit.is_active).order_by(Unit.code)
    if unit_ids is not None:
        query = query.where(Unit.id.in_(unit_ids))
    wanted = _folded(" ".join(search.split()))
    counts = _active_desk_counts()
    trees = _subtrees()
    return [
        UnitRow(unit, counts.get(unit.id, 0), sum(counts.get(u, 0) for u in trees[unit.id]))
        for unit in db.session.scalars(query)
        if not wanted or wanted in _folded(f"{unit.code} {unit.name}")
    ]


def unit_desks(unit: Unit) -> list[Desk]:
    """Every desk of the unit and its sub-units, active or not, by unit code then desk code."""
    return list(
        db.session.scalars(
            select(Desk)
            .join(Desk.unit)
            .where(Desk.unit_id.in_(subtree_ids(unit)))
            .options(contains_eager(Desk.unit))
            .order_by(Unit.code, Desk.code)
        )
    )
