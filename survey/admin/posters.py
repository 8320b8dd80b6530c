"""QR posters in the console: a desk's QR code (PNG, SVG) and poster, and one PDF for a unit or
a round. Administrators print for every unit, unit officers for their own subtree; analysts
configure nothing and print nothing."""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import abort, render_template, request

from survey.admin import bp
from survey.admin.access import roles_required
from survey.admin.requests import current_staff, page_arg
from survey.models import Role
from survey.services.paging import paginate_list
from survey.services.posters.content import (
    Download,
    answer_url,
    base_url_is_local,
    desk_pdf,
    desk_qr,
    parse_size,
    poster_rounds,
    poster_units,
    public_base_url,
    round_pdf,
    unit_desks,
    unit_for_viewer,
    unit_pdf,
)

printers = roles_required(Role.ADMIN, Role.UNIT_OFFICER)

PER_PAGE = 25
DESKS_PER_PAGE = 50
MAX_SEARCH = 100


def _send(download: Download) -> FlaskResponse:
    response = FlaskResponse(download.body, mimetype=download.mimetype)
    # PDFs open in the browser's viewer, ready to print; QR images are saved for other documents.
    disposition = "inline" if download.mimetype == "application/pdf" else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{download.filename}"'
    # The links in these files are desk tokens: not for shared caches or the browser's disk.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/posters")
@printers
def posters() -> str:
    search = request.args.get("q", "")[:MAX_SEARCH]
    return render_template(
        "admin/posters/index.html",
        rounds=paginate_list(poster_rounds(current_staff()), page_arg("rounds_page"), PER_PAGE),
        units=paginate_list(
            poster_units(current_staff(), search), page_arg("units_page"), PER_PAGE
        ),
        search=search,
        base_url=public_base_url(),
        base_url_is_local=base_url_is_local(),
    )


@bp.get("/posters/units/<int:unit_id>")
@printers
def posters_unit(unit_id: int) -> str:
    unit = unit_for_viewer(unit_id, current_staff())
    desks = paginate_list(unit_desks(unit), page_arg("page"), DESKS_PER_PAGE)
    return render_template(
        "admin/posters/unit.html",
        unit=unit,
        desks=desks,
        urls={desk.id: answer_url(desk.token) for desk in desks.items},
        base_url_is_local=base_url_is_local(),
    )


@bp.get("/posters/desks/<int:desk_id>/qr.png")
@printers
def posters_desk_png(desk_id: int) -> FlaskResponse:
    return _send(desk_qr(desk_id, current_staff(), "png"))


@bp.get("/posters/desks/<int:desk_id>/qr.svg")
@printers
def posters_desk_svg(desk_id: int) -> FlaskResponse:
    return _send(desk_qr(desk_id, current_staff(), "svg"))


@bp.get("/posters/desks/<int:desk_id>/poster.pdf")
@printers
def posters_desk_pdf(desk_id: int) -> FlaskResponse:
    return _send(desk_pdf(desk_id, current_staff(), parse_size(request.args.get("size"))))


@bp.get("/posters/units/<int:unit_id>/posters.pdf")
@printers
def posters_unit_pdf(unit_id: int) -> FlaskResponse:
    subunits = request.args.get("subunits", "1")
    if subunits not in ("0", "1"):
        abort(400)
    size = parse_size(request.args.get("size"))
    return _send(unit_pdf(unit_id, current_staff(), size, subunits=subunits == "1"))


@bp.get("/posters/rounds/<int:round_id>/posters.pdf")
@printers
def posters_round_pdf(round_id: int) -> FlaskResponse:
    return _send(round_pdf(round_id, current_staff(), parse_size(request.args.get("size"))))
