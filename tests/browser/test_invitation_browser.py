"""A sampled round's letter scanned on a phone (issue 22, points 3 and 7): the invitation's page
passes axe-core and the 44 px touch targets, works without JavaScript, and the answer counts
once with the mode "self_web"."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from survey.extensions import db
from survey.models import Invitation, Response, Unit, utcnow
from survey.services.responses.abuse import server_key
from survey.services.rounds.sampling import draw_sample, import_frame, one_time_code
from tests.browser.conftest import PHONE, World
from tests.helpers.accessibility import check_page

pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need Playwright: pip install -r .ci/requirements-dev.txt",
)

pytestmark = pytest.mark.browser


def _invitation_code(app: Flask) -> str:
    from survey.models import Role
    from survey.services.accounts.users import create_user
    from tests.factories import make_round

    with app.test_request_context():
        key = server_key("DOSSIER_CODE_KEY")
        unit = db.session.scalars(select(Unit).where(Unit.code == "XPL")).one()
        round_ = make_round([unit], name="Đợt chọn mẫu quý I")
        round_.kind = "sample"
        admin = create_user(
            username="admin", password="Sóng-biển-Cần-Thơ-2026-xanh", role=Role.ADMIN, now=utcnow()
        )
        frame = "ma_don_vi,ma_linh_vuc,ma_ho_so,ngay_hoan_thanh\n" + "".join(
            f"XPL,HT,000.00.XPL.HT-{i:05d},2026-03-0{1 + i % 9}\n" for i in range(20)
        )
        import_frame(round_, frame.encode(), key=key, now=utcnow(), actor=admin)
        draw_sample(round_, method="equal", total=5, seed=9, key=key, now=utcnow(), actor=admin)
        db.session.commit()
        invitation = db.session.scalars(
            select(Invitation).where(Invitation.round_id == round_.id).order_by(Invitation.id)
        ).first()
        assert invitation is not None
        code = one_time_code(round_.id, invitation.frame_row.code_hash, key)
        db.session.remove()
    return code


def test_a_letters_qr_link_answered_on_a_phone_without_javascript(
    app: Flask, world: World, browser: Any, phone: Any, axe_source: str
) -> None:
    code = _invitation_code(app)
    context = browser.new_context(java_script_enabled=False, **PHONE)
    try:
        page = context.new_page()
        page.goto(world.url(f"/m/{code}"))
        assert "UBND xã Phú Lộc" in page.inner_text("main")
        assert page.locator("#dossier_code").count() == 0  # nothing to type
        check_page(page, "21-invitation-no-js", axe_source, audit=phone.new_page())
        for question in page.locator("fieldset.question").all():
            options = question.locator("input[type=radio]")
            if options.count():
                options.nth(min(3, options.count() - 1)).check()
        page.get_by_role("button", name="Gửi phiếu").click()
        page.wait_for_url("**/thanks")
        assert "Cảm ơn" in page.inner_text("main")
        page.goto(world.url(f"/m/{code}"))
        assert "đã được trả lời" in page.inner_text("main")
    finally:
        context.close()
    with app.app_context():
        (response,) = db.session.scalars(select(Response)).all()
        assert (response.mode, response.desk_id) == ("self_web", None)
        db.session.remove()
