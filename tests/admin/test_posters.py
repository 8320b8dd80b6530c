"""QR posters through the console and ``flask posters``: who may print what, PDFs with one page
per desk whose QR codes scan to the desks' links, and old posters dying with their tokens."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pypdfium2
import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from pypdf import PdfReader

from survey.extensions import db
from survey.models import Desk, Unit, utcnow
from survey.models.org import new_desk_token
from tests.admin.conftest import Staff, login
from tests.factories import make_area, make_unit
from tests.helpers.rounds import round_over

BASE = "https://hailong.example.gov.vn"


@dataclass(frozen=True)
class Org:
    """The staff fixture's units, with desks enough to tell posters apart."""

    staff: Staff
    round_id: int  # over U01, U01A and U02
    other_round_id: int  # over U02 only
    desks: dict[str, int]  # desk code -> id
    empty_unit_id: int  # a unit of the officer's subtree without desks


def _desk(unit_id: int, code: str, name: str, *, active: bool = True) -> int:
    unit = db.session.get(Unit, unit_id)
    assert unit is not None
    desk = Desk(unit=unit, code=code, name=name, is_active=active)
    db.session.add(desk)
    db.session.flush()
    return desk.id


@pytest.fixture
def org(app: Flask, staff: Staff) -> Org:
    # The public address, with the trailing slash an administrator might type.
    app.config["PUBLIC_BASE_URL"] = BASE + "/"
    with app.app_context():
        existing = {d.code: d.id for d in db.session.query(Desk)}  # U01-Q1 and U02-Q1
        desks = {
            "U01-Q1": existing["U01-Q1"],
            "U01-Q2": _desk(staff.unit_id, "U01-Q2", "Quầy số 2 — Đất đai"),
            "U01-Q9": _desk(staff.unit_id, "U01-Q9", "Quầy đã đóng", active=False),
            "U01A-Q1": _desk(staff.sub_unit_id, "U01A-Q1", "Quầy tiếp đón"),
            "U02-Q1": existing["U02-Q1"],
        }
        parent = db.session.get(Unit, staff.unit_id)
        empty = make_unit(
            "U01B", "Trường tiểu học Bình Minh", [make_area("GD", "Giáo dục")], parent
        )
        db.session.commit()
        round_id = round_over([staff.unit_id, staff.sub_unit_id, staff.other_unit_id], now=utcnow())
        other_round_id = round_over([staff.other_unit_id], now=utcnow(), name="Đợt của xã")
        return Org(staff, round_id, other_round_id, desks, empty.id)


def _token(app: Flask, desk_id: int) -> str:
    with app.app_context():
        desk = db.session.get(Desk, desk_id)
        assert desk is not None
        return desk.token


def _url(app: Flask, desk_id: int) -> str:
    return f"{BASE}/r/{_token(app, desk_id)}"


def _pages(pdf: bytes) -> list[tuple[str, str]]:
    """Each page's decoded QR code and its text."""
    texts = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    document = pypdfium2.PdfDocument(pdf)
    codes = []
    for page in document:
        results = zxingcpp.read_barcodes(page.render(scale=1.5).to_pil())
        assert len(results) == 1, "one QR code a page"
        codes.append(results[0].text)
    document.close()
    return list(zip(codes, texts, strict=True))


# --- who may print what ------------------------------------------------------------------------

ROUTES = [
    # (url, admin, officer): analysts get 403 everywhere, anonymous visitors the login page.
    ("/admin/posters", 200, 200),
    ("/admin/posters/units/{U01}", 200, 200),
    ("/admin/posters/units/{U01A}", 200, 200),
    ("/admin/posters/units/{U02}", 200, 403),
    ("/admin/posters/desks/{d:U01-Q1}/qr.png", 200, 200),
    ("/admin/posters/desks/{d:U01A-Q1}/qr.svg", 200, 200),
    ("/admin/posters/desks/{d:U02-Q1}/qr.png", 200, 403),
    ("/admin/posters/desks/{d:U02-Q1}/qr.svg", 200, 403),
    ("/admin/posters/desks/{d:U01-Q1}/poster.pdf", 200, 200),
    ("/admin/posters/desks/{d:U02-Q1}/poster.pdf?size=A5", 200, 403),
    ("/admin/posters/units/{U01}/posters.pdf", 200, 200),
    ("/admin/posters/units/{U02}/posters.pdf", 200, 403),
    ("/admin/posters/rounds/{round}/posters.pdf", 200, 200),
    ("/admin/posters/rounds/{other_round}/posters.pdf", 200, 403),
]


