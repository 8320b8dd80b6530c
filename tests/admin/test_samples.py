"""A sampled round through the console: convert, import the frame, draw, download."""

from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import Invitation, RoundState
from tests.admin.conftest import Staff, csrf_token, login
from tests.factories import make_round

FRAME = "ma_don_vi,ma_linh_vuc,ma_ho_so,ngay_hoan_thanh\n" + "".join(
    f"{unit},HT,000.00.{unit}.H-{i:05d},2026-03-{1 + i % 28:02d}\n"
    for unit in ("U01", "U02")
    for i in range(15)
)


def _draft_round(app: Flask, staff: Staff) -> int:
    with app.app_context():
        from survey.models import Unit

        units = [db.session.get(Unit, staff.unit_id), db.session.get(Unit, staff.other_unit_id)]
        round_ = make_round([u for u in units if u is not None], state=RoundState.DRAFT)
        db.session.commit()
        return round_.id


def test_an_admin_runs_a_sampled_round_from_frame_to_letters(
    app: Flask, client: FlaskClient, staff: Staff
) -> None:
    rid = _draft_round(app, staff)
    login(client, "admin")
    page = f"/admin/rounds/{rid}/sample"
    assert "Chuyển thành đợt chọn mẫu" in client.get(page).get_data(as_text=True)
    token = csrf_token(client, page)
    assert client.post(f"{page}/kind", data={"csrf_token": token}).status_code == 422
    assert (
        client.post(f"{page}/kind", data={"csrf_token": token, "confirm": "y"}).status_code == 303
    )

    bad = FRAME + "U09,HT,000.00.X-1,2026-03-01\n"
    answer = client.post(
        f"{page}/frame",
        data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "khung.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "Không có đơn vị mã U09" in answer.get_data(as_text=True)
    answer = client.post(
        f"{page}/frame",
        data={"csrf_token": token, "file": (io.BytesIO(FRAME.encode()), "khung.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    assert "30 hồ sơ" in client.get(page).get_data(as_text=True)

    draw = {"csrf_token": token, "allocation": "equal", "total": "40", "minimum": "0"}
    assert client.post(f"{page}/draw", data=draw).status_code == 422  # no confirmation
    answer = client.post(f"{page}/draw", data=draw | {"confirm": "y"})
    assert answer.status_code == 422  # 40 > 30 dossiers
    assert "exceeds the frame size" in answer.get_data(as_text=True)
    answer = client.post(f"{page}/draw", data=draw | {"confirm": "y", "total": "8"})
    assert answer.status_code == 303
    with app.app_context():
        assert len(db.session.query(Invitation).all()) == 8

    letters = client.get(f"{page}/letters.pdf")
    assert letters.status_code == 200 and letters.data.startswith(b"%PDF")
    listing = client.get(f"{page}/delivery.csv")
    assert listing.status_code == 200 and listing.data.decode("utf-8-sig").count("\n") == 9

    outcome = {"csrf_token": token, "state": "refused"}
    answer = client.post(f"{page}/outcome", data=outcome | {"reference": f"{rid}-99999"})
    assert answer.status_code == 422
    assert "Không có thư mời số" in answer.get_data(as_text=True)
    answer = client.post(f"{page}/outcome", data=outcome | {"reference": f"{rid}-00001"})
    assert answer.status_code == 303
    bare = outcome | {"reference": f"{rid}-00002", "state": "answered"}
    assert client.post(f"{page}/outcome", data=bare).status_code == 422  # not a choice
    with app.app_context():
        states = sorted(i.state for i in db.session.query(Invitation).all())
        assert states == ["issued"] * 7 + ["refused"]
    assert "RR1" in client.get(page).get_data(as_text=True)


def test_only_admins_reach_the_sample_pages(app: Flask, client: FlaskClient, staff: Staff) -> None:
    rid = _draft_round(app, staff)
    for role in ("officer", "analyst"):
        login(client, role)
        assert client.get(f"/admin/rounds/{rid}/sample").status_code == 403
        assert client.get(f"/admin/rounds/{rid}/sample/letters.pdf").status_code == 403
        client.post("/admin/logout", data={"csrf_token": csrf_token(client)})
