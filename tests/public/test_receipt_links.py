"""Receipt links (issue 22, point 2): the signed dossier code on a receipt's QR."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from survey.extensions import db
from survey.models import Desk, DossierCodeUse
from survey.services.responses.abuse import dossier_code_hash
from survey.services.responses.receipt_links import receipt_key, receipt_query
from tests.public.test_abuse import Site, _phone, _site, _statuses
from tests.public.test_answer import valid_answers

CODE = "000.00.12.H13-261123-0042"


@pytest.fixture
def coded_site(app: Flask) -> Site:
    site = _site(app)
    with app.app_context():
        for desk in db.session.scalars(select(Desk)):
            desk.requires_dossier_code = True
        db.session.commit()
    return site


def _link(app: Flask, token: str, code: str = CODE, exp: int | None = None) -> str:
    with app.app_context():
        return f"/r/{token}?{receipt_query(receipt_key(), token, code, exp)}&area=HT"


def _open(client: FlaskClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _submit(client: FlaskClient, html: str, **changes: object) -> tuple[int, str]:
    action = re.search(r'<form method="post" action="([^"]*)"', html)
    assert action
    data = valid_answers(html) | changes
    page = client.post(action.group(1).replace("&amp;", "&"), data=data)
    return page.status_code, page.get_data(as_text=True)


def _stored_hashes(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(DossierCodeUse.code_hash)))


def test_a_valid_link_fills_and_locks_the_code_and_the_citizen_types_nothing(
    app: Flask, coded_site: Site
) -> None:
    phone = _phone(app)
    html = _open(phone, _link(app, coded_site.token))
    assert re.search(rf'<input[^>]*name="dossier_code"[^>]*readonly[^>]*value="{CODE}"', html) or (
        re.search(rf'<input[^>]*readonly[^>]*name="dossier_code"[^>]*value="{CODE}"', html)
    )
    # The citizen sends the form without the code field at all: the link carries it.
    status, _ = _submit(phone, html, dossier_code="")
    assert status == 303
    assert [s for s, _ in _statuses(app)] == ["counted"]
    with app.app_context():
        assert _stored_hashes(app) == [dossier_code_hash(CODE)]


def test_a_crafted_post_cannot_change_the_signed_code(app: Flask, coded_site: Site) -> None:
    phone = _phone(app)
    html = _open(phone, _link(app, coded_site.token))
    assert _submit(phone, html, dossier_code="999.99.99.X99-000000-0001")[0] == 303
    with app.app_context():
        assert _stored_hashes(app) == [dossier_code_hash(CODE)]


def test_a_replayed_link_is_refused_by_the_one_answer_per_code_rule(
    app: Flask, coded_site: Site
) -> None:
    url = _link(app, coded_site.token)
    first = _phone(app)
    assert _submit(first, _open(first, url))[0] == 303
    phone = _phone(app, "14.160.0.9")
    # Said on opening, before the citizen answers anything; the code is not locked in.
    html = _open(phone, url)
    assert "đã được đánh giá trong đợt khảo sát này" in html
    assert not re.search(r'<input[^>]*readonly[^>]*name="dossier_code"', html)
    # Replaying the signed link on the POST itself is refused by the one-answer rule.
    post = phone.post(url.removesuffix("&area=HT"), data=valid_answers(html) | {"dossier_code": ""})
    assert post.status_code == 422 and "Mã hồ sơ này đã được dùng" in post.get_data(as_text=True)
    assert [s for s, _ in _statuses(app)] == ["counted"]


@pytest.mark.parametrize(
    "query",
    [
        {"ma": CODE, "sig": "0" * 64},  # wrong signature
        {"ma": CODE, "sig": "zz"},  # malformed
        {"ma": CODE, "sig": "ab" * 40},  # wrong length
        {"ma": CODE},  # no signature
        {"sig": "0" * 64},  # no code
        {"ma": "000.00.12.H13-261123-0042É", "sig": "0" * 64},  # non-ASCII
        {"ma": "Ａ" * 10, "sig": "0" * 64},  # full-width letters
        {"ma": "A" * 500, "sig": "0" * 64},  # far too long
        {"ma": CODE, "exp": "soon", "sig": "0" * 64},
        {"ma": CODE, "exp": "9" * 40, "sig": "0" * 64},
    ],
)
def test_a_tampered_or_malformed_link_says_so_calmly_and_lets_the_citizen_answer(
    app: Flask, coded_site: Site, query: dict[str, str]
) -> None:
    phone = _phone(app)
    html = _open(phone, f"/r/{coded_site.token}?{urlencode(query | {'area': 'HT'})}")
    assert "Không đọc được mã hồ sơ từ đường dẫn này" in html
    assert not re.search(r'<input[^>]*readonly[^>]*name="dossier_code"', html)
    # The same crafted query on the form's POST is ignored; the typed code is used.
    typed = "000.00.12.H13-261123-0099"
    post = phone.post(
        f"/r/{coded_site.token}?{urlencode(query)}",
        data=valid_answers(html) | {"dossier_code": typed},
    )
    assert post.status_code == 303
    with app.app_context():
        assert _stored_hashes(app) == [dossier_code_hash(typed)]


def test_a_link_for_another_code_or_desk_is_refused(app: Flask, coded_site: Site) -> None:
    url = _link(app, coded_site.token).replace("0042", "0043")
    assert "Không đọc được mã hồ sơ" in _open(_phone(app), url)
    other = _link(app, coded_site.token).replace(coded_site.token, coded_site.second_token)
    assert "Không đọc được mã hồ sơ" in _open(_phone(app), other)


def test_an_expired_link_says_so_and_the_citizen_may_type_the_code(
    app: Flask, coded_site: Site
) -> None:
    html = _open(_phone(app), _link(app, coded_site.token, exp=int(time.time()) - 60))
    assert "Đường dẫn trên giấy biên nhận đã hết hạn" in html
    live = _open(_phone(app), _link(app, coded_site.token, exp=int(time.time()) + 3600))
    assert f'value="{CODE}"' in live and "hết hạn" not in live


def test_the_raw_code_is_never_stored(app: Flask, coded_site: Site) -> None:
    phone = _phone(app)
    assert _submit(phone, _open(phone, _link(app, coded_site.token)))[0] == 303
    with app.app_context():
        dump = " ".join(
            str(row)
            for table in ("responses", "answers", "dossier_code_uses", "audit_events")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        )
    assert "H13-261123-0042" not in dump.upper()


def test_the_documented_worked_example_recomputes_independently() -> None:
    """docs/receipt-links.md's example, recomputed here with hmac/hashlib alone."""
    text_ = (Path(__file__).resolve().parents[2] / "docs" / "receipt-links.md").read_text("utf-8")
    key = re.search(r"^key: `([^`]+)`", text_, re.M)
    token = re.search(r"^desk token: `([^`]+)`", text_, re.M)
    code = re.search(r"^dossier code: `([^`]+)`", text_, re.M)
    exp = re.search(r"^exp: `([0-9]+)`", text_, re.M)
    sig = re.search(r"^signature: `([0-9a-f]{64})`", text_, re.M)
    assert key and token and code and exp and sig
    message = f"hailong-receipt-v1\n{token[1]}\n{code[1]}\n{exp[1]}".encode("ascii")
    assert hmac.new(key[1].encode(), message, hashlib.sha256).hexdigest() == sig[1]
    assert f"sig={sig[1]}" in text_


