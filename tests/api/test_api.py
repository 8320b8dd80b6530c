"""The JSON API: tokens, scope by role, paging, JSON errors that are never 500, the rate limit,
and an OpenAPI document that is valid and describes every route."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from sqlalchemy import select

from survey.extensions import db
from survey.models import ApiToken, AuditEvent, CommentState, Round, User, utcnow
from survey.services.accounts.api_tokens import hash_token, revoke_token
from survey.services.accounts.users import set_active
from survey.services.responses.comments import PHONE_MASK, review_comment
from tests.admin.conftest import Staff
from tests.api.conftest import bearer
from tests.helpers.comments import add_comment
from tests.helpers.openapi import check_schema
from tests.helpers.rounds import add_responses, round_over


def _get(client: FlaskClient, url: str, token: str | None) -> tuple[int, dict]:
    answer = client.get(url, headers=bearer(token) if token else {})
    assert answer.is_json, (url, answer.status_code, answer.get_data(as_text=True)[:200])
    return answer.status_code, answer.get_json()


def test_api_data_is_never_stored_by_a_cache(
    client: FlaskClient, tokens: dict[str, str], rounds: dict[str, int]
) -> None:
    """Issue 19, finding 10: a shared proxy or the browser's cache would keep staff-only data."""
    for url in ("/api/v1/rounds", f"/api/v1/rounds/{rounds['both']}/responses", "/api/v1/units"):
        answer = client.get(url, headers=bearer(tokens["admin"]))
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store", url


@pytest.fixture
def rounds(app: Flask, staff: Staff) -> dict[str, int]:
    with app.app_context():
        now = utcnow()
        both = round_over([staff.unit_id, staff.other_unit_id], now=now)
        other = round_over([staff.other_unit_id], now=now, name="Đợt khác")
        add_responses(both, staff.desk_id, [now - timedelta(hours=h) for h in range(3)])
        add_responses(both, staff.other_desk_id, [now - timedelta(hours=1)])
        add_responses(both, staff.desk_id, [now], excluded=True)
        return {"both": both, "other": other}


def test_status_and_document_need_no_token(client: FlaskClient) -> None:
    assert _get(client, "/api/v1/status", None) == (200, {"status": "ok", "api": "v1"})
    status, document = _get(client, "/api/v1/openapi.json", None)
    assert status == 200
    validate(document)


def test_document_describes_every_route(app: Flask) -> None:
    with app.test_request_context():
        from survey.api.openapi import openapi_document

        document = openapi_document()
    routes = {
        re.sub(r"<(?:[^<>:]*:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
    }
    assert routes == set(document["paths"])
    for path, item in document["paths"].items():
        for name in re.findall(r"{(\w+)}", path):
            declared = next(iter(item.values()))
            params = [p for p in declared["parameters"] if p.get("in") == "path"]
            assert name in {p["name"] for p in params}, path


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Bearer nonsense",
        "Bearer hl_" + "x" * 43,
        "Basic YWRtaW46cGFzcw==",
        "Bearer hl_\u00e9\u0000\ud800"[:20],
        "bearer " + "hl_" + "a" * 5000,
    ],
)
def test_missing_or_garbage_tokens_get_json_401(
    client: FlaskClient, tokens: dict[str, str], header: str | None
) -> None:
    answer = client.get("/api/v1/rounds", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_and_deactivated_account_get_401(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    assert _get(client, "/api/v1/units", tokens["analyst"])[0] == 200
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["analyst"]))
        )
        assert admin is not None and token is not None
        assert token.last_used_at is not None
        revoke_token(token, actor=admin, now=utcnow())
        officer = db.session.scalar(select(User).where(User.username == "officer"))
        assert officer is not None
        officer.is_active = False
        db.session.commit()
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "api_token")
        ).all()
        assert actions.count("api_token.create") == 3 and "api_token.revoke" in actions
    assert _get(client, "/api/v1/units", tokens["analyst"])[0] == 401
    assert _get(client, "/api/v1/units", tokens["officer"])[0] == 401
    assert _get(client, "/api/v1/units", tokens["admin"])[0] == 200


def test_tokens_are_stored_only_as_hashes(app: Flask, tokens: dict[str, str]) -> None:
    with app.app_context():
        stored = db.session.scalars(select(ApiToken)).all()
        for token in stored:
            assert token.token_hash not in tokens.values()
            assert not any(token.token_hash in secret for secret in tokens.values())
        assert {t.token_hash for t in stored} == {hash_token(s) for s in tokens.values()}


