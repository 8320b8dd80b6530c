"""The citizen's path in a real browser on a phone-sized screen: answer and send, lose the network
and recover, reload, switch to English, keyboard only, and with JavaScript off. Every page is
checked with axe-core (WCAG 2.1 A and AA) and for 44 px touch targets, and photographed into
test-artifacts/browser/."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask

from survey.extensions import db
from survey.models import Round
from tests.browser.conftest import PHONE, World, answers_of, stored_responses
from tests.helpers.accessibility import check_page

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need Playwright: pip install -r .ci/requirements-dev.txt",
)
expect = sync_api.expect

pytestmark = pytest.mark.browser

COMMENT = "Cán bộ hướng dẫn tận tình, dễ hiểu."
FAILED_VI = "Chưa gửi được phiếu vì mạng không ổn định"
FAILED_EN = "could not be sent"

def answer_questionnaire(page: Any) -> None:
    """As a citizen would: yes to the feedback question (which shows its two follow-ups), 4 to
    every criterion, 5 overall, one priority and a comment."""
    page.check("#q_E0 input[value='1']")
    for radio in page.locator("fieldset.question:visible input[type=radio][value='4']").all():
        radio.check()
    page.check("#q_Q_OVERALL input[value='5']")
    page.check("#q_Q_PRIORITY input[value='2']")
    page.fill("#q_Q_COMMENT", COMMENT)


def posted_keys(requests: list[str]) -> list[str]:
    return [parse_qs(body)["idempotency_key"][0] for body in requests]


def record_posts(page: Any) -> list[str]:
    bodies: list[str] = []
    page.on(
        "request",
        lambda request: (
            bodies.append(request.post_data or "") if request.method == "POST" else None
        ),
    )
    return bodies


def test_desk_link_area_answers_send_thanks(
    app: Flask, world: World, phone: Any, axe_source: str
) -> None:
    page = phone.new_page()
    page.goto(world.url(f"/r/{world.two_areas}"))
    expect(page.locator("h1")).to_contain_text("lĩnh vực nào")
    check_page(page, "01-area-choice", axe_source)
    page.get_by_label("Đất đai").check()
    page.get_by_role("button", name="Tiếp tục").click()
    expect(page.locator(".desk-area")).to_contain_text("Đất đai")
    check_page(page, "02-questionnaire", axe_source)

    # The two follow-ups of the feedback question appear only once it is answered "yes".
    expect(page.locator("#q_E3")).to_be_hidden()
    answer_questionnaire(page)
    expect(page.locator("#q_E3")).to_be_visible()
    check_page(page, "03-questionnaire-answered", axe_source)
    key = page.input_value("#idempotency_key")
    page.get_by_role("button", name="Gửi phiếu").click()

    page.wait_for_url("**/thanks")
    expect(page.locator("h1")).to_contain_text("Cảm ơn")
    check_page(page, "04-thanks", axe_source)
    assert stored_responses(app) == [(key, "counted", None, 22 + 4)]
    answers = answers_of(app, key)
    assert answers["Q_OVERALL"] == [5] and answers["Q_COMMENT"] == [COMMENT]
    assert answers["E3"] == [4] and answers["Q_PRIORITY"] == [2]
    # A confirmed submission leaves nothing behind on the phone.
    assert page.evaluate("Object.keys(localStorage)") == []


def test_offline_midway_says_so_and_sends_once_when_back(
    app: Flask, world: World, phone: Any, axe_source: str
) -> None:
    page = phone.new_page()
    posts = record_posts(page)
    page.goto(world.url(f"/r/{world.one_area}"))
    page.check("#q_A1 input[value='2']")
    phone.set_offline(True)
    answer_questionnaire(page)
    page.get_by_role("button", name="Gửi phiếu").click()

    status = page.locator("#send-status[role=status]")
    expect(status).to_contain_text(FAILED_VI)
    check_page(page, "05-offline", axe_source)
    assert stored_responses(app) == []
    # Still on the form with every answer in place; the citizen can only wait.
    assert page.is_checked("#q_Q_OVERALL input[value='5']")

    phone.set_offline(False)
    page.wait_for_url("**/thanks", timeout=20_000)
    (stored,) = stored_responses(app)
    assert stored[1:] == ("counted", None, 26)
    keys = posted_keys(posts)
    assert len(keys) >= 2 and set(keys) == {stored[0]}  # every attempt carried the same key


def test_server_error_then_busy_then_success_counts_once(
    app: Flask, world: World, phone: Any
) -> None:
    page = phone.new_page()
    page.goto(world.url(f"/r/{world.one_area}"))
    answer_questionnaire(page)
    attempts: list[str] = []

    def flaky(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        attempts.append(route.request.post_data or "")
        if len(attempts) == 1:
            route.fulfill(status=503, content_type="text/html", body="<h1>503</h1>")
        elif len(attempts) == 2:
            route.fulfill(status=429, headers={"Retry-After": "1"}, body="busy")
        else:
            route.continue_()

    page.route(lambda url: url.endswith(f"/r/{world.one_area}"), flaky)
    page.get_by_role("button", name="Gửi phiếu").click()
    status = page.locator("#send-status")
    expect(status).to_contain_text(FAILED_VI)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # the network is back: retry now
    expect(status).to_contain_text("Quầy đang nhận rất nhiều phiếu")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_url("**/thanks")
    (stored,) = stored_responses(app)
    assert len(attempts) == 3 and set(posted_keys(attempts)) == {stored[0]}


def test_reload_keeps_answers_and_resumes_a_failed_send(
    app: Flask, world: World, phone: Any
) -> None:
    with app.app_context():
        # Answers faster than this are treated as automated: a resumed send must still count.
        db.session.get(Round, world.round_id).min_answer_seconds = 3
        db.session.commit()
    page = phone.new_page()
    page.goto(world.url(f"/r/{world.one_area}"))
    opened = time.monotonic()
    page.check("#q_A2 input[value='3']")
    page.check("#q_A3 input[value='na']")
    page.fill("#q_Q_COMMENT", COMMENT)
    key = page.input_value("#idempotency_key")

    page.reload()
    assert page.is_checked("#q_A2 input[value='3']") and page.is_checked("#q_A3 input[value='na']")
    assert page.input_value("#q_Q_COMMENT") == COMMENT
    expect(page.locator("#send-status")).to_contain_text("đã được khôi phục")

    page.check("#q_Q_OVERALL input[value='4']")
    page.route(lambda url: url.endswith(f"/r/{world.one_area}"), lambda route: route.abort())
    page.wait_for_timeout(max(0, 3.2 - (time.monotonic() - opened)) * 1000)
    page.get_by_role("button", name="Gửi phiếu").click()
    expect(page.locator("#send-status")).to_contain_text(FAILED_VI)
    page.unroute_all()

    page.reload()  # a fresh page with a fresh start time: the stored one is what counts
    page.wait_for_url("**/thanks")
    assert stored_responses(app) == [(key, "counted", None, 4)]
    assert answers_of(app, key) == {
        "A2": [3],
        "A3": ["na"],
        "Q_OVERALL": [4],
        "Q_COMMENT": [COMMENT],
    }


def test_english_keeps_answers_and_speaks_english_when_offline(
    app: Flask, world: World, phone: Any, axe_source: str
) -> None:
    page = phone.new_page()
    page.goto(world.url(f"/r/{world.one_area}"))
    page.check("#q_A1 input[value='5']")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#q_A1 legend")).to_contain_text("The waiting area has enough seats")
    assert page.is_checked("#q_A1 input[value='5']")  # given in Vietnamese, kept in English
    check_page(page, "06-questionnaire-en", axe_source)

    page.check("#q_Q_OVERALL input[value='3']")
    phone.set_offline(True)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#send-status")).to_contain_text(FAILED_EN)
    check_page(page, "07-offline-en", axe_source)
    phone.set_offline(False)
    page.wait_for_url("**/thanks", timeout=20_000)
    expect(page.locator("h1")).to_have_text("Thank you for taking part in the survey!")
    check_page(page, "08-thanks-en", axe_source)
    (stored,) = stored_responses(app)
    assert answers_of(app, stored[0]) == {"A1": [5], "Q_OVERALL": [3]}


FOCUS = """() => {
  const el = document.activeElement;
  const shown = el.closest('label') || el;
  const style = getComputedStyle(shown);
  return {tag: el.tagName, type: el.type || '', name: el.name || '', checked: !!el.checked,
          text: (el.textContent || '').trim(), outline: style.outlineStyle,
          width: parseFloat(style.outlineWidth)};
}"""


def test_keyboard_only_from_desk_link_to_thanks(app: Flask, world: World, phone: Any) -> None:
    """Tab, Space and Enter only: the skip link, one answer per question, then send."""
    page = phone.new_page()
    page.goto(world.url(f"/r/{world.two_areas}"))
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUS)["text"] == "Bỏ qua, đến nội dung chính"
    page.keyboard.press("Enter")
    for _ in range(10):  # to the first service area, then to "Continue"
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS)
        if focus["type"] == "radio":
            page.keyboard.press("Space")
        if focus["tag"] == "BUTTON":
            break
    page.keyboard.press("Enter")
    expect(page.locator(".desk-area")).to_contain_text("Đất đai")  # the first area listed

    answered: set[str] = set()
    for _ in range(200):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS)
        # Whatever has focus shows it: a 3 px outline on the control or its option label.
        assert focus["outline"] != "none" and focus["width"] >= 2, focus
        if focus["type"] in ("radio", "checkbox") and focus["name"] not in answered:
            page.keyboard.press("Space")
            answered.add(focus["name"])
        if focus["tag"] == "BUTTON":
            break
    else:
        pytest.fail("never reached the send button with Tab")
    assert {"q_A1", "q_E0", "q_E3", "q_Q_OVERALL", "q_Q_PRIORITY"} <= answered
    page.keyboard.press("Enter")
    page.wait_for_url("**/thanks")
    (stored,) = stored_responses(app)
    answers = answers_of(app, stored[0])
    # Tab lands on the first option of each group: 1 everywhere, "yes" to the feedback question
    # (so its two follow-ups were reachable), the first priority.
    assert answers["Q_OVERALL"] == [1] and answers["E0"] == [1] and answers["E4"] == [1]
    assert len(answers) == 22 + 3


def test_errors_closed_landing_and_not_found_pages(
    app: Flask, world: World, phone: Any, axe_source: str
) -> None:
    page = phone.new_page()
    page.goto(world.url("/"))
    check_page(page, "09-landing", axe_source)
    page.goto(world.url(f"/r/{world.closed}"))
    expect(page.locator("h1")).to_contain_text("chưa có đợt khảo sát")
    check_page(page, "10-closed", axe_source)
    assert page.goto(world.url("/r/not-a-desk")).status == 404
    check_page(page, "11-not-found", axe_source)

    # Sent without the one required answer: the server's page replaces the form, the notice
    # takes focus, and the message sits beside the question it is about.
    page.goto(world.url(f"/r/{world.one_area}"))
    page.check("#q_B1 input[value='4']")
    page.get_by_role("button", name="Gửi phiếu").click()
    notice = page.locator("#form-notice")
    expect(notice).to_be_focused()
    # The notice links to the question concerned, a long scroll away on a phone.
    notice.get_by_role("link", name="Nhìn chung, Ông/Bà hài lòng như thế nào").click()
    expect(page.locator("#q_Q_OVERALL legend")).to_be_in_viewport()
    question = page.locator("#q_Q_OVERALL")
    expect(question).to_have_attribute("aria-describedby", "q_Q_OVERALL-error")
    expect(page.locator("#q_Q_OVERALL-error")).to_contain_text("Vui lòng trả lời")
    assert page.is_checked("#q_B1 input[value='4']")
    check_page(page, "12-questionnaire-errors", axe_source)
    page.check("#q_Q_OVERALL input[value='2']")
    page.get_by_role("button", name="Gửi phiếu").click()
    page.wait_for_url("**/thanks")
    (stored,) = stored_responses(app)
    assert answers_of(app, stored[0]) == {"B1": [4], "Q_OVERALL": [2]}


def test_without_javascript_the_form_still_works(
    app: Flask, world: World, browser: Any, phone: Any, axe_source: str
) -> None:
    context = browser.new_context(java_script_enabled=False, **PHONE)
    try:
        page = context.new_page()
        page.goto(world.url(f"/r/{world.one_area}"))
        # Without the script nothing is hidden: the follow-ups say when they apply.
        expect(page.locator("#q_E3 .hint")).to_be_visible()
        page.get_by_role("button", name="Gửi phiếu").click()
        expect(page.locator("#form-notice")).to_contain_text("Phiếu chưa được gửi")
        check_page(page, "13-questionnaire-errors-no-js", axe_source, audit=phone.new_page())
        page.check("#q_Q_OVERALL input[value='5']")
        page.get_by_role("button", name="Gửi phiếu").click()
        page.wait_for_url("**/thanks")
        assert [s[1:] for s in stored_responses(app)] == [("counted", None, 1)]
    finally:
        context.close()