def _fill(url: str, org: Org) -> str:
    s = org.staff
    for code, desk_id in org.desks.items():
        url = url.replace("{d:" + code + "}", str(desk_id))
    return url.format(
        U01=s.unit_id,
        U01A=s.sub_unit_id,
        U02=s.other_unit_id,
        round=org.round_id,
        other_round=org.other_round_id,
        empty=org.empty_unit_id,
    )


@pytest.mark.parametrize(("url", "admin", "officer"), ROUTES)
@pytest.mark.parametrize("role", ["anonymous", "analyst", "officer", "admin"])
def test_poster_routes_by_role(
    client: FlaskClient, org: Org, role: str, url: str, admin: int, officer: int
) -> None:
    url = _fill(url, org)
    if role == "anonymous":
        answer = client.get(url)
        assert answer.status_code == 302
        assert "/admin/login" in answer.headers["Location"]
        return
    login(client, role)
    expected = {"admin": admin, "officer": officer, "analyst": 403}[role]
    answer = client.get(url)
    assert answer.status_code == expected, answer.get_data(as_text=True)[:300]
    if expected == 403:
        assert b"%PDF" not in answer.data and b"PNG" not in answer.data[:8]


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/admin/posters/desks/999999/qr.png", 404, "Không tìm thấy quầy."),
        # Past what an id column holds: no such page (the route itself does not match).
        ("/admin/posters/desks/99999999999999/poster.pdf", 404, "Không tìm thấy trang"),
        ("/admin/posters/units/999999/posters.pdf", 404, "Không tìm thấy đơn vị."),
        ("/admin/posters/units/99999999999999", 404, "Không tìm thấy trang"),
        ("/admin/posters/rounds/999999/posters.pdf", 404, "Không tìm thấy đợt khảo sát."),
        ("/admin/posters/rounds/{round}/posters.pdf?size=A3", 400, "Khổ giấy phải là A4 hoặc A5."),
        ("/admin/posters/desks/{d:U01-Q1}/poster.pdf?size=<b>", 400, "A4 hoặc A5"),
        ("/admin/posters/units/{U01}/posters.pdf?subunits=yes", 400, "Yêu cầu không hợp lệ."),
        ("/admin/posters/desks/{d:U01-Q9}/qr.png", 409, "đã ngừng hoạt động"),
        ("/admin/posters/units/{empty}/posters.pdf", 409, "chưa có quầy nào"),
        ("/admin/posters/desks/-1/qr.png", 404, ""),
    ],
)
def test_bad_requests_get_a_page_that_says_why(
    client: FlaskClient, org: Org, url: str, status: int, says: str
) -> None:
    login(client, "admin")
    answer = client.get(_fill(url, org))
    assert answer.status_code == status
    assert answer.mimetype == "text/html"
    assert says in answer.get_data(as_text=True)


# --- what is printed ---------------------------------------------------------------------------


