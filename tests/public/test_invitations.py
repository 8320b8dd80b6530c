"""A sampled round's invitation answered on the citizen's phone: the letter's link opens the
questionnaire for the dossier's unit and area, the answer counts once, in its stratum, with no
desk and the mode recorded; a second answer, a wrong code and a closed round store nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, Invitation, Response, Round, RoundState, Unit, utcnow
from survey.services.responses.abuse import server_key
from survey.services.responses.recording import AnswerValue
from survey.services.rounds.lifecycle import transition_round
from survey.services.rounds.sampling import draw_sample, import_frame, one_time_code
from tests.public.test_answer import valid_answers
from tests.services.rounds.test_sampling import _frame, _round


@dataclass(frozen=True)
class Sampled:
    round_id: int
    code: str  # an invitation's one-time code
    reference: str
    unit_id: int
    area_id: int


@pytest.fixture
def sampled(app: Flask) -> Sampled:
    with app.test_request_context():
        key = server_key("DOSSIER_CODE_KEY")
        round_, admin = _round()
        import_frame(round_, _frame().encode(), key=key, now=utcnow(), actor=admin)
        draw_sample(
            round_, method="proportional", total=14, seed=3, key=key, now=utcnow(), actor=admin
        )
        db.session.commit()
        invitation = db.session.scalars(
            select(Invitation).where(Invitation.round_id == round_.id).order_by(Invitation.id)
        ).first()
        assert invitation is not None
        row = invitation.frame_row
        code = one_time_code(round_.id, row.code_hash, key)
        return Sampled(round_.id, code, invitation.reference, row.unit_id, row.service_area_id)


def _responses(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Response.id))) or 0


def test_the_letters_link_opens_the_form_and_the_answer_counts_once_in_its_stratum(
    app: Flask, client: FlaskClient, sampled: Sampled
) -> None:
    page = client.get(f"/m/{sampled.code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert sampled.reference in html and "chọn ngẫu nhiên" in html
    assert 'name="dossier_code"' not in html  # the citizen types nothing but answers
    data = valid_answers(html)
    sent = client.post(f"/m/{sampled.code}", data=data)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/thanks")
    assert "Cảm ơn" in client.get(sent.headers["Location"]).get_data(as_text=True)
    # The same submission again (a retry with the same key) is stored once.
    assert client.post(f"/m/{sampled.code}", data=data).status_code == 303
    with app.app_context():
        (response,) = db.session.scalars(select(Response)).all()
        assert (response.unit_id, response.service_area_id) == (sampled.unit_id, sampled.area_id)
        assert response.desk_id is None and response.mode == "self_web"
        assert response.channel == "web" and response.status == "counted"
        assert db.session.scalar(select(func.count()).where(Answer.response_id == response.id))
        invitation = db.session.scalar(
            select(Invitation).where(Invitation.reference == sampled.reference)
        )
        assert invitation is not None
        assert (invitation.state, invitation.mode) == ("answered", "self_web")
    # A second answer with a fresh form: refused, said plainly, nothing stored.
    again = client.get(f"/m/{sampled.code}").get_data(as_text=True)
    assert "đã được trả lời" in again
    other = dict(data, idempotency_key="another-key-0123456789abcdef")
    refused = client.post(f"/m/{sampled.code}", data=other)
    assert refused.status_code == 409 and "đã được trả lời" in refused.get_data(as_text=True)
    assert _responses(app) == 1


def test_a_wrong_code_a_missing_answer_and_a_closed_round_store_nothing(
    app: Flask, client: FlaskClient, sampled: Sampled
) -> None:
    wrong = client.get("/m/AAAAAAAAAA")
    assert wrong.status_code == 404
    assert "Không tìm thấy thư mời" in wrong.get_data(as_text=True)
    assert client.get("/m/' OR 1=1 --").status_code == 404
    assert client.get("/m/" + "A" * 33).status_code == 404
    html = client.get(f"/m/{sampled.code}").get_data(as_text=True)
    data = valid_answers(html)
    del data["q_Q_OVERALL"]  # a required question left out
    missing = client.post(f"/m/{sampled.code}", data=data)
    assert missing.status_code == 422
    assert "Vui lòng trả lời câu hỏi này" in missing.get_data(as_text=True)
    assert client.post(f"/m/{sampled.code}", json={"q_A1": "4"}).status_code == 415
    assert _responses(app) == 0
    with app.app_context():
        round_ = db.session.get(Round, sampled.round_id)
        assert round_ is not None
        transition_round(round_, RoundState.CLOSED, now=utcnow())
        db.session.commit()
    closed = client.post(f"/m/{sampled.code}", data=valid_answers(html))
    assert closed.status_code == 409 and "không nhận câu trả lời" in closed.get_data(as_text=True)
    assert "không nhận câu trả lời" in client.get(f"/m/{sampled.code}").get_data(as_text=True)
    assert _responses(app) == 0


def test_a_desk_never_sends_its_citizens_into_a_sampled_round(
    app: Flask, client: FlaskClient, sampled: Sampled
) -> None:
    """A sampled round open over a unit takes answers only through its letters: the unit's
    desk shows the QR round open beside it, or the closed page when there is none."""
    from tests.factories import make_desk, make_round

    with app.app_context():
        round_ = db.session.get(Round, sampled.round_id)
        assert round_ is not None
        unit = next(s.unit for s in round_.scope if s.unit_id == sampled.unit_id)
        desk = make_desk(unit)
        db.session.commit()
        token = desk.token
    closed = client.get(f"/r/{token}")
    assert "Hiện chưa có đợt khảo sát nào đang mở" in closed.get_data(as_text=True)
    with app.app_context():
        unit = db.session.get(Unit, sampled.unit_id)
        assert unit is not None
        qr = make_round([unit], name="Đợt QR cùng kỳ")
        db.session.commit()
        qr_id = qr.id
    html = client.get(f"/r/{token}?area=DD").get_data(as_text=True)
    sent = client.post(f"/r/{token}?area=DD", data=valid_answers(html))
    assert sent.status_code == 303
    with app.app_context():
        (response,) = db.session.scalars(select(Response)).all()
        assert response.round_id == qr_id and response.desk_id is not None


def test_a_network_guessing_codes_is_stopped_for_the_hour(
    app: Flask, client: FlaskClient, sampled: Sampled
) -> None:
    for n in range(30):
        assert client.get(f"/m/GUESS{n:05d}").status_code == 404
    stopped = client.get(f"/m/{sampled.code}")  # even a real code, from that network
    assert stopped.status_code == 429
    assert "Quá nhiều yêu cầu" in stopped.get_data(as_text=True)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert other.get(f"/m/{sampled.code}").status_code == 200  # another network is served


def test_two_phones_sending_one_letter_at_once_count_it_once(
    app: Flask, app_factory: Callable[..., Flask], sampled: Sampled
) -> None:
    """The same letter answered on two phones at the same moment, through two app servers:
    one answer counts, the other is told the letter is answered; nothing is stored twice."""
    import threading

    from survey.errors import ConflictError
    from survey.services.rounds.sample_answers import record_invitation_answer

    with app.app_context():
        round_ = db.session.get(Round, sampled.round_id)
        assert round_ is not None
        items = round_.template_version.items
        answers = [
            AnswerValue(item.id, value=4)
            for item in items
            if item.scale not in ("text", "choice") and 4 in [v for v, _vi, _en in item.points()]
        ]
    servers = [app_factory(), app_factory()]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def send(server: Flask, key: str) -> None:
        with server.app_context():
            invitation = db.session.scalar(
                select(Invitation).where(Invitation.reference == sampled.reference)
            )
            round_ = db.session.get(Round, sampled.round_id)
            assert invitation is not None and round_ is not None
            start.wait()
            try:
                record_invitation_answer(
                    round_, invitation, answers, mode="self_web", idempotency_key=key, now=utcnow()
                )
                outcomes.append("stored")
            except ConflictError:
                db.session.rollback()
                outcomes.append("refused")

    threads = [
        threading.Thread(target=send, args=(server, f"phone-{n}-0123456789abcdef"))
        for n, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused", "stored"]
    assert _responses(app) == 1
