"""Layers against ballot stuffing: each one tested, and none of them blocks a real queue."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from survey.extensions import db
from survey.models import Desk, DossierCodeUse, Response, Round
from survey.services.responses.signing import sign_started
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_answer import form_page, valid_answers


@dataclass(frozen=True)
class Site:
    token: str
    second_token: str
    round_id: int


def _site(app: Flask, **settings: int) -> Site:
    with app.app_context():
        unit = make_unit("STP", "Sở Tư pháp", [make_area()])
        desk, second = make_desk(unit, "STP-Q1"), make_desk(unit, "STP-Q2")
        round_ = make_round([unit], min_answer_seconds=settings.pop("min_answer_seconds", 0))
        for name, value in settings.items():
            setattr(round_, name, value)
        db.session.commit()
        return Site(desk.token, second.token, round_.id)


def _statuses(app: Flask) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [
            (r.status, r.exclusion_reason)
            for r in db.session.scalars(select(Response).order_by(Response.id))
        ]


def _phone(app: Flask, address: str = "113.161.4.20") -> FlaskClient:
    """A separate phone: its own cookies, behind the given address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _answer(client: FlaskClient, token: str, **changes: object) -> tuple[int, str]:
    data = valid_answers(form_page(client, token)) | changes
    page = client.post(f"/r/{token}", data=data)
    return page.status_code, page.get_data(as_text=True)


def test_honeypot_gets_a_normal_thanks_but_does_not_count(app: Flask) -> None:
    site = _site(app)
    status, _ = _answer(_phone(app), site.token, website="http://spam.example")
    assert status == 303
    [(state, reason)] = _statuses(app)
    assert state == "excluded" and reason is not None and "honeypot" in reason


def test_answering_faster_than_the_round_minimum_does_not_count(app: Flask) -> None:
    site = _site(app, min_answer_seconds=20)
    phone = _phone(app)
    assert _answer(phone, site.token)[0] == 303  # instant: a script
    with app.test_request_context():
        a_minute_ago = sign_started(time.time() - 60)
    assert _answer(_phone(app), site.token, started=a_minute_ago)[0] == 303
    assert [s for s, _ in _statuses(app)] == ["excluded", "counted"]
    assert "minimum of 20 s" in (_statuses(app)[0][1] or "")


def test_forged_start_time_asks_to_resend_and_stores_nothing(app: Flask) -> None:
    site = _site(app)
    status, html = _answer(_phone(app), site.token, started="1700000000.0")
    assert status == 422
    assert "Phiên làm việc đã hết hạn" in html
    assert _statuses(app) == []


def test_one_response_per_device_per_desk_per_period(app: Flask) -> None:
    site = _site(app, device_period_hours=12)
    phone = _phone(app)
    assert _answer(phone, site.token)[0] == 303
    assert _answer(phone, site.token)[0] == 303  # looks normal to the sender...
    assert _answer(phone, site.second_token)[0] == 303  # another desk is another matter
    assert _answer(_phone(app), site.token)[0] == 303  # another phone too
    states = _statuses(app)
    assert [s for s, _ in states] == ["counted", "excluded", "counted", "counted"]
    assert "same device" in (states[1][1] or "")


def test_device_rule_can_be_turned_off_per_round(app: Flask) -> None:
    site = _site(app, device_period_hours=0)
    phone = _phone(app)
    _answer(phone, site.token)
    _answer(phone, site.token)
    assert [s for s, _ in _statuses(app)] == ["counted", "counted"]


def test_desk_rate_limit_keeps_the_answers_and_stores_nothing_more(app: Flask) -> None:
    site = _site(app, desk_limit_per_hour=3)
    for n in range(3):
        assert _answer(_phone(app, f"14.0.{n}.1"), site.token)[0] == 303
    status, html = _answer(_phone(app, "14.0.9.1"), site.token)
    assert status == 429
    assert "Quầy đang nhận rất nhiều phiếu" in html
    assert "Cán bộ rất nhiệt tình." in html  # the answers are still in the form
    assert len(_statuses(app)) == 3
    # The other desk is not affected.
    assert _answer(_phone(app, "14.0.10.1"), site.second_token)[0] == 303


