"""Who may use which console route: every endpoint of the ``admin`` and ``api`` blueprints has a
declared answer for an anonymous visitor, an administrator, an analyst and a unit officer, and
a route without a declaration fails ``test_every_route_has_a_declared_policy``.

Declarations are RULES below. Each one names an endpoint, a method, the URL parameters (names of
ids in ``World``: the officer's own unit's objects, or another unit's to prove the officer gets
403) and the answer for each role. A POST carries a valid CSRF token and no other field, so the
guard is tested, not the form: an allowed role gets the form's own answer (422, or a redirect
inside the console); a forbidden one 403; an anonymous visitor is sent to the sign-in page.

Everything runs on one application and one database built once for this module; each case
starts a fresh browser with a session cookie captured at sign-in.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text

from survey import create_app
from survey.extensions import db
from survey.models import AuditEvent, Role, RoundState, User, utcnow
from survey.services.accounts.api_tokens import create_token
from survey.services.accounts.users import create_user
from survey.services.questionnaires.templates import clone_version
from tests.admin.conftest import PASSWORD, csrf_token, login
from tests.conftest import POSTGRES_URL, _config
from tests.factories import make_area, make_desk, make_unit, sipas_version
from tests.helpers.rounds import round_over

ROLES = ("anonymous", "admin", "analyst", "officer")
LOGIN = "login"  # a redirect to the sign-in page
BLUEPRINTS = ("admin", "api")  # the blueprints whose every route must be declared here


@dataclass(frozen=True)
class World:
    """Ids the URLs are filled with. "other_..." belong to a unit outside the officer's."""

    round: int  # open; the officer's unit, its sub-unit and the other unit
    other_round: int  # open; only the other unit
    draft_round: int  # draft; the officer's unit
    desk: int  # at the officer's unit
    sub_desk: int  # at a sub-unit of the officer's unit
    other_desk: int  # at the other unit
    version: int  # a draft questionnaire version
    frozen_version: int  # the version the open rounds use
    aspect: int  # of the draft version
    element: int
    item: int
    user: int  # the unit officer's account
    admin_user: int  # the administrator's own account
    event: int  # an audit event
    unit: int  # the officer's own unit
    sub_unit: int  # a sub-unit of the officer's unit
    other_unit: int  # a unit outside the officer's
    area: int  # a service area
    api_token: int  # the officer's API token
    missing: int = 999_999  # no such row


@dataclass(frozen=True)
class Rule:
    endpoint: str
    method: str
    expect: dict[str, int | str]  # role -> status code, or LOGIN
    args: dict[str, str | int] = field(default_factory=dict)  # URL parameter -> World name
    note: str = ""

    @property
    def id(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.endpoint}[{self.method}{' ' + params if params else ''}]"


def admin_only(endpoint: str, method: str = "GET", ok: int = 200, **args: str | int) -> Rule:
    """Configuration: administrators only."""
    expect: dict[str, int | str] = {"anonymous": LOGIN, "admin": ok, "analyst": 403}
    return Rule(endpoint, method, expect | {"officer": 403}, args)


def any_staff(
    endpoint: str, method: str = "GET", ok: int = 200, officer: int | None = None, **args: str | int
) -> Rule:
    """Every signed-in role; ``officer`` when the unit officer's answer differs (another unit's
    ids: 403)."""
    expect: dict[str, int | str] = {"anonymous": LOGIN, "admin": ok, "analyst": ok}
    return Rule(endpoint, method, expect | {"officer": ok if officer is None else officer}, args)


def unit_staff(
    endpoint: str, method: str = "GET", ok: int = 200, officer: int | None = None, **args: str | int
) -> Rule:
    """Administrators, and unit officers for their own unit and its sub-units (another unit's
    ids: ``officer=403``); analysts configure nothing."""
    expect: dict[str, int | str] = {"anonymous": LOGIN, "admin": ok, "analyst": 403}
    return Rule(endpoint, method, expect | {"officer": ok if officer is None else officer}, args)


def api_reader(endpoint: str, ok: int = 200, officer: int | None = None, **args: str | int) -> Rule:
    """The JSON API with each role's bearer token: every role reads, a unit officer only their
    units (another unit's ids: ``officer=403``); no token: 401."""
    expect: dict[str, int | str] = {"anonymous": 401, "admin": ok, "analyst": ok}
    return Rule(endpoint, "GET", expect | {"officer": ok if officer is None else officer}, args)