def test_officer_token_sees_only_their_units_and_rounds(
    client: FlaskClient, staff: Staff, tokens: dict[str, str], rounds: dict[str, int]
) -> None:
    status, units = _get(client, "/api/v1/units", tokens["officer"])
    assert status == 200
    assert {u["id"] for u in units["items"]} == {staff.unit_id, staff.sub_unit_id}
    assert _get(client, f"/api/v1/units/{staff.other_unit_id}", tokens["officer"])[0] == 403
    assert _get(client, f"/api/v1/units/{staff.other_unit_id}", tokens["analyst"])[0] == 200

    _status, listed = _get(client, "/api/v1/rounds", tokens["officer"])
    assert [r["id"] for r in listed["items"]] == [rounds["both"]]
    assert listed["items"][0]["unit_ids"] == [staff.unit_id]
    status, body = _get(client, f"/api/v1/rounds/{rounds['other']}", tokens["officer"])
    assert (status, body["code"]) == (403, "forbidden")
    _status, listed = _get(client, "/api/v1/rounds", tokens["analyst"])
    assert {r["id"] for r in listed["items"]} == set(rounds.values())

    # Responses: never to an officer (aggregates only, as in the console); counted only (the
    # excluded one is not there) for the others.
    status, body = _get(client, f"/api/v1/rounds/{rounds['both']}/responses", tokens["officer"])
    assert (status, body["code"]) == (403, "forbidden")
    assert "aggregated" in body["message"]
    _status, everything = _get(
        client, f"/api/v1/rounds/{rounds['both']}/responses", tokens["admin"]
    )
    assert everything["total"] == 4
    url = f"/api/v1/rounds/{rounds['both']}/responses?unit_id={staff.other_unit_id}"
    assert _get(client, url, tokens["officer"])[0] == 403
    assert _get(client, url, tokens["analyst"])[1]["total"] == 1


def test_paging(client: FlaskClient, tokens: dict[str, str], rounds: dict[str, int]) -> None:
    url = f"/api/v1/rounds/{rounds['both']}/responses"
    _status, first = _get(client, url + "?per_page=3", tokens["admin"])
    _status, second = _get(client, url + "?per_page=3&page=2", tokens["admin"])
    assert (first["total"], first["pages"], len(first["items"]), len(second["items"])) == (
        4,
        2,
        3,
        1,
    )
    assert {r["id"] for r in first["items"]}.isdisjoint(r["id"] for r in second["items"])
    status, past = _get(client, url + "?page=1000000", tokens["admin"])
    assert (status, past["items"], past["page"]) == (200, [], 1000000)


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=99999999999999999999999",
        "page=%00",
        "page=%EF%BC%91",  # a full-width digit 1
        "per_page=0",
        "per_page=201",
        "per_page=1000000000",
        "unit_id=0",
        "unit_id=abc",
        "page=",
        "per_page=",
        "page=1&page=2",
    ],
)
def test_malformed_parameters_are_json_400(
    client: FlaskClient, tokens: dict[str, str], rounds: dict[str, int], query: str
) -> None:
    status, body = _get(
        client, f"/api/v1/rounds/{rounds['both']}/responses?{query}", tokens["admin"]
    )
    assert status == 400
    assert body["code"] == "bad_request" and body["message"]


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/api/v1/rounds/999999", 404),
        ("GET", "/api/v1/rounds/99999999999999999999", 404),
        ("GET", "/api/v1/rounds/2147483648", 404),
        ("GET", "/api/v1/rounds/-1", 404),
        ("GET", "/api/v1/rounds/abc/responses", 404),
        ("GET", "/api/v1/units/999999", 404),
        ("GET", "/api/v1/nowhere", 404),
        ("POST", "/api/v1/rounds", 405),
        ("DELETE", "/api/v1/units/1", 405),
    ],
)
def test_unknown_ids_and_methods_are_json(
    client: FlaskClient, tokens: dict[str, str], method: str, url: str, status: int
) -> None:
    answer = client.open(url, method=method, headers=bearer(tokens["admin"]))
    assert answer.status_code == status
    body = answer.get_json()
    assert set(body) == {"code", "message"}


def test_only_approved_comments_are_in_responses_masked(
    app: Flask, client: FlaskClient, staff: Staff, tokens: dict[str, str]
) -> None:
    with app.app_context():
        now = utcnow()
        round_id = round_over([staff.unit_id], now=now)
        approved = add_comment(round_id, staff.desk_id, "Gọi 0912345678", now=now)
        add_comment(round_id, staff.desk_id, "chưa duyệt", now=now)
        round_ = db.session.get(Round, round_id)
        analyst = db.session.scalar(select(User).where(User.username == "analyst"))
        assert round_ is not None and analyst is not None
        review_comment(round_, approved, CommentState.APPROVED, actor=analyst, now=now)
        db.session.commit()
    _status, body = _get(client, f"/api/v1/rounds/{round_id}/responses", tokens["analyst"])
    texts = sorted((a["text"] for r in body["items"] for a in r["answers"]), key=lambda t: t or "")
    assert texts == [None, f"Gọi {PHONE_MASK}"]