def test_the_receipt_link_pages_stay_under_30_kb_compressed(app: Flask, coded_site: Site) -> None:
    from tests.public.test_page_weight import BUDGET, weight

    phone = _phone(app)
    for url in (_link(app, coded_site.token), _link(app, coded_site.token).replace("0042", "1")):
        page = phone.get(url)
        size, assets = weight(phone, page.data)
        print(f"\nreceipt link page: {size} bytes compressed with {len(assets)} assets")
        assert size <= BUDGET


def test_the_command_prints_the_link_and_writes_its_qr(
    app: Flask, coded_site: Site, tmp_path: Path
) -> None:
    png = f"{tmp_path}/receipt.png"
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["receipt-link", "--desk", coded_site.token, "--code", CODE, "--png", png]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        expected = receipt_query(receipt_key(), coded_site.token, CODE)
    assert result.output.strip().endswith(f"/r/{coded_site.token}?{expected}")
    with open(png, "rb") as written:
        assert written.read(4) == b"\x89PNG"
    for args, says in (
        (["--desk", "nope", "--code", CODE], "no desk has this token"),
        (["--desk", coded_site.token, "--code", "12"], "not a dossier code"),
    ):
        failed = runner.invoke(args=["receipt-link", *args])
        assert failed.exit_code != 0 and says in failed.output


def test_at_a_desk_of_several_areas_the_code_survives_the_area_choice(app: Flask) -> None:
    from tests.factories import make_area, make_desk, make_round, make_unit

    with app.app_context():
        civil, land = make_area("HT", "Hộ tịch", "Civil status"), make_area("DD", "Đất đai", "Land")
        unit = make_unit("TT", "Trung tâm Phục vụ hành chính công tỉnh", [civil, land])
        desk = make_desk(unit)
        desk.requires_dossier_code = True
        make_round([unit])
        db.session.commit()
        token = desk.token
    phone = _phone(app)
    choice = _open(phone, _link(app, token).removesuffix("&area=HT"))
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', choice))
    assert hidden["ma"] == CODE and len(hidden["sig"]) == 64
    html = _open(phone, f"/r/{token}?{urlencode(hidden | {'area': 'DD'})}")
    assert re.search(rf'<input[^>]*readonly[^>]*value="{CODE}"', html) or re.search(
        rf'<input[^>]*value="{CODE}"[^>]*readonly', html
    )
    assert _submit(phone, html, dossier_code="")[0] == 303
    with app.app_context():
        assert _stored_hashes(app) == [dossier_code_hash(CODE)]
