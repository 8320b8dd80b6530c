"""Change between rounds on two questionnaire versions (issue 18, point 4; shared/domain.md,
"Comparing rounds"): SIPAS, then SIPAS with the 2023 policy-making aspect. The overall index is
defined differently (mean of two aspects), so no overall change is shown and the page says why;
the shared elements and criteria are compared.

Hand computation: one unit, one service area, so every response weighs the same. The earlier
round has 40 responses, 20 answering 5 to every criterion and 20 answering 2: every criterion's
top-2-box share is 50 %, every element (mean of its criteria) 50 %. The later round has 30
answering 5 and 10 answering 2: 75 %. Every shared element and criterion changes by +25 points.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from survey.extensions import db
from survey.models import (
    DossierCount,
    ItemRole,
    Role,
    Round,
    RoundState,
    utcnow,
)
from survey.services.accounts.users import create_user
from survey.services.responses.recording import AnswerValue, record_response
from survey.services.rounds.lifecycle import transition_round
from tests.admin.conftest import PASSWORD, login
from tests.factories import make_area, make_desk, make_round, make_unit, sipas_version
from tests.helpers.rounds import row_starting
from tests.helpers.templates import sipas_with_policy_aspect


def _answer(round_: Round, satisfied: int, unsatisfied: int, when: object, key: str) -> None:
    (scope,) = round_.scope
    unit = scope.unit
    area = unit.service_areas[0]
    desk = unit.desks[0]
    db.session.add(
        DossierCount(round_id=round_.id, unit_id=unit.id, service_area_id=area.id, dossiers=900)
    )
    criteria = [i for i in round_.template_version.items if i.role == ItemRole.CRITERION]
    for k in range(satisfied + unsatisfied):
        value = 5 if k < satisfied else 2
        record_response(
            round_=round_,
            desk_id=desk.id,
            unit_id=unit.id,
            service_area_id=area.id,
            answers=[AnswerValue(i.id, value=value) for i in criteria],
            idempotency_key=f"{key}-{k:03d}",
            now=when,  # type: ignore[arg-type]
        )


def _two_rounds(app: Flask, *, new_version: bool) -> tuple[int, int]:
    with app.app_context():
        now = utcnow()
        area = make_area()
        unit = make_unit("U01", "UBND phường Bình Minh", [area])
        make_desk(unit)
        old = sipas_version()
        past = now - timedelta(days=60)
        earlier = make_round([unit], version=old, now=past, name="Đợt quý I")
        _answer(earlier, 20, 20, past + timedelta(hours=1), "before")
        transition_round(earlier, RoundState.CLOSED, now=past + timedelta(days=1))
        current = make_round(
            [unit], version=sipas_with_policy_aspect() if new_version else old, name="Đợt quý III"
        )
        _answer(current, 30, 10, now, "now")
        create_user(username="analyst", password=PASSWORD, role=Role.ANALYST, now=now)
        db.session.commit()
        return current.id, earlier.id


def _page(app: Flask, round_id: int) -> str:
    client = app.test_client()
    login(client, "analyst")
    answer = client.get(f"/admin/rounds/{round_id}/results/change")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_other_version_compares_shared_elements_and_says_why_no_overall(app: Flask) -> None:
    current, _earlier = _two_rounds(app, new_version=True)
    html = _page(app, current)
    assert "hai phiên bản phiếu định nghĩa chỉ số khác nhau" in html
    assert "không so sánh chỉ số chung vì hai đợt tính chỉ số chung khác nhau" in html
    assert "P1" in html.split('id="compared"')[1].split("</div>")[0]  # left out, and said so
    assert "Toàn tỉnh" not in html  # no overall change of the province
    element = row_starting(html, "Tiếp cận dịch vụ")
    assert element[1:4] == ["50,00", "75,00", "25,00"]
    assert element[5] == "Tăng"
    criterion = row_starting(html, "Nơi ngồi chờ có đủ chỗ ngồi")
    assert criterion[1:4] == ["50,00", "75,00", "25,00"]
    table = html.split("Thay đổi toàn tỉnh trên các khía cạnh")[1].split("</table>")[0]
    assert '<span class="hint">A1</span>' in table
    assert '<span class="hint">P1</span>' not in table  # only in the new version
    assert (
        '<span class="hint">CS</span>' not in table and '<span class="hint">P</span>' not in table
    )
    assert "Không so sánh chỉ số chung của từng đơn vị" in html


def test_same_version_compares_the_overall_index_too(app: Flask) -> None:
    current, _earlier = _two_rounds(app, new_version=False)
    html = _page(app, current)
    assert "Hai đợt dùng cùng định nghĩa chỉ số" in html
    assert "Toàn tỉnh" in html
    unit = row_starting(html, "UBND phường Bình Minh")
    assert unit[1:4] == ["50,00", "75,00", "25,00"]
