"""The printed method is the questionnaire's own: a reader who follows it recomputes the
published overall index from the published element indices (the recipe is the test's hand
computation), for a one-aspect and a two-aspect questionnaire."""

from __future__ import annotations

import numpy as np
import pytest
from flask import Flask

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from survey.extensions import db
from survey.models import DossierCount, ItemRole, Round, TemplateVersion, utcnow
from survey.services.responses.recording import AnswerValue, record_response
from survey.services.results.indices import round_index
from survey.services.results.method import method_statements
from tests.factories import make_area, make_desk, make_round, make_unit, sipas_version
from tests.helpers.templates import sipas_with_policy_aspect


def _two_aspect_version() -> TemplateVersion:
    """SIPAS with the 2023 policy aspect, as a template of its own."""
    return sipas_with_policy_aspect("sipas2023", "SIPAS 2023")


def _round_with_answers(version: TemplateVersion) -> int:
    rng = np.random.default_rng(5)
    area = make_area()
    unit = make_unit("U01", "UBND phường Bình Minh", [area])
    desk = make_desk(unit)
    round_ = make_round([unit], version=version)
    db.session.add(
        DossierCount(round_id=round_.id, unit_id=unit.id, service_area_id=area.id, dossiers=500)
    )
    criteria = [i for i in round_.template_version.items if i.role == ItemRole.CRITERION]
    # Criteria differ a lot (so that the mean of elements and of aspects differ too).
    chance = {item.id: 0.2 + 0.75 * (k % 4) / 3 for k, item in enumerate(criteria)}
    now = utcnow()
    for k in range(80):
        record_response(
            round_=round_,
            desk_id=desk.id,
            unit_id=unit.id,
            service_area_id=area.id,
            answers=[
                AnswerValue(i.id, value=5 if rng.random() < chance[i.id] else 2) for i in criteria
            ],
            idempotency_key=f"method-{k:04d}",
            now=now,
        )
    db.session.commit()
    return round_.id


def _province(round_: Round, kind: IndexKind) -> dict[str, float]:
    rows = round_index(round_).rows(
        level=Level.PROVINCE, kind=kind, measure=IndexDefinition.TOP2BOX
    )
    return {r.index: r.estimate for r in rows}


def test_one_aspect_method_says_mean_of_elements_and_that_recomputes(app: Flask) -> None:
    with app.test_request_context():
        round_ = db.session.get(Round, _round_with_answers(sipas_version()))
        assert round_ is not None
        text = " ".join(method_statements(round_.template_version, "top2box"))
        assert "trung bình cộng các chỉ số của 5 yếu tố" in text
        assert "khía cạnh (" not in text
        elements = _province(round_, IndexKind.ELEMENT)
        overall = _province(round_, IndexKind.OVERALL)["overall"]
    # The recipe of the text: the mean of the five element indices.
    assert len(elements) == 5
    assert overall == pytest.approx(sum(elements.values()) / 5, abs=1e-9)


def test_two_aspect_method_says_mean_of_aspects_and_that_recomputes(app: Flask) -> None:
    with app.test_request_context():
        round_ = db.session.get(Round, _round_with_answers(_two_aspect_version()))
        assert round_ is not None
        text = " ".join(method_statements(round_.template_version, "top2box"))
        assert "trung bình cộng các chỉ số của 2 khía cạnh" in text
        assert "Dịch vụ hành chính công: 5 yếu tố" in text and "Chính sách: 1 yếu tố" in text
        assert "không phải trung bình của tất cả các yếu tố" in text
        elements = _province(round_, IndexKind.ELEMENT)
        overall = _province(round_, IndexKind.OVERALL)["overall"]
    with app.test_request_context("/?lang=en"):
        english = " ".join(method_statements(round_.template_version, "top2box"))
    assert "the mean of the 2 aspects' indices" in english
    # The recipe of the text: each aspect the mean of its elements, the overall index the mean
    # of the two aspects; the mean of all six elements is a different number.
    services = [elements[c] for c in ("A", "B", "C", "D", "E")]
    by_recipe = (sum(services) / 5 + elements["P"]) / 2
    assert overall == pytest.approx(by_recipe, abs=1e-9)
    assert abs(overall - sum(elements.values()) / 6) > 0.5