def test_round_pdf_has_one_page_per_active_desk_whose_code_scans_to_it(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    login(client, "admin")
    answer = client.get(f"/admin/posters/rounds/{org.round_id}/posters.pdf?size=a5")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert f"posters-round-{org.round_id}-A5.pdf" in answer.headers["Content-Disposition"]
    pages = _pages(answer.data)
    # By unit code, then desk code; the closed desk and the desk-less unit print nothing.
    expected = ["U01-Q1", "U01-Q2", "U01A-Q1", "U02-Q1"]
    assert [code for code, _ in pages] == [_url(app, org.desks[c]) for c in expected]
    names = [
        ("UBND phường Bình Minh", "Quầy số 1"),
        ("UBND phường Bình Minh", "Quầy số 2 — Đất đai"),
        ("Trạm y tế phường Bình Minh", "Quầy tiếp đón"),
        ("UBND xã Phú Lộc", "Quầy số 1"),
    ]
    for (url, text), (unit, desk) in zip(pages, names, strict=True):
        assert unit in text and desk in text
        assert "Mời Ông/Bà quét mã để đánh giá sự hài lòng" in text
        assert url in text.replace("\n", "")
        assert "Lĩnh vực: Hộ tịch" in text


def test_officer_prints_only_their_subtree_of_a_shared_round(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    login(client, "officer")
    pdf = client.get(f"/admin/posters/rounds/{org.round_id}/posters.pdf").data
    assert [code for code, _ in _pages(pdf)] == [
        _url(app, org.desks[c]) for c in ("U01-Q1", "U01-Q2", "U01A-Q1")
    ]


def test_unit_pdf_with_and_without_sub_units(app: Flask, client: FlaskClient, org: Org) -> None:
    login(client, "officer")
    unit = org.staff.unit_id
    whole = _pages(client.get(f"/admin/posters/units/{unit}/posters.pdf").data)
    alone = _pages(client.get(f"/admin/posters/units/{unit}/posters.pdf?subunits=0").data)
    assert len(whole) == 3
    assert [code for code, _ in alone] == [_url(app, org.desks[c]) for c in ("U01-Q1", "U01-Q2")]


def test_desk_png_svg_and_poster_carry_the_configured_address_not_the_request_host(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    # Behind a proxy the console is reached under another name: it must not leak into codes.
    client.environ_base.update(HTTP_HOST="10.0.0.7:8000", HTTP_X_FORWARDED_HOST="intranet.example")
    login(client, "officer")
    desk_id = org.desks["U01-Q2"]
    expected = _url(app, desk_id)
    png = client.get(f"/admin/posters/desks/{desk_id}/qr.png")
    assert png.mimetype == "image/png"
    assert png.headers["Content-Disposition"] == 'attachment; filename="qr-U01-Q2.png"'
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))] == [expected]

    svg = client.get(f"/admin/posters/desks/{desk_id}/qr.svg")
    assert svg.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(svg.data)  # noqa: S314  (our own output)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"

    poster = client.get(f"/admin/posters/desks/{desk_id}/poster.pdf")
    assert poster.headers["Content-Disposition"] == 'inline; filename="poster-U01-Q2-A4.pdf"'
    ((code, text),) = _pages(poster.data)
    assert code == expected
    assert "10.0.0.7" not in text and "intranet" not in text


