"""How long the SIPAS form takes a citizen on a phone (issue 22, point 7; goal: under 3 minutes).

A scripted reader on a 360 x 740 touch screen opens the desk link and, question by question,
scrolls to it, reads it and taps an answer, then sends. What the browser does (load, scroll,
tap, send) is timed for real; the reader's own time is added at a stated human pace instead of
being slept through, so the test costs seconds, not minutes: every question read at 250 syllables
a minute (200 for a slow reader, printed too), the labels of a scale read the first
time that scale appears (the next questions use the same five labels), 1.5 s to choose and tap
per question, and 2 s per section heading. The figures are printed (``-s``) and recorded in
docs/benchmarks.md.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from tests.browser.conftest import World, stored_responses

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need Playwright: pip install -r .ci/requirements-dev.txt",
)

pytestmark = pytest.mark.browser

# Vietnamese is written a syllable a word, so these are syllables: 250 a minute is a typical
# reader on a phone (adult silent reading runs near 6 syllables a second; Brysbaert 2019, J. Mem.
# Lang. 109), 200 a minute a slow one. The test holds the typical pace to the goal and prints both.
WORDS_PER_SECOND = 250 / 60
SLOW_WORDS_PER_SECOND = 200 / 60
CHOOSE_AND_TAP = 1.5
SECTION = 2.0
GOAL_SECONDS = 180


def test_the_sipas_form_takes_a_phone_reader_under_three_minutes(
    app: Flask, world: World, phone: Any
) -> None:
    page = phone.new_page()
    browser_started = time.perf_counter()
    page.goto(world.url(f"/r/{world.one_area}"))
    words = 0
    # The intro and the line saying which questions may be skipped are read once.
    for intro in page.locator("p.intro, p.skip-note").all():
        words += len(intro.inner_text().split())
    acting = SECTION * page.locator("p.part").count()
    answered = 0
    scales_read: set[tuple[str, ...]] = set()
    for question in page.locator("fieldset.question").all():
        if not question.is_visible():
            continue  # a follow-up whose condition is not met is hidden, not read
        question.scroll_into_view_if_needed()
        legend = question.locator("legend").inner_text()
        options = question.locator("label.option")
        labels = tuple(options.all_inner_texts())
        words += len(legend.split())
        if labels not in scales_read:  # a scale's labels are read once, then known
            scales_read.add(labels)
            words += sum(len(label.split()) for label in labels)
        acting += CHOOSE_AND_TAP
        # Yes to the feedback question (so its follow-ups show), else the fourth option (4).
        index = 0 if question.get_attribute("id") == "q_E0" else min(3, options.count() - 1)
        options.nth(index).tap()
        answered += 1
    page.get_by_role("button", name="Gửi phiếu").tap()
    page.wait_for_url("**/thanks")
    browser_seconds = time.perf_counter() - browser_started
    total = browser_seconds + acting + words / WORDS_PER_SECOND
    slow = browser_seconds + acting + words / SLOW_WORDS_PER_SECOND
    print(
        f"\nSIPAS form on a 360x740 phone: {answered} questions, {words} syllables read; "
        f"browser {browser_seconds:.1f} s + choosing, tapping and section headings "
        f"{acting:.1f} s + reading: {total:.0f} s ({total / 60:.1f} min) at 250 syllables/min, "
        f"{slow:.0f} s ({slow / 60:.1f} min) at 200; goal under {GOAL_SECONDS / 60:.0f} min"
    )
    assert answered >= 22
    assert len(stored_responses(app)) == 1
    assert total < GOAL_SECONDS


def test_a_receipt_link_without_javascript_sends_the_signed_code(
    app: Flask, world: World, browser: Any, phone: Any, axe_source: str
) -> None:
    """Issue 22, point 2: scanned from a receipt, the code is there and locked; the citizen
    types nothing, and the page passes axe-core like every citizen page."""
    from sqlalchemy import select

    from survey.extensions import db
    from survey.models import Desk, DossierCodeUse
    from survey.services.responses.abuse import dossier_code_hash
    from survey.services.responses.receipt_links import receipt_key, receipt_query
    from tests.browser.conftest import PHONE
    from tests.helpers.accessibility import check_page

    code = "000.00.12.H13-261123-0042"
    with app.app_context():
        desk = db.session.scalars(select(Desk).where(Desk.token == world.one_area)).one()
        desk.requires_dossier_code = True
        db.session.commit()
        query = receipt_query(receipt_key(), world.one_area, code)
        db.session.remove()
    context = browser.new_context(java_script_enabled=False, **PHONE)
    try:
        page = context.new_page()
        page.goto(world.url(f"/r/{world.one_area}?{query}"))
        field = page.locator("#dossier_code")
        assert field.input_value() == code
        assert field.get_attribute("readonly") is not None
        check_page(page, "20-receipt-link-no-js", axe_source, audit=phone.new_page())
        page.check("#q_Q_OVERALL input[value='5']")
        page.get_by_role("button", name="Gửi phiếu").click()
        page.wait_for_url("**/thanks")
    finally:
        context.close()
    with app.app_context():
        assert list(db.session.scalars(select(DossierCodeUse.code_hash))) == [
            dossier_code_hash(code)
        ]
        db.session.remove()
