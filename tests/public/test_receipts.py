"""Receipt links: the dossier code travels signed in the QR on the receipt
(docs/receipt-links.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Desk, DossierCodeUse, Response
from survey.services.responses.abuse import dossier_code_hash
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_answer import World, hidden, valid_answers

KEY = "test-receipt-key-0123456789abcdefghijklmnop"
CODE = "000.00.12.H01-250301-0001"


@pytest.fixture
def world(app: Flask) -> World:
    """A desk serving two areas and one serving one, of a unit in an open round; neither asks
    for dossier codes by itself."""
    with app.app_context():
        civil = make_area("HT", "Hộ tịch", "Civil status")
        land = make_area("DD", "Đất đai", "Land")
        unit = make_unit("STP", "Sở Tư pháp", [civil, land])
        desk = make_desk(unit)
        single = make_desk(unit, "STP-Q2", areas=[land])
        other = make_unit("XPL", "UBND xã Phú Lộc", [civil])
        other_desk = make_desk(other)
        round_ = make_round([unit, other])
        db.session.commit()
        return World(desk.token, single.token, other_desk.id, other.id, round_.id)


@pytest.fixture
def app_config(app: Flask) -> Flask:
    app.config["RECEIPT_KEY"] = KEY
    return app


def _independent_signature(key: str, token: str, code: str) -> str:
    """The scheme as docs/receipt-links.md states it, written here without the product's code."""
    mac = hmac.new(key.encode(), f"hl1:{token}:{code}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _link(app: Flask, token: str, code: str = CODE) -> str:
    result = app.test_cli_runner().invoke(
        args=["receipt-link", "--desk", token, "--code", code.lower().replace("-", " - ", 1)]
    )
    assert result.exit_code == 0, result.output
    return result.output.strip().split("\t")[1]


def _responses() -> int:
    return db.session.scalar(select(func.count(Response.id))) or 0


def test_the_documented_example_and_the_command_sign_as_the_scheme_says(
    app_config: Flask,
    world: World,
) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "receipt-links.md").read_text()
    example = _independent_signature("example-receipt-key", "ExampleDeskToken", CODE)
    assert f"ky={example}" in doc
    link = _link(app_config, world.single_token)
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == f"/r/{world.single_token}"
    assert query["ma"] == [CODE]  # the code as kept: upper case, no spaces
    assert query["ky"] == [_independent_signature(KEY, world.single_token, CODE)]


def test_a_receipt_link_fills_and_locks_the_code_and_the_answer_counts_once(
    app_config: Flask,
    client: FlaskClient,
    world: World,
) -> None:
    link = _link(app_config, world.single_token)
    page = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    field = re.search(r'<input[^>]*name="dossier_code"[^>]*>', html)
    assert field and "readonly" in field.group(0) and f'value="{CODE}"' in field.group(0)
    assert "không cần nhập" in html
    data = valid_answers(html) | {"dossier_code": CODE, "ky": hidden(html, "ky")}
    sent = client.post(f"/r/{world.single_token}", data=data)
    assert sent.status_code == 303
    with app_config.app_context():
        assert _responses() == 1
        stored = db.session.scalars(select(DossierCodeUse)).one()
        assert stored.code_hash == dossier_code_hash(CODE)
        assert CODE not in repr(stored.__dict__)
    again = client.get(urlsplit(link).path + "?" + urlsplit(link).query).get_data(as_text=True)
    data = valid_answers(again) | {"dossier_code": CODE, "ky": hidden(again, "ky")}
    second = client.post(f"/r/{world.single_token}", data=data)
    assert second.status_code == 422
    assert "đã được dùng" in second.get_data(as_text=True)
    with app_config.app_context():
        assert _responses() == 1


@pytest.mark.parametrize(
    "query",
    [
        f"ma=000.00.12.H01-250301-0002&ky={'A' * 43}",  # another code, a made-up signature
        "ma=" + CODE + "&ky=short",
        "ma=%E2%80%AE" + CODE + "&ky=" + "x" * 43,
        "ma=" + "9" * 500 + "&ky=" + "x" * 43,
        "ky=" + "x" * 43,
        "ma=" + CODE,
    ],
)
def test_an_altered_or_broken_link_says_so_and_the_citizen_can_still_answer(
    app_config: Flask,
    client: FlaskClient,
    world: World,
    query: str,
) -> None:
    page = client.get(f"/r/{world.single_token}?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "không đọc được hoặc đã bị sửa" in html
    assert 'name="dossier_code"' not in html  # this desk does not ask for codes itself
    sent = client.post(f"/r/{world.single_token}", data=valid_answers(html))
    assert sent.status_code == 303
    with app_config.app_context():
        assert _responses() == 1
        assert db.session.scalar(select(func.count()).select_from(DossierCodeUse)) == 0


def test_a_form_sent_with_another_code_than_its_link_stores_nothing(
    app_config: Flask,
    client: FlaskClient,
    world: World,
) -> None:
    link = _link(app_config, world.single_token)
    html = client.get(urlsplit(link).path + "?" + urlsplit(link).query).get_data(as_text=True)
    forged = valid_answers(html) | {
        "dossier_code": "000.00.12.H01-250301-9999",
        "ky": hidden(html, "ky"),
    }
    sent = client.post(f"/r/{world.single_token}", data=forged)
    assert sent.status_code == 422
    assert "không đọc được hoặc đã bị sửa" in sent.get_data(as_text=True)
    # Another desk's link does not open this desk either.
    other = client.post(
        f"/r/{world.token}",
        data=valid_answers(html) | {"dossier_code": CODE, "ky": hidden(html, "ky"), "area": "DD"},
    )
    assert other.status_code in (400, 422)
    with app_config.app_context():
        assert _responses() == 0


def test_a_desk_with_several_areas_keeps_the_code_through_the_area_choice(
    app_config: Flask,
    client: FlaskClient,
    world: World,
) -> None:
    link = _link(app_config, world.token)
    choose = client.get(urlsplit(link).path + "?" + urlsplit(link).query).get_data(as_text=True)
    assert f'name="ma" type="hidden" value="{CODE}"' in choose and 'name="ky"' in choose
    query = urlsplit(link).query + "&area=HT"
    html = client.get(f"/r/{world.token}?{query}").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="dossier_code"[^>]*readonly', html)


def test_the_command_refuses_bad_codes_and_unknown_desks(
    app_config: Flask,
    world: World,
    tmp_path: Path,
) -> None:
    runner = app_config.test_cli_runner()
    with app_config.app_context():
        desk_code = db.session.scalars(
            select(Desk.code).where(Desk.token == world.single_token)
        ).one()
    done = runner.invoke(
        args=[
            "receipt-link",
            "--desk",
            desk_code,
            "--code",
            CODE,
            "--code",
            "x",
            "--qr",
            str(tmp_path),
        ]
    )
    assert done.exit_code == 1
    assert CODE in done.output and "line 2: 'x': not a dossier code" in done.output
    assert (tmp_path / "receipt-00001.png").read_bytes().startswith(b"\x89PNG")
    unknown = runner.invoke(args=["receipt-link", "--desk", "NO-SUCH-DESK", "--code", CODE])
    assert unknown.exit_code == 1 and "no active desk" in unknown.output
    assert runner.invoke(args=["receipt-link", "--desk", desk_code]).exit_code == 2