def test_regenerated_token_makes_old_posters_lead_to_the_not_valid_page(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    login(client, "admin")
    desk_id = org.desks["U01-Q1"]
    old_pdf = client.get(f"/admin/posters/desks/{desk_id}/poster.pdf").data
    ((old_url, _),) = _pages(old_pdf)
    citizen = app.test_client()
    assert citizen.get(urlsplit(old_url).path).status_code == 200

    with app.app_context():
        desk = db.session.get(Desk, desk_id)
        assert desk is not None
        desk.token = new_desk_token()
        db.session.commit()

    stale = citizen.get(urlsplit(old_url).path)
    assert stale.status_code == 404
    assert "mã này có thể đã hết hiệu lực" in stale.get_data(as_text=True)
    ((new_url, _),) = _pages(client.get(f"/admin/posters/desks/{desk_id}/poster.pdf").data)
    assert new_url != old_url
    assert citizen.get(urlsplit(new_url).path).status_code == 200


# --- the posters page ----------------------------------------------------------------------------


def test_page_lists_what_the_officer_may_print_with_desk_counts(
    client: FlaskClient, org: Org
) -> None:
    login(client, "officer")
    page = client.get("/admin/posters").get_data(as_text=True)
    assert "Đợt thử" in page and "Đợt của xã" not in page
    assert "UBND phường Bình Minh" in page and "Trạm y tế phường Bình Minh" in page
    assert "UBND xã Phú Lộc" not in page
    assert f"/admin/posters/rounds/{org.round_id}/posters.pdf?size=A5" in page
    assert f"/admin/posters/rounds/{org.other_round_id}/" not in page
    # A search without diacritics finds the unit with them; nothing found says so.
    found = client.get("/admin/posters?q=tram+y+te").get_data(as_text=True)
    assert "Trạm y tế phường Bình Minh" in found and "Trường tiểu học" not in found
    none = client.get("/admin/posters?q=Phú+Lộc").get_data(as_text=True)
    assert "Không có đơn vị nào khớp với" in none


def test_unit_page_shows_each_desk_link_and_marks_closed_desks(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    login(client, "admin")
    page = client.get(f"/admin/posters/units/{org.staff.unit_id}").get_data(as_text=True)
    assert _url(app, org.desks["U01A-Q1"]) in page
    assert _url(app, org.desks["U01-Q9"]) not in page
    assert "Ngừng hoạt động: mã QR không dùng được" in page
    empty = client.get(f"/admin/posters/units/{org.empty_unit_id}").get_data(as_text=True)
    assert "chưa có quầy nào" in empty


def test_local_public_address_is_flagged_before_printing(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    login(client, "admin")
    assert "PUBLIC_BASE_URL" not in client.get("/admin/posters").get_data(as_text=True)
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:5000"
    assert "PUBLIC_BASE_URL" in client.get("/admin/posters").get_data(as_text=True)


# --- flask posters -------------------------------------------------------------------------------


def test_command_writes_the_same_pdf_as_the_console(
    app: Flask, client: FlaskClient, org: Org, tmp_path: Path
) -> None:
    login(client, "admin")
    runner = app.test_cli_runner()
    out = tmp_path / "round.pdf"
    result = runner.invoke(
        args=["posters", "--round", str(org.round_id), "--size", "A5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 posters (A5)" in result.output
    assert (
        out.read_bytes()
        == client.get(f"/admin/posters/rounds/{org.round_id}/posters.pdf?size=A5").data
    )

    out = tmp_path / "unit.pdf"
    result = runner.invoke(args=["posters", "--unit", "U01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        out.read_bytes() == client.get(f"/admin/posters/units/{org.staff.unit_id}/posters.pdf").data
    )


def test_command_defaults_to_the_round_opened_last_and_can_narrow_to_a_unit(
    app: Flask, org: Org, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    out = tmp_path / "latest.pdf"
    assert runner.invoke(args=["posters", "--out", str(out)]).exit_code == 0
    # The round opened last is the one over U02 alone.
    assert [code for code, _ in _pages(out.read_bytes())] == [_url(app, org.desks["U02-Q1"])]

    args = ["posters", "--round", str(org.round_id), "--unit", " U01A ", "--out", str(out)]
    assert runner.invoke(args=args).exit_code == 0
    assert [code for code, _ in _pages(out.read_bytes())] == [_url(app, org.desks["U01A-Q1"])]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--round", "999"], "no round with id 999"),
        (["--unit", "NOPE"], "no unit with code 'NOPE'"),
        (["--round", "{other_round}", "--unit", "U01"], "no active desk"),
        (["--unit", "U01B"], "no active desk"),
        (["--size", "A3"], "'A3' is not one of"),
        (["--round", "abc"], "'abc' is not a valid integer"),
        (["--round", "0"], "--round"),
    ],
)
def test_command_refuses_bad_selections_without_a_traceback_or_a_file(
    app: Flask, org: Org, tmp_path: Path, args: list[str], says: str
) -> None:
    folder = tmp_path / "print"
    folder.mkdir()
    out = folder / "posters.pdf"
    args = [a.replace("{other_round}", str(org.other_round_id)) for a in args]
    result = app.test_cli_runner().invoke(args=["posters", *args, "--out", str(out)])
    assert result.exit_code in (1, 2)
    assert says in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert list(folder.iterdir()) == []


def test_command_without_any_round_or_writable_place_says_so(
    app: Flask, staff: Staff, tmp_path: Path
) -> None:
    folder = tmp_path / "print"
    folder.mkdir()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["posters", "--out", str(folder / "x.pdf")])
    assert result.exit_code == 1 and "no round has been opened yet" in result.output
    result = runner.invoke(args=["posters", "--unit", "U01", "--out", str(folder / "no/x.pdf")])
    assert result.exit_code == 1 and "no such directory" in result.output
    assert list(folder.iterdir()) == []