@pytest.mark.parametrize(
    "storage",
    ["memory://", "redis://127.0.0.1:1/0"],  # the second is a Redis outage: counted in memory
)
def test_rate_limit_per_token(app_factory, staff: Staff, storage: str) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(
        API_RATE_LIMIT="3 per minute",
        RATELIMIT_KEY_PREFIX="api-limit-test",
        RATELIMIT_STORAGE_URI=storage,
    )
    with app.app_context():
        from survey.services.accounts.api_tokens import create_token

        users = {u.username: u for u in db.session.scalars(select(User))}
        first = create_token(users["admin"], "a", actor=users["admin"], now=utcnow()).secret
        second = create_token(users["analyst"], "b", actor=users["admin"], now=utcnow()).secret
        db.session.commit()
    client = app.test_client()
    answers = [client.get("/api/v1/units", headers=bearer(first)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].get_json()["code"] == "too_many_requests"
    assert int(answers[-1].headers["Retry-After"]) >= 1
    # Another token has its own budget.
    assert client.get("/api/v1/units", headers=bearer(second)).status_code == 200


def test_round_detail_lists_units_under_their_names_at_opening(
    client: FlaskClient, staff: Staff, tokens: dict[str, str], rounds: dict[str, int]
) -> None:
    status, body = _get(client, f"/api/v1/rounds/{rounds['both']}", tokens["officer"])
    assert status == 200
    assert body["units"] == [{"id": staff.unit_id, "name": "UBND phường Bình Minh"}]
    _status, body = _get(client, f"/api/v1/rounds/{rounds['both']}", tokens["analyst"])
    assert {u["id"] for u in body["units"]} == {staff.unit_id, staff.other_unit_id}
    assert body["state"] == "open" and body["is_public"] is False


def test_answers_match_the_documented_schemas(
    app: Flask, client: FlaskClient, staff: Staff, tokens: dict[str, str], rounds: dict[str, int]
) -> None:
    with app.app_context():
        add_comment(rounds["both"], staff.desk_id, "Rất tốt", now=utcnow())
    _status, document = _get(client, "/api/v1/openapi.json", None)
    admin = tokens["admin"]
    cases = [
        ("/api/v1/status", "Status"),
        ("/api/v1/rounds", "RoundPage"),
        (f"/api/v1/rounds/{rounds['both']}", "RoundDetail"),
        (f"/api/v1/rounds/{rounds['both']}/responses", "ResponsePage"),
        ("/api/v1/units", "UnitPage"),
        (f"/api/v1/units/{staff.unit_id}", "Unit"),
        ("/api/v1/service-areas", "ServiceAreaPage"),
        ("/api/v1/rounds/999999", "Error"),
        ("/api/v1/units?page=0", "Error"),
    ]
    for url, schema in cases:
        _status, body = _get(client, url, admin)
        check_schema(document, schema, body)
    _status, body = _get(client, "/api/v1/units", None)
    check_schema(document, "Error", body)


def test_an_unexpected_error_is_a_json_500(
    client: FlaskClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("survey.api.views.areas_page", broken)
    answer = client.get("/api/v1/service-areas", headers=bearer(tokens["admin"]))
    assert answer.status_code == 500
    assert answer.get_json()["code"] == "internal_error"
    assert "boom" not in answer.get_data(as_text=True)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["page", "per_page", "unit_id", "other"]),
    value=st.text(max_size=30),
    path_id=st.one_of(st.integers(min_value=-(10**20), max_value=10**20), st.text(max_size=12)),
)
def test_no_input_makes_a_500(
    client: FlaskClient,
    tokens: dict[str, str],
    rounds: dict[str, int],
    name: str,
    value: str,
    path_id: int | str,
) -> None:
    headers = bearer(tokens["analyst"])
    answer = client.get(
        f"/api/v1/rounds/{rounds['both']}/responses", query_string={name: value}, headers=headers
    )
    assert answer.status_code in (200, 400), (name, value)
    assert answer.is_json
    for url in (f"/api/v1/rounds/{path_id}", f"/api/v1/units/{path_id}/"):
        answer = client.get(url, headers=headers)
        assert answer.status_code < 500, url
        assert answer.is_json or answer.status_code in (301, 308), url


