"""The public results page in a real browser, on a phone and with JavaScript off, in Vietnamese
and English: checked with axe-core (WCAG 2.1 A and AA) and for 44 px touch targets, and
photographed into test-artifacts/browser/; and the console pages of issue 5 (comment moderation,
the public-page switch, API tokens) checked with axe-core on a desktop screen."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from survey.extensions import db
from survey.models import Answer, Desk, Response, Role, Round, RoundState, User, utcnow
from survey.services.accounts.users import create_user
from survey.services.demo import build_demo_province, simulate_responses
from survey.services.results.publication import set_round_public
from survey.services.rounds.lifecycle import transition_round
from tests.browser.conftest import PHONE
from tests.helpers.accessibility import axe, check_page
from tests.helpers.comments import comment_item

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need Playwright: pip install -r .ci/requirements-dev.txt",
)
expect = sync_api.expect

pytestmark = pytest.mark.browser


@pytest.fixture
def results_url(app: Flask) -> Iterator[str]:
    with app.app_context():
        now = utcnow()
        round_ = build_demo_province(now=now)
        simulate_responses(round_, 300, now=now)
        transition_round(round_, RoundState.CLOSED, now=now)
        transition_round(round_, RoundState.PUBLISHED, now=now)
        admin = db.session.scalar(select(User).where(User.role == Role.ADMIN.value))
        if admin is None:
            admin = create_user(
                username="public-admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=now
            )
        set_round_public(round_, True, actor=admin, now=now)
        db.session.commit()
        path = f"/ket-qua/{round_.id}"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_public_results_on_a_phone_in_both_languages(
    results_url: str, phone: Any, axe_source: str
) -> None:
    page = phone.new_page()
    page.goto(results_url)
    expect(page.locator("caption")).to_contain_text("theo đơn vị")
    check_page(page, "20-public-results", axe_source)
    page.get_by_role("link", name="English").click()
    expect(page.locator("caption")).to_contain_text("by unit")
    check_page(page, "21-public-results-en", axe_source)
    page.get_by_role("link", name="← Satisfaction survey results").click()
    check_page(page, "22-public-results-list-en", axe_source)


def test_public_results_without_javascript(results_url: str, browser: Any, axe_source: str) -> None:
    context = browser.new_context(java_script_enabled=False, **PHONE)
    audit = browser.new_context(**PHONE).new_page()
    try:
        page = context.new_page()
        page.goto(results_url)
        expect(page.locator("table tbody tr").first).to_be_visible()
        check_page(page, "23-public-results-no-js", axe_source, audit=audit)
    finally:
        context.close()
        audit.context.close()


def add_responses_for_console(round_id: int, desk_id: int, now: datetime) -> int:
    """A counted response in a round that is no longer open (record_response would refuse)."""
    desk = db.session.get(Desk, desk_id)
    assert desk is not None
    response = Response(
        round_id=round_id,
        desk_id=desk.id,
        unit_id=desk.unit_id,
        service_area_id=desk.unit.service_areas[0].id,
        received_at=now.replace(microsecond=0) - timedelta(hours=1),
        idempotency_key=uuid.uuid4().hex,
    )
    db.session.add(response)
    db.session.flush()
    return response.id


def test_console_pages_for_comments_tokens_and_the_public_switch(
    app: Flask, results_url: str, browser: Any, axe_source: str
) -> None:
    base, round_id = results_url.split("/ket-qua/")
    with app.app_context():
        now = utcnow()
        round_ = db.session.get(Round, int(round_id))
        assert round_ is not None
        desk = db.session.scalar(select(Desk).where(Desk.unit_id == round_.scope[0].unit_id))
        assert desk is not None
        db.session.add(
            Answer(
                response_id=add_responses_for_console(round_.id, desk.id, now),
                item_id=comment_item(round_).id,
                text="<b>Rất tốt</b> gọi 0912 345 678",
            )
        )
        create_user(username="console-admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=now)
        db.session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/admin/login")
        page.fill("#username", "console-admin")
        page.fill("#password", "ao-dai-xanh-2026")
        page.get_by_role("button", name="Đăng nhập").click()
        page.goto(f"{base}/admin/rounds/{round_id}/comments")
        expect(page.locator("td.comment-text").first).to_contain_text("<b>Rất tốt</b>")
        axe(page, "30-console-comments", axe_source)
        page.locator("button.icon-button", has_text="Duyệt").first.click()  # the row's own button
        expect(page.locator(".flash-success")).to_be_visible()
        page.goto(f"{base}/admin/rounds/{round_id}/public/off")
        axe(page, "31-console-public-off", axe_source)
        page.goto(f"{base}/admin/api-tokens/new")
        axe(page, "32-console-token-new", axe_source)
        page.get_by_label("Tên gợi nhớ").fill("Báo cáo R")
        page.get_by_role("button", name="Tạo mã truy cập").click()
        expect(page.locator("#secret")).to_have_value(re.compile(r"^hl_"))
        axe(page, "33-console-token-created", axe_source)
        page.goto(f"{base}/admin/api-tokens")
        axe(page, "34-console-tokens", axe_source)
    finally:
        context.close()
