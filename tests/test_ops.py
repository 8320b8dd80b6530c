"""Health checks, security headers and request logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from survey import create_app, extensions
from survey.extensions import db
from tests.conftest import POSTGRES_URL, server_closes_the_app_connections


def test_healthz_and_readyz_on_a_migrated_database(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_readyz_reports_a_schema_behind_the_migrations(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        db.session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        db.session.commit()
    try:
        ready = client.get("/readyz")
    finally:
        # On PostgreSQL the next test reuses this database, whose tables are emptied but for
        # the schema's version: put it back.
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
            db.session.commit()
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["migrations"] == "at 0001"


def test_readyz_reports_an_unreachable_database(tmp_path: pytest.TempPathFactory) -> None:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent/x.db"})
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"].startswith("unavailable")


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: SQLite has no server to close")
def test_a_connection_closed_while_idle_is_replaced_unseen(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = client.get("/readyz")  # leaves a connection in the pool
    assert first.status_code == 200, first.get_json()
    assert server_closes_the_app_connections() >= 1
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if idle for a while
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only: SQLite has no server to close")
def test_a_connection_lost_in_busy_use_fails_one_request_only(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not pinged when in steady use (the submit path saves that round trip): the one request
    # that finds the connection gone fails, and the pool is renewed for the next ones.
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 3600.0)
    assert client.get("/readyz").status_code == 200
    assert server_closes_the_app_connections() >= 1
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_every_page_carries_security_headers(client: FlaskClient) -> None:
    for url in ("/", "/admin/login", "/r/unknown", "/healthz"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_hsts_behind_a_trusted_tls_proxy(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(PROXY_FIX_X_FOR=1)
    answer = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "max-age" in answer.headers["Strict-Transport-Security"]


def test_request_log_is_json_without_tokens_or_addresses(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="survey.requests"):
        client.get("/r/SECRET-DESK-TOKEN-123", environ_base={"REMOTE_ADDR": "113.161.4.20"})
    [record] = [r for r in caplog.records if r.name == "survey.requests"]
    entry = json.loads(record.getMessage())
    assert entry["route"] == "/r/<token:token>" and entry["status"] == 404
    assert len(entry["request_id"]) == 32 and entry["duration_ms"] >= 0
    assert "SECRET-DESK-TOKEN" not in record.getMessage()
    assert "113.161" not in record.getMessage()


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type"),
    [
        ("GET", "/admin/audit?q=a%00b", None, None),
        ("GET", "/admin/login?next=%00", None, None),
        (
            "POST",
            "/admin/login",
            b"username=ad%00min&password=x",
            "application/x-www-form-urlencoded",
        ),
        ("POST", "/r/some-desk-token", b"q_A1=4\x00", "application/x-www-form-urlencoded"),
        (
            "POST",
            "/admin/login",
            b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\nad\x00min\r\n--B--\r\n',
            "multipart/form-data; boundary=B",
        ),
    ],
)
def test_a_nul_character_anywhere_is_refused_with_a_message(
    client: FlaskClient, method: str, path: str, body: bytes | None, content_type: str | None
) -> None:
    """PostgreSQL cannot store or even compare text holding NUL (a 500 the fuzzers found in a
    search filter); every route refuses it before any view runs, in the visitor's language."""
    answer = client.open(path, method=method, data=body, content_type=content_type)
    assert answer.status_code == 400
    assert "ký tự điều khiển không hợp lệ" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        b'{"desk_token": "a\\u0000b", "codes": ["x"]}',  # in a value
        b'{"desk_token": "ab", "codes": ["x", "\\u0000"]}',  # in a list
        b'{"desk_token": "ab", "codes": ["x"], "a\\u0000": 1}',  # in a key
    ],
)
def test_a_nul_character_in_a_json_body_is_refused_with_a_message(
    client: FlaskClient, body: bytes
) -> None:
    """JSON writes a NUL as \\u0000: the API refuses it as the forms do, before the token is
    even checked (schemathesis found a 500 on /api/v1/receipt-links on PostgreSQL)."""
    answer = client.post("/api/v1/receipt-links", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert "ký tự điều khiển không hợp lệ" in answer.get_json()["message"]
    fine = body.replace(b"\\u0000", b"\\u0041")
    assert (
        client.post("/api/v1/receipt-links", data=fine, content_type="application/json").status_code
        == 401
    )  # no NUL: on to the token check


@pytest.mark.parametrize("depth", [900, 100_000])
def test_a_json_body_nested_deep_is_never_a_server_error(client: FlaskClient, depth: int) -> None:
    """The NUL check walks a JSON body without recursion; a body nested past what the parser
    takes is refused with a message."""
    body = ("[" * depth + "]" * depth).encode()
    answer = client.post("/api/v1/receipt-links", data=body, content_type="application/json")
    assert answer.status_code in (400, 401)
    if answer.status_code == 400:
        assert "lồng nhau quá sâu" in answer.get_json()["message"]


def test_percent_signs_that_are_not_nul_pass(client: FlaskClient) -> None:
    # "%00" typed by a person arrives encoded as %2500; it is text, not a NUL.
    assert client.get("/admin/login?next=%2500").status_code == 200


def test_forwarded_headers_are_ignored_without_a_configured_proxy(client: FlaskClient) -> None:
    # PROXY_FIX_X_FOR defaults to 0: a client cannot claim HTTPS (or an address) by a header.
    answer = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in answer.headers