def test_network_rate_limit_applies_per_network_not_per_address(app: Flask) -> None:
    site = _site(app, network_limit_per_hour=2)
    assert _answer(_phone(app, "27.72.1.10"), site.token)[0] == 303
    assert _answer(_phone(app, "27.72.1.11"), site.second_token)[0] == 303
    assert _answer(_phone(app, "27.72.1.12"), site.token)[0] == 429  # same /24
    assert _answer(_phone(app, "27.73.1.10"), site.token)[0] == 303  # another network


def test_a_real_queue_of_thirty_phones_on_one_wifi_all_get_through(app: Flask) -> None:
    """30 different phones at one desk within ten minutes, behind the office's one address,
    with the round's default settings (minimum time met by real people)."""
    site = _site(app, min_answer_seconds=10)
    for n in range(30):
        # Each phone was served its own form; a real person takes a minute or two.
        with app.test_request_context():
            started = sign_started(time.time() - 95 - n)
        assert _answer(_phone(app, "203.113.0.7"), site.token, started=started)[0] == 303
    assert [s for s, _ in _statuses(app)] == ["counted"] * 30


@pytest.fixture
def coded_site(app: Flask) -> Site:
    site = _site(app)
    with app.app_context():
        desk = db.session.scalars(select(Desk).where(Desk.token == site.token)).one()
        desk.requires_dossier_code = True
        db.session.commit()
    return site


def test_desk_requiring_a_dossier_code_asks_for_it(app: Flask, coded_site: Site) -> None:
    html = form_page(_phone(app), coded_site.token)
    assert "Mã hồ sơ (in trên giấy tiếp nhận)" in html
    # Its format is said beside it, and read out with the field.
    assert "4 đến 40 ký tự gồm chữ, số và các dấu . / -" in html
    assert re.search(
        r'<input[^>]*aria-describedby="dossier_code-hint"[^>]*name="dossier_code"', html
    )
    status, page = _answer(_phone(app), coded_site.token)
    assert status == 422
    assert "Vui lòng nhập đúng mã hồ sơ" in page
    for bad in ("12", "'; DROP TABLE responses; --", "x" * 41):
        assert _answer(_phone(app), coded_site.token, dossier_code=bad)[0] == 422
    assert _statuses(app) == []


def test_each_dossier_code_answers_once_and_is_stored_only_as_a_keyed_hash(
    app: Flask, coded_site: Site
) -> None:
    code = "000.00.12.H13-261123-0042"
    assert _answer(_phone(app), coded_site.token, dossier_code=code)[0] == 303
    status, html = _answer(_phone(app), coded_site.token, dossier_code=f"  {code.lower()} ")
    assert status == 422
    assert "Mã hồ sơ này đã được dùng" in html
    assert [s for s, _ in _statuses(app)] == ["counted"]
    with app.app_context():
        [stored] = db.session.scalars(select(DossierCodeUse.code_hash)).all()
        assert code not in stored and len(stored) == 64
        # Nothing anywhere in the database holds the code in clear.
        dump = " ".join(
            str(row)
            for table in ("responses", "answers", "dossier_code_uses", "audit_events")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        )
        assert "H13-261123-0042" not in dump.upper()
    # A different code answers normally.
    assert (
        _answer(_phone(app), coded_site.token, dossier_code="000.00.12.H13-261123-0043")[0] == 303
    )


def test_a_dossier_code_raced_by_two_phones_stores_one_response_whole(
    app: Flask, coded_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both phones pass the "already used?" check before either is stored: the database's unique
    # code decides, and the loser's response must not stay behind without its code.
    from survey.services.responses import recording as responses

    real = responses.dossier_code_used
    checks: list[int] = []

    def checked_before_the_other_stored(round_id: int, code_hash: str) -> bool:
        checks.append(round_id)
        return False if len(checks) <= 2 else real(round_id, code_hash)

    monkeypatch.setattr(responses, "dossier_code_used", checked_before_the_other_stored)
    code = "000.00.12.H13-261123-0077"
    assert _answer(_phone(app), coded_site.token, dossier_code=code)[0] == 303
    status, html = _answer(_phone(app, "14.160.0.9"), coded_site.token, dossier_code=code)
    assert status == 422 and "Mã hồ sơ này đã được dùng" in html
    assert len(checks) == 3  # the loser was told by the database, not by the first check
    assert [s for s, _ in _statuses(app)] == ["counted"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DossierCodeUse)) == 1


