"""The public results page in a real browser, on a phone and with JavaScript off, in Vietnamese
and English: checked with axe-core (WCAG 2.1 A and AA) and for 44 px touch targets, and
photographed into test-artifacts/browser/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from survey.extensions import db
from survey.models import Role, RoundState, User, utcnow
from survey.services.demo import build_demo_province, simulate_responses
from survey.services.publication import set_round_public
from survey.services.rounds import transition_round
from survey.services.users import create_user
from tests.browser.conftest import PHONE
from tests.browser.test_citizen_browser import check_page

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
                username="public-admin", password="mat-khau-2026", role=Role.ADMIN, now=now
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
