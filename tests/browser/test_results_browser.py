"""The console's result pages and the round report in a real browser on a laptop screen, in
Vietnamese and English: axe-core (WCAG 2.1 A and AA) on each, charts loaded as images, and the
report photographed as it prints (A4, print media) into test-artifacts/browser/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from survey.extensions import db
from survey.models import Role, utcnow
from survey.services.accounts.users import create_user
from survey.services.demo import build_demo_province, simulate_responses
from tests.browser.conftest import ARTIFACTS
from tests.helpers.accessibility import axe

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need Playwright: pip install -r .ci/requirements-dev.txt",
)
expect = sync_api.expect

pytestmark = pytest.mark.browser


@pytest.fixture
def console(app: Flask) -> Iterator[tuple[str, int]]:
    with app.app_context():
        now = utcnow()
        round_ = build_demo_province(now=now)
        simulate_responses(round_, 600, now=now)
        create_user(
            username="results-analyst", password="ao-dai-xanh-2026", role=Role.ANALYST, now=now
        )
        db.session.commit()
        round_id = round_.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", round_id
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_result_pages_and_report_are_accessible(
    console: tuple[str, int], browser: Any, axe_source: str
) -> None:
    base, round_id = console
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/admin/login")
        page.fill("#username", "results-analyst")
        page.fill("#password", "ao-dai-xanh-2026")
        page.get_by_role("button", name="Đăng nhập").click()
        results = f"{base}/admin/rounds/{round_id}/results"
        for number, (path, name) in enumerate(
            [
                ("", "overview"),
                ("/units?sort=name", "units"),
                ("/elements", "elements"),
                ("/areas", "areas"),
                ("/change", "change"),
            ]
        ):
            page.goto(results + path)
            for image in page.locator("figure.chart img").all():
                # A chart that failed to load has no natural width.
                assert image.evaluate("img => img.naturalWidth") > 0, (name, image)
            axe(page, f"40-results-{number}-{name}", axe_source)
        page.get_by_role("link", name="Đơn vị", exact=True).first.click()
        page.locator("tbody th a").first.click()
        expect(page.locator("h1")).to_contain_text(":")
        axe(page, "45-results-unit", axe_source)
        page.goto(results + "/units?lang=en")
        expect(page.locator("h1")).to_contain_text("Results by unit")
        axe(page, "46-results-units-en", axe_source)
        page.goto(f"{base}/admin/rounds/{round_id}/report?lang=vi")
        axe(page, "47-report", axe_source)
        page.emulate_media(media="print")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "48-report-print.png"), full_page=True)
        assert page.locator(".no-print").first.is_hidden()
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF")
    finally:
        context.close()