def test_dossier_code_field_is_refused_where_the_desk_does_not_ask(app: Flask) -> None:
    site = _site(app)
    assert _answer(_phone(app), site.token, dossier_code="ABCD-1234")[0] == 400


REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_rate_limits_are_shared_through_redis_between_app_servers(
    app_factory: Callable[..., Flask],
) -> None:
    if not _redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 in CI")
        pytest.skip("Redis is not running on 127.0.0.1:6379 (start redis-server to run this)")
    config = {
        "SECRET_KEY": "shared-secret",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        # A fresh key prefix per run, so earlier runs' counts do not leak in.
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    first, second = app_factory(**config), app_factory(**config)
    site = _site(first, desk_limit_per_hour=2)
    assert _answer(_phone(first, "1.1.1.1"), site.token)[0] == 303
    assert _answer(_phone(second, "1.1.2.1"), site.token)[0] == 303
    assert _answer(_phone(first, "1.1.3.1"), site.token)[0] == 429
    assert _answer(_phone(second, "1.1.4.1"), site.token)[0] == 429
    with first.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 2
        assert db.session.get(Round, site.round_id) is not None
    # The network's limit is counted there too, apart from the desk's: a phone on the same
    # network at the round's other desk is refused, one on another network is not.
    with first.app_context():
        db.session.get_one(Round, site.round_id).desk_limit_per_hour = 100
        db.session.get_one(Round, site.round_id).network_limit_per_hour = 2
        db.session.commit()
    assert _answer(_phone(first, "1.1.1.9"), site.second_token)[0] == 303
    assert _answer(_phone(second, "1.1.1.10"), site.second_token)[0] == 303
    assert _answer(_phone(first, "1.1.1.11"), site.second_token)[0] == 429
    assert _answer(_phone(second, "1.1.9.1"), site.second_token)[0] == 303


# Nothing listens on port 1: what a Redis outage looks like to the app.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def test_a_redis_outage_refuses_no_citizen_and_the_limits_still_hold(
    app_factory: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = app_factory(RATELIMIT_STORAGE_URI=UNREACHABLE_REDIS)
    site = _site(app, desk_limit_per_hour=2)
    assert _answer(_phone(app, "1.1.1.1"), site.token)[0] == 303
    assert _answer(_phone(app, "1.1.2.1"), site.token)[0] == 303
    # Counted in this server's memory meanwhile: the desk's limit still refuses the third.
    status, html = _answer(_phone(app, "1.1.3.1"), site.token)
    assert status == 429 and "Traceback" not in html
    assert [s for s, _ in _statuses(app)] == ["counted", "counted"]
    assert "rate-limit storage unreachable" in caplog.text


def test_limits_counted_in_redis_end_with_their_hour(app_factory: Callable[..., Flask]) -> None:
    """A counter without its expiry would keep a busy desk refused for good."""
    if not _redis_available():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 in CI")
        pytest.skip("Redis is not running on 127.0.0.1:6379 (start redis-server to run this)")
    prefix = f"test-{uuid.uuid4().hex}"
    app = app_factory(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix)
    site = _site(app, desk_limit_per_hour=5)
    for network in ("1.1.1.1", "1.1.2.1"):
        assert _answer(_phone(app, network), site.token)[0] == 303
    server = redis.Redis.from_url(REDIS_URL)
    keys = server.keys(f"*{prefix}*")
    desk = [k for k in keys if b"submit-desk" in k]
    networks = [k for k in keys if b"submit-net" in k]
    assert len(desk) == 1 and len(networks) == 2
    assert int(server.get(desk[0]) or 0) == 2  # both submissions counted at the desk
    for key in keys:
        assert 3500 < server.ttl(key) <= 3600  # each counter ends with the hour it counts
    server.delete(*keys)
