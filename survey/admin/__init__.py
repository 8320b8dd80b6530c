"""The staff console (Sở Nội vụ, unit officers, analysts)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask_babel import lazy_gettext as _l

from survey.models import Role

bp = Blueprint("admin", __name__)

# The console's menu: (endpoint, label, roles that see it). Entries whose view is not registered
# are left out, so a section appears as soon as its views exist.
NAV: tuple[tuple[str, object, tuple[Role, ...]], ...] = (
    ("admin.dashboard", _l("Tổng quan"), (Role.ADMIN, Role.UNIT_OFFICER, Role.ANALYST)),
    ("admin.units", _l("Đơn vị"), (Role.ADMIN, Role.UNIT_OFFICER)),
    ("admin.posters", _l("Áp phích mã QR"), (Role.ADMIN, Role.UNIT_OFFICER)),
    ("admin.service_areas", _l("Lĩnh vực"), (Role.ADMIN,)),
    ("admin.templates", _l("Phiếu khảo sát"), (Role.ADMIN,)),
    ("admin.rounds", _l("Đợt khảo sát"), (Role.ADMIN, Role.UNIT_OFFICER, Role.ANALYST)),
    ("admin.users", _l("Tài khoản"), (Role.ADMIN,)),
    ("admin.api_tokens", _l("Mã truy cập API"), (Role.ADMIN,)),
    ("admin.audit", _l("Nhật ký"), (Role.ADMIN,)),
)


@bp.after_request
def _not_stored(response: Response) -> Response:
    """Console pages show data of units, responses and comments: not kept by the browser or a
    proxy (the back button after signing out shows nothing), unless a view chose otherwise
    (charts may be kept a minute)."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_template_global()
def console_nav(role: str) -> list[tuple[str, object]]:
    return [
        (endpoint, label)
        for endpoint, label, roles in NAV
        if role in roles and endpoint in current_app.view_functions
    ]


from survey.admin import (  # noqa: E402,F401  (views register themselves on bp)
    api_tokens,
    audit,
    comments,
    monitoring,
    org,
    posters,
    publication,
    results,
    rounds,
    samples,
    templates,
    users,
    views,
)
