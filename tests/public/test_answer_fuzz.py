"""The citizen form under random and hostile submissions (hypothesis): field names and values
of any kind, huge values, control characters, lists where one value belongs, raw bytes. Never a
500, and nothing half-stored: each submission stores one whole response or nothing at all.

EXAMPLES cases per test and run (the suite's own time budget keeps the counts modest).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from survey.extensions import db
from survey.models import Answer, Item, Response
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_answer import form_page, valid_answers

EXAMPLES = 120
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "'; DROP TABLE responses; --",
            "\x00",
            "\u202e\u200b",
            "4\x00",
            " 4 ",
            "04",
            "4.0",
            "-1",
            "99999999999999999999",
            "NaN",
            "na",
            "",
        ]
    ),
    st.integers().map(str),
    st.integers(1, 70).map(lambda n: "x" * (1000 * n)),  # up to 70 KB: past the 64 KB limit
)
SCORES = ("1", "2", "3", "4", "5")  # a tuple: a list sent for one value is never "in" it
ANSWER_STATUSES = {303, 400, 409, 413, 415, 422, 429}


@pytest.fixture
def token(app: Flask) -> str:
    with app.app_context():
        unit = make_unit("STP", "Sở Tư pháp", [make_area()])
        desk = make_desk(unit)
        round_ = make_round([unit], min_answer_seconds=0)
        round_.device_period_hours = 0
        round_.desk_limit_per_hour = round_.network_limit_per_hour = 1_000_000
        db.session.commit()
        return desk.token


def _stored(app: Flask) -> dict[int, list[tuple[str, int | None, str | None]]]:
    """Every response with its answers as (item code, value, text)."""
    with app.app_context():
        stored: dict[int, list[tuple[str, int | None, str | None]]] = {
            id_: [] for id_ in db.session.scalars(select(Response.id))
        }
        for response_id, code, value, text in db.session.execute(
            select(Answer.response_id, Item.code, Answer.value, Answer.text).join(
                Item, Item.id == Answer.item_id
            )
        ):
            stored[response_id].append((code, value, text))
        return stored


def _number(text: object) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_form_posts_never_fail_and_never_half_store(
    app: Flask, token: str, data: st.DataObject
) -> None:
    client = app.test_client()
    form = valid_answers(form_page(client, token, area=None))
    names = sorted(form)
    for name in data.draw(st.sets(st.sampled_from(names), max_size=4), label="dropped"):
        form.pop(name)
    changes = data.draw(
        st.dictionaries(
            st.one_of(st.sampled_from(names), st.text(max_size=20)),
            st.one_of(HOSTILE, st.lists(HOSTILE, max_size=3)),
            max_size=4,
        ),
        label="changed",
    )
    form |= changes
    before = _stored(app)
    answer = client.post(f"/r/{token}", data=form)
    event(f"status {answer.status_code}")
    assert answer.status_code in ANSWER_STATUSES, answer.status_code
    after = _stored(app)
    if answer.status_code != 303:
        assert after == before  # refused: not a single row more
        return
    [(response_id, stored)] = [(k, v) for k, v in after.items() if k not in before]
    # Whole: every answer stored was sent as such, and every unconditional criterion sent
    # with a valid score was stored (nothing dropped half-way).
    for code, value, text in stored:
        sent = form.get(f"q_{code}")
        sent_values = sent if isinstance(sent, list) else [sent]
        if text is not None:
            # A text field sent twice: the form reads the first value.
            assert text == str(sent_values[0]).strip()
        elif value is not None:
            # The form reads scores as whole numbers, so "04" is 4: lenient, never wrong.
            assert value in {_number(v) for v in sent_values}, (code, value, sent)
    stored_codes = {(code, str(value)) for code, value, _ in stored}
    for name, sent in form.items():
        code = name.removeprefix("q_")
        if (
            re.fullmatch(r"[A-D]\d|Q_OVERALL", code)
            and isinstance(sent, str)
            and sent in "12345"
            and sent
        ):
            assert (code, sent) in stored_codes, (response_id, code, sent)


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "multipart/form-data",
            "application/json",
            "text/plain; charset=latin-1",
        ]
    ),
)
def test_raw_bodies_are_refused_without_storing(
    app: Flask, token: str, body: bytes, content_type: str
) -> None:
    answer = app.test_client().post(f"/r/{token}", data=body, content_type=content_type)
    assert answer.status_code in ANSWER_STATUSES - {303}, answer.status_code
    assert _stored(app) == {}


def test_statuses_seen_by_the_fuzzer_are_varied(app: Flask, token: str) -> None:
    """Guards the strategy itself: valid, refused and over-long submissions all occur."""
    client = app.test_client()
    seen: Counter[int] = Counter()
    for changes in (
        {},
        {"q_A1": "9"},
        {"q_A1": "x" * 70_000},
        {"bogus": "1"},
        {"q_Q_COMMENT": "\x00"},
    ):
        form = valid_answers(form_page(client, token, area=None)) | changes
        seen[client.post(f"/r/{token}", data=form).status_code] += 1
    assert set(seen) == {303, 422, 413, 400}, seen