def everyone(endpoint: str, method: str = "GET", ok: int | str = 200, **args: str | int) -> Rule:
    """No sign-in needed."""
    return Rule(endpoint, method, dict.fromkeys(ROLES, ok), args)


ROUND = {"round_id": "round"}
OTHER_ROUND = {"round_id": "other_round"}
DRAFT = {"version_id": "version"}
FROZEN = {"version_id": "frozen_version"}

RULES: list[Rule] = [
    # --- signing in and out; the API ---
    everyone("admin.login"),
    # Posting the sign-in form with a token and no fields re-shows it with messages.
    everyone("admin.login", "POST", ok=422),
    everyone("admin.logout", "POST", ok=LOGIN),
    everyone("api.status"),
    everyone("api.openapi"),
    # Public results answer for a published round with its public page on; the world's round
    # is open, so nobody (signed in or not) gets more than a 404.
    everyone("api.public_round_results", ok=404, **ROUND),
    # Minting receipt links: an analyst's token is refused first; the others' form body (the
    # matrix posts a form, the endpoint reads JSON) is refused as malformed; no token: 401.
    Rule(
        "api.receipt_links",
        "POST",
        {"anonymous": 401, "admin": 400, "analyst": 403, "officer": 400},
        {},
    ),
    api_reader("api.rounds"),
    api_reader("api.round_detail", **ROUND),
    api_reader("api.round_detail", officer=403, **OTHER_ROUND),
    api_reader("api.round_detail", ok=404, round_id="missing"),
    # Single responses: never to a unit officer (issue 19, finding 3).
    api_reader("api.round_responses", officer=403, **ROUND),
    api_reader("api.round_responses", officer=403, **OTHER_ROUND),
    api_reader("api.round_indices", **ROUND),
    api_reader("api.round_indices", officer=403, **OTHER_ROUND),
    api_reader("api.units"),
    api_reader("api.unit_detail", unit_id="unit"),
    api_reader("api.unit_detail", officer=403, unit_id="other_unit"),
    api_reader("api.unit_detail", ok=404, unit_id="missing"),
    api_reader("api.service_areas"),
    # --- dashboard ---
    any_staff("admin.dashboard"),
    # --- accounts (issue 4, point 1) ---
    admin_only("admin.users"),
    admin_only("admin.user_new"),
    admin_only("admin.user_new", "POST", ok=422),
    admin_only("admin.user_detail", user_id="user"),
    admin_only("admin.user_detail", ok=404, user_id="missing"),
    admin_only("admin.user_deactivate", user_id="user"),
    admin_only("admin.user_deactivate", "POST", ok=422, user_id="user"),
    admin_only("admin.user_deactivate", "POST", ok=422, user_id="admin_user"),
    admin_only("admin.user_reactivate", user_id="user"),
    admin_only("admin.user_reactivate", "POST", ok=422, user_id="user"),
    admin_only("admin.user_password", user_id="user"),
    admin_only("admin.user_password", "POST", ok=422, user_id="user"),
    # An administrator resetting their own password is sent to the change-password page.
    admin_only("admin.user_password", ok=303, user_id="admin_user"),
    any_staff("admin.password_change"),
    any_staff("admin.password_change", "POST", ok=422),
    # --- API tokens, comments, public pages (issue 5) ---
    admin_only("admin.api_tokens"),
    admin_only("admin.api_token_new"),
    admin_only("admin.api_token_new", "POST", ok=422),
    admin_only("admin.api_token_revoke", token_id="api_token"),
    admin_only("admin.api_token_revoke", "POST", ok=422, token_id="api_token"),
    any_staff("admin.round_comments", **ROUND),
    any_staff("admin.round_comments", officer=403, **OTHER_ROUND),
    # Moderation: administrators and analysts; without a state the form goes back to the list.
    Rule(
        "admin.round_comment_review",
        "POST",
        {"anonymous": LOGIN, "admin": 303, "analyst": 303, "officer": 403},
        {"answer_id": "missing", **ROUND},
    ),
    # A page at once, and hiding part of a comment: without fields, back to the list.
    Rule(
        "admin.round_comments_bulk",
        "POST",
        {"anonymous": LOGIN, "admin": 303, "analyst": 303, "officer": 403},
        dict(ROUND),
    ),
    Rule(
        "admin.round_comment_redact",
        "POST",
        {"anonymous": LOGIN, "admin": 303, "analyst": 303, "officer": 403},
        {"answer_id": "missing", **ROUND},
    ),
    # Only a published round has a public page: the open one answers 409.
    admin_only("admin.round_make_public", ok=409, **ROUND),
    admin_only("admin.round_make_public", "POST", ok=409, **ROUND),
    admin_only("admin.round_make_private", ok=409, **ROUND),
    admin_only("admin.round_make_private", "POST", ok=409, **ROUND),
    # --- audit trail (issue 4, point 7) ---
    admin_only("admin.audit"),
    admin_only("admin.audit_event", event_id="event"),
    admin_only("admin.audit_event", ok=404, event_id="missing"),
    # --- survey rounds (point 4) ---
    any_staff("admin.rounds"),
    admin_only("admin.round_new"),
    admin_only("admin.round_new", "POST", ok=422),
    any_staff("admin.round_detail", **ROUND),
    any_staff("admin.round_detail", officer=403, **OTHER_ROUND),
    admin_only("admin.round_edit", round_id="draft_round"),
    admin_only("admin.round_edit", "POST", ok=422, round_id="draft_round"),
    admin_only("admin.round_action", action="close", **ROUND),
    admin_only("admin.round_action", "POST", ok=422, action="close", **ROUND),
    admin_only("admin.round_dossiers", **ROUND),
    admin_only("admin.round_dossiers", "POST", ok=422, **ROUND),
    admin_only("admin.round_dossier_codes", **ROUND),
    admin_only("admin.round_dossier_codes", "POST", ok=422, **ROUND),
    admin_only("admin.round_result_settings", **ROUND),
    admin_only("admin.round_result_settings", "POST", ok=422, **ROUND),
    admin_only("admin.round_dossiers_csv", **ROUND),
    # --- sampled rounds (issue 22, point 3); letters of a round without a draw: back to the page
    admin_only("admin.round_sample", **ROUND),
    admin_only("admin.round_sample_kind", "POST", ok=422, **ROUND),
    admin_only("admin.round_sample_frame", "POST", ok=422, **ROUND),
    admin_only("admin.round_sample_draw", "POST", ok=422, **ROUND),
    admin_only("admin.round_sample_outcome", "POST", ok=422, **ROUND),
    admin_only("admin.round_sample_letters", ok=303, **ROUND),
    admin_only("admin.round_sample_delivery", **ROUND),
    # entering paper forms: the world's round is a QR round, which has no invitations (409)
    admin_only("admin.round_sample_entry", ok=409, **ROUND),
    admin_only("admin.round_sample_enter", "POST", ok=409, invitation_id="1", **ROUND),
    admin_only("admin.round_sample_resolve", "POST", ok=409, invitation_id="1", **ROUND),
    # --- result pages, report and index downloads (issue 5, points 2-4) ---
    *[
        rule
        for endpoint in (
            "admin.round_results_overview",
            "admin.round_results_units",
            "admin.round_chart_units",
            "admin.round_results_elements",
            "admin.round_chart_elements",
            "admin.round_chart_criteria",
            "admin.round_results_areas",
            "admin.round_chart_areas",
            "admin.round_results_change",
            "admin.round_chart_change",
            "admin.round_report",
            "admin.round_index_export",
        )
        for rule in (
            any_staff(endpoint, **ROUND),
            any_staff(endpoint, officer=403, **OTHER_ROUND),
        )
    ],
    *[
        rule
        for endpoint in ("admin.round_results_unit", "admin.round_chart_unit")
        for rule in (
            any_staff(endpoint, unit_id="unit", **ROUND),
            any_staff(endpoint, unit_id="sub_unit", **ROUND),
            any_staff(endpoint, officer=403, unit_id="other_unit", **ROUND),
            any_staff(endpoint, officer=403, unit_id="other_unit", **OTHER_ROUND),
        )
    ],
    # Response-level data of every unit: administrators and analysts only.
    any_staff("admin.round_export", officer=403, fmt="csv", **ROUND),
    any_staff("admin.round_export", officer=403, fmt="zip", **OTHER_ROUND),
    any_staff("admin.round_export", officer=403, fmt="bundle", **OTHER_ROUND),
    # Model-based estimates borrow from every unit of a level: administrators and analysts.
    any_staff("admin.round_results_small_area", officer=403, **ROUND),
    any_staff("admin.round_chart_small_area", officer=403, **ROUND),
    # --- monitoring (point 6) ---
    any_staff("admin.round_monitoring", **ROUND),
    any_staff("admin.round_monitoring", officer=403, **OTHER_ROUND),
    any_staff("admin.round_daily_chart", **ROUND),
    any_staff("admin.round_daily_chart", officer=403, **OTHER_ROUND),
    any_staff("admin.round_desk", desk_id="desk", **ROUND),
    any_staff("admin.round_desk", desk_id="sub_desk", **ROUND),
    any_staff("admin.round_desk", officer=403, desk_id="other_desk", **ROUND),
    any_staff("admin.round_desk", officer=403, desk_id="other_desk", **OTHER_ROUND),
    admin_only("admin.round_desk_responses", "POST", ok=422, desk_id="desk", **ROUND),
    # Without the burst's time window the request is malformed: 400 before any form message.
    admin_only("admin.round_desk_batch", "POST", ok=400, desk_id="desk", **ROUND),
    # --- organisation (point 2) ---
    unit_staff("admin.units"),
    unit_staff("admin.unit_detail", unit_id="unit"),
    unit_staff("admin.unit_detail", unit_id="sub_unit"),
    unit_staff("admin.unit_detail", officer=403, unit_id="other_unit"),
    unit_staff("admin.unit_detail", ok=404, unit_id="missing"),
    admin_only("admin.unit_new"),
    admin_only("admin.unit_new", "POST", ok=422),
    admin_only("admin.unit_edit", unit_id="unit"),
    admin_only("admin.unit_edit", "POST", ok=422, unit_id="unit"),
    admin_only("admin.unit_deactivate", unit_id="other_unit"),
    admin_only("admin.unit_deactivate", "POST", ok=422, unit_id="other_unit"),
    admin_only("admin.unit_reactivate", unit_id="other_unit"),
    admin_only("admin.unit_reactivate", "POST", ok=422, unit_id="other_unit"),
    admin_only("admin.unit_merge"),
    admin_only("admin.unit_merge", "POST", ok=422),
    admin_only("admin.org_import"),
    admin_only("admin.org_import", "POST", ok=422),
    admin_only("admin.org_export", kind="units"),
    admin_only("admin.service_areas"),
    admin_only("admin.service_area_new"),
    admin_only("admin.service_area_new", "POST", ok=422),
    admin_only("admin.service_area_edit", area_id="area"),
    admin_only("admin.service_area_edit", "POST", ok=422, area_id="area"),
    admin_only("admin.service_area_deactivate", area_id="area"),
    admin_only("admin.service_area_deactivate", "POST", ok=422, area_id="area"),
    admin_only("admin.service_area_reactivate", area_id="area"),
    admin_only("admin.service_area_reactivate", "POST", ok=422, area_id="area"),
    unit_staff("admin.desk_new", unit_id="unit"),
    unit_staff("admin.desk_new", unit_id="sub_unit"),
    unit_staff("admin.desk_new", officer=403, unit_id="other_unit"),
    unit_staff("admin.desk_new", "POST", ok=422, unit_id="unit"),
    unit_staff("admin.desk_new", "POST", ok=422, officer=403, unit_id="other_unit"),
    unit_staff("admin.desk_detail", desk_id="desk"),
    unit_staff("admin.desk_detail", desk_id="sub_desk"),
    unit_staff("admin.desk_detail", officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_edit", desk_id="desk"),
    unit_staff("admin.desk_edit", officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_edit", "POST", ok=422, desk_id="desk"),
    unit_staff("admin.desk_edit", "POST", ok=422, officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_deactivate", desk_id="desk"),
    unit_staff("admin.desk_deactivate", officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_deactivate", "POST", ok=422, desk_id="desk"),
    unit_staff("admin.desk_deactivate", "POST", ok=422, officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_reactivate", desk_id="desk"),
    unit_staff("admin.desk_reactivate", "POST", ok=422, desk_id="desk"),
    unit_staff("admin.desk_reactivate", "POST", ok=422, officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_token", desk_id="desk"),
    unit_staff("admin.desk_token", officer=403, desk_id="other_desk"),
    unit_staff("admin.desk_token", "POST", ok=422, desk_id="desk"),
    unit_staff("admin.desk_token", "POST", ok=422, officer=403, desk_id="other_desk"),
    # --- QR posters (point 5) ---
    unit_staff("admin.posters"),
    unit_staff("admin.posters_unit", unit_id="unit"),
    unit_staff("admin.posters_unit", officer=403, unit_id="other_unit"),
    unit_staff("admin.posters_unit_pdf", unit_id="unit"),
    unit_staff("admin.posters_unit_pdf", officer=403, unit_id="other_unit"),
    unit_staff("admin.posters_desk_png", desk_id="desk"),
    unit_staff("admin.posters_desk_png", officer=403, desk_id="other_desk"),
    unit_staff("admin.posters_desk_svg", desk_id="sub_desk"),
    unit_staff("admin.posters_desk_svg", officer=403, desk_id="other_desk"),
    unit_staff("admin.posters_desk_pdf", desk_id="desk"),
    unit_staff("admin.posters_desk_pdf", officer=403, desk_id="other_desk"),
    unit_staff("admin.posters_round_pdf", round_id="round"),
    unit_staff("admin.posters_round_pdf", officer=403, round_id="other_round"),
    # --- questionnaires (point 3) ---
    admin_only("admin.templates"),
    admin_only("admin.template_new"),
    admin_only("admin.template_new", "POST", ok=422),
    admin_only("admin.template_import"),
    admin_only("admin.template_import", "POST", ok=422),
    admin_only("admin.template_version", **DRAFT),
    admin_only("admin.template_preview", **DRAFT),
    admin_only("admin.template_export", **DRAFT),
    admin_only("admin.template_clone", "POST", ok=303, **FROZEN),
    admin_only("admin.template_version_edit", **DRAFT),
    admin_only("admin.template_version_edit", "POST", ok=422, **DRAFT),
    admin_only("admin.template_version_edit", ok=409, **FROZEN),
    admin_only("admin.template_aspect_new", **DRAFT),
    admin_only("admin.template_aspect_new", "POST", ok=422, **DRAFT),
    admin_only("admin.template_aspect_edit", aspect_id="aspect", **DRAFT),
    admin_only("admin.template_aspect_edit", "POST", ok=422, aspect_id="aspect", **DRAFT),
    admin_only("admin.template_element_new", **DRAFT),
    admin_only("admin.template_element_new", "POST", ok=422, **DRAFT),
    admin_only("admin.template_element_edit", element_id="element", **DRAFT),
    admin_only("admin.template_element_edit", "POST", ok=422, element_id="element", **DRAFT),
    admin_only("admin.template_item_new", **DRAFT),
    admin_only("admin.template_item_new", "POST", ok=422, **DRAFT),
    admin_only("admin.template_item_edit", item_id="item", **DRAFT),
    admin_only("admin.template_item_edit", "POST", ok=422, item_id="item", **DRAFT),
    admin_only("admin.template_part_move", "POST", ok=303, kind="items", part_id="item", **DRAFT),
    admin_only("admin.template_part_delete", kind="items", part_id="item", **DRAFT),
    admin_only("admin.template_part_delete", "POST", ok=422, kind="items", part_id="item", **DRAFT),
]


# --- one application and one database for the module ---------------------------------------


@dataclass(frozen=True)
class Browser:
    """A signed-in (or anonymous) session: its cookie and a CSRF token that goes with it."""

    cookie: str | None
    token: str
    api_token: str | None  # a bearer token for the JSON API, acting for the same account


@dataclass(frozen=True)
class Matrix:
    app: Flask
    world: World
    browsers: dict[str, Browser]


def _build_world() -> World:
    now = utcnow()
    area = make_area()
    unit = make_unit("U01", "UBND phường Bình Minh", [area])
    sub = make_unit("U01A", "Trạm y tế phường Bình Minh", [area], parent=unit)
    other = make_unit("U02", "UBND xã Phú Lộc", [area])
    desk, sub_desk, other_desk = make_desk(unit), make_desk(sub), make_desk(other)
    admin = create_user(username="admin", password=PASSWORD, role=Role.ADMIN, now=now)
    create_user(username="analyst", password=PASSWORD, role=Role.ANALYST, now=now)
    officer = create_user(
        username="officer", password=PASSWORD, role=Role.UNIT_OFFICER, unit=unit, now=now
    )
    db.session.commit()
    round_id = round_over([unit.id, sub.id, other.id], now=now)
    other_round = round_over([other.id], now=now, name="Đợt của đơn vị khác")
    draft_round = round_over(
        [unit.id], now=now + timedelta(days=30), state=RoundState.DRAFT, name="Đợt nháp"
    )
    frozen = sipas_version()
    draft = clone_version(frozen, now=now, actor=admin)
    db.session.commit()
    aspect = draft.aspects[0]
    element = aspect.elements[0]
    item = element.items[-1]
    api_token = create_token(officer, "world", actor=admin, now=now).token.id
    db.session.commit()
    event = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).first()
    assert event is not None
    return World(
        round=round_id,
        other_round=other_round,
        draft_round=draft_round,
        desk=desk.id,
        sub_desk=sub_desk.id,
        other_desk=other_desk.id,
        version=draft.id,
        frozen_version=frozen.id,
        aspect=aspect.id,
        element=element.id,
        item=item.id,
        user=officer.id,
        admin_user=admin.id,
        event=event,
        unit=unit.id,
        sub_unit=sub.id,
        other_unit=other.id,
        area=area.id,
        api_token=api_token,
    )


def _browser(app: Flask, role: str) -> Browser:
    client = app.test_client()
    if role == "anonymous":
        token = csrf_token(client, "/admin/login")
    else:
        login(client, role)
        token = csrf_token(client)
    cookie = client.get_cookie("session")
    api_token = None
    if role != "anonymous":
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == role))
            assert user is not None
            api_token = create_token(user, "matrix", actor=user, now=utcnow()).secret
            db.session.commit()
    return Browser(cookie.value if cookie is not None else None, token, api_token)


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        # TRUNCATE does not fire the audit table's row triggers, so it can empty it.
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module")
def matrix(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        path = Path(tmp_path_factory.mktemp("matrix")) / "matrix.sqlite3"
        shutil.copy(migrated_template, path)
        url = f"sqlite:///{path}"
    app = create_app(_config(url))
    try:
        with app.app_context():
            world = _build_world()
        browsers = {role: _browser(app, role) for role in ROLES}
        yield Matrix(app, world, browsers)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if POSTGRES_URL:
            _empty_postgres(POSTGRES_URL)


def _client(matrix: Matrix, role: str, endpoint: str = "") -> FlaskClient:
    client = matrix.app.test_client()
    if endpoint.startswith("api."):
        # The API ignores session cookies: it answers to the role's bearer token only.
        api_token = matrix.browsers[role].api_token
        if api_token is not None:
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_token}"
        return client
    cookie = matrix.browsers[role].cookie
    if cookie is not None:
        client.set_cookie("session", cookie)
    return client


def _url(matrix: Matrix, rule: Rule) -> str:
    values = {
        name: getattr(matrix.world, value) if value in WORLD_NAMES else value
        for name, value in rule.args.items()
    }
    with matrix.app.test_request_context():
        return url_for(rule.endpoint, **values)


WORLD_NAMES = {f.name for f in fields(World)}


# --- the tests ------------------------------------------------------------------------------


def _routes(app: Flask) -> dict[tuple[str, str], str]:
    """(endpoint, method) -> URL pattern, for every route of the checked blueprints."""
    found = {}
    for url_rule in app.url_map.iter_rules():
        if url_rule.endpoint.split(".")[0] not in BLUEPRINTS:
            continue
        for method in sorted((url_rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found[(url_rule.endpoint, method)] = url_rule.rule
    return found


def _suggestion(endpoint: str, method: str, pattern: str) -> str:
    params = re.findall(r"<(?:[^<>]*:)?(\w+)>", pattern)
    args = "".join(f', {p}="..."' for p in params)
    post = f', "{method}", ok=422' if method != "GET" else ""
    return f'    admin_only("{endpoint}"{post}{args}),  # {method} {pattern}'


HOW_TO_DECLARE = """
Use admin_only(...) for administrators only, any_staff(...) for every signed-in role (add a
second rule with another unit's ids and officer=403 when the data is unit-scoped), or
everyone(...) for routes that need no sign-in; ok= is the allowed roles' status code (a POST
carries only a CSRF token, so usually 422 or a 303 inside the console). URL parameters name a
field of World (round, other_round, desk, other_desk, version, item, user, event, missing, ...);
add a field and build it in _build_world() when none fits."""


def _policy_gaps(app: Flask) -> tuple[str, str]:
    """What the next engineer must fix: undeclared routes (with lines to paste) and declarations
    of routes that are gone; empty strings when there is nothing to fix."""
    routes = _routes(app)
    declared = {(rule.endpoint, rule.method) for rule in RULES}
    undeclared = sorted(set(routes) - declared)
    stale = sorted(declared - set(routes))
    missing_text = (
        "These routes have no declared access policy. Add to RULES in "
        "tests/admin/test_access_matrix.py, for each one, the answer every role gets "
        "(anonymous, admin, analyst, officer):\n"
        + "\n".join(_suggestion(e, m, routes[(e, m)]) for e, m in undeclared)
        + HOW_TO_DECLARE
        if undeclared
        else ""
    )
    stale_text = (
        "RULES in tests/admin/test_access_matrix.py declare routes that no longer exist "
        f"(renamed or removed?): {stale}"
        if stale
        else ""
    )
    return missing_text, stale_text


def test_every_route_has_a_declared_policy(matrix: Matrix) -> None:
    missing, stale = _policy_gaps(matrix.app)
    assert not missing, missing
    assert not stale, stale


def test_a_new_undeclared_route_is_reported_with_what_to_add() -> None:
    app = create_app(_config("sqlite://"))
    app.add_url_rule(
        "/admin/widgets/<int:widget_id>/delete",
        endpoint="admin.widget_delete",
        view_func=lambda widget_id: "",
        methods=["GET", "POST"],
    )
    missing, stale = _policy_gaps(app)
    assert 'admin_only("admin.widget_delete", widget_id="..."),' in missing
    assert 'admin_only("admin.widget_delete", "POST", ok=422, widget_id="..."),' in missing
    assert stale == ""


def test_rules_name_real_world_ids_and_every_role() -> None:
    for rule in RULES:
        assert set(rule.expect) == set(ROLES), rule.id
        for value in rule.args.values():
            if isinstance(value, str) and value.isidentifier() and value not in WORLD_NAMES:
                # URL parameters that are not ids (an action, a kind) are passed as they are.
                assert rule.endpoint.endswith(
                    ("round_action", "_part_move", "_part_delete", "org_export", "round_export")
                ), f"{rule.id}: {value!r} is not a field of World"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_route_answers_each_role_as_declared(matrix: Matrix, rule: Rule, role: str) -> None:
    client = _client(matrix, role, rule.endpoint)
    url = _url(matrix, rule)
    data = {"csrf_token": matrix.browsers[role].token} if rule.method == "POST" else None
    answer = client.open(url, method=rule.method, data=data)
    answer.close()  # a download's file and temporary folder go, as after a real send
    if rule.endpoint == "admin.logout" and role != "anonymous":
        # Signing out ends every session of the account, the shared one of this module too.
        matrix.browsers[role] = _browser(matrix.app, role)
    expected = rule.expect[role]
    location = answer.headers.get("Location", "")
    said = f"{role} {rule.method} {url}: {answer.status_code} {location}"
    if expected == LOGIN:
        assert answer.status_code == 302, said
        assert urlsplit(location).path == "/admin/login", said
        return
    assert answer.status_code == expected, said + "\n" + answer.get_data(as_text=True)[:400]
    if answer.status_code in (301, 302, 303, 307, 308):
        # Allowed and redirected: somewhere inside the console, never back to sign-in.
        target = urlsplit(location).path
        assert target.startswith("/admin/") and target != "/admin/login", said


# The API answers to bearer tokens only, never to a session cookie, so a forged cross-site form
# gets 401 there (the anonymous column above), not the console's CSRF refusal.
POSTS = [
    rule
    for rule in RULES
    if rule.method == "POST"
    and rule.endpoint != "admin.logout"
    and not rule.endpoint.startswith("api.")
]


@pytest.mark.parametrize("rule", POSTS, ids=lambda rule: rule.id)
def test_posts_without_a_csrf_token_are_refused(matrix: Matrix, rule: Rule) -> None:
    """Even for an administrator, whose session would allow it: a forged cross-site form."""
    with matrix.app.app_context():
        before = db.session.scalar(select(func.count(AuditEvent.id)))
    answer = _client(matrix, "admin").post(_url(matrix, rule), data={"confirm": "y"})
    assert answer.status_code == 400
    with matrix.app.app_context():
        after = db.session.scalar(select(func.count(AuditEvent.id)))
    assert after == before