def test_method_not_allowed_names_the_allowed_ones(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    answer = client.delete("/api/v1/units", headers=bearer(tokens["admin"]))
    assert answer.status_code == 405
    assert answer.get_json()["code"] == "method_not_allowed"
    assert "GET" in answer.headers["Allow"]


def test_a_token_stops_working_when_it_expires(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    """Issue 19, finding 9: tokens never expired. Created without a lifetime, a token lives 90
    days; the day after, the API answers 401."""
    with app.app_context():
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["analyst"]))
        )
        assert token is not None
        assert token.expires_at - token.created_at == timedelta(days=90)
    assert _get(client, "/api/v1/units", tokens["analyst"])[0] == 200
    with app.app_context():
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["analyst"]))
        )
        assert token is not None
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    status, body = _get(client, "/api/v1/units", tokens["analyst"])
    assert status == 401 and body["code"] == "unauthorized"
    assert _get(client, "/api/v1/units", tokens["admin"])[0] == 200


def test_a_deactivated_accounts_tokens_stay_revoked_after_reactivation(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    """Issue 19, finding 9: reactivating an account brought its old tokens back to life."""
    assert _get(client, "/api/v1/units", tokens["officer"])[0] == 200
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        officer = db.session.scalar(select(User).where(User.username == "officer"))
        assert admin is not None and officer is not None
        set_active(officer, False, actor=admin, now=utcnow())
        db.session.commit()
        set_active(officer, True, actor=admin, now=utcnow())
        db.session.commit()
        token = db.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["officer"]))
        )
        assert token is not None and token.revoked_at is not None
        revokes = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "api_token.revoke")
        ).all()
        assert [e.entity_id for e in revokes] == [str(token.id)]
    assert _get(client, "/api/v1/units", tokens["officer"])[0] == 401
    assert _get(client, "/api/v1/units", tokens["analyst"])[0] == 200


def _answer_schema(document: dict, path: str, method: str = "get") -> dict:
    """The declared schema of a 200 answer, as a document that resolves its $refs."""
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    return {**document, **schema["schema"]}


def test_every_route_answers_exactly_its_declared_shape(
    app: Flask, client: FlaskClient, staff: Staff, tokens: dict[str, str], rounds: dict[str, int]
) -> None:
    """Issue 17: the document is generated from the shapes the views build their answers with.
    Every route of the document is called, for an administrator and an officer; the answer has
    every declared field and no other (additionalProperties is false everywhere), so a field a
    view adds without declaring it fails here."""
    from jsonschema import Draft202012Validator, FormatChecker

    with app.app_context():
        add_comment(rounds["both"], staff.desk_id, "Rất tốt", now=utcnow())
        # Published with a public page, so that its public results answer too.
        round_ = db.session.get(Round, rounds["both"])
        assert round_ is not None
        round_.state, round_.closed_at, round_.published_at = "published", utcnow(), utcnow()
        round_.is_public = True
        db.session.commit()
    document = client.get("/api/v1/openapi.json").get_json()
    ids = {"round_id": rounds["both"], "unit_id": staff.unit_id}
    called = 0
    # The one POST (receipt links) takes a body: tests/api/test_receipt_links_api.py checks it.
    readers = [path for path, item in document["paths"].items() if "get" in item]
    for path in readers:
        url = "/api/v1" + re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)
        for role in ("admin", "officer"):
            answer = client.get(url, headers=bearer(tokens[role]))
            body = answer.get_json()
            if role == "officer" and path.endswith("/responses"):
                assert answer.status_code == 403
                check_schema(document, "Error", body)
                continue
            assert answer.status_code == 200, (url, role, body)
            validator = Draft202012Validator(
                _answer_schema(document, path), format_checker=FormatChecker()
            )
            assert [e.message for e in validator.iter_errors(body)] == [], (url, role)
            called += 1
    assert called == 2 * len(readers) - 1
    for name, schema in document["components"]["schemas"].items():
        assert schema["additionalProperties"] is False, name
        assert set(schema["required"]) == set(schema["properties"]), name


def test_a_route_without_a_declaration_fails_the_document(app: Flask) -> None:
    app.add_url_rule("/api/v1/extra", endpoint="api.extra", view_func=lambda: {"x": 1})
    with app.test_request_context(), pytest.raises(LookupError, match=r"api\.extra"):
        from survey.api.openapi import openapi_document

        openapi_document()


def test_a_shape_refuses_a_missing_or_undeclared_field() -> None:
    from survey.api.views import SERVICE_AREA

    fields = {"id": 1, "code": "HT", "name": "Hộ tịch", "name_en": "Civil status"}
    with pytest.raises(TypeError, match="missing"):
        SERVICE_AREA(**fields)
    with pytest.raises(TypeError, match="undeclared"):
        SERVICE_AREA(**fields, is_active=True, secret="x")
    assert list(SERVICE_AREA(**fields, is_active=True)) == [*fields, "is_active"]
