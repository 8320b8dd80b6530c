"""The shipped questionnaires: each loads into a versioned, editable template whose index
definition, usual target and scores come from its JSON file; the one-stop form's dossier score;
per-question scale labels on the citizen's form and in the SPSS file."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pyreadstat
import pytest
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import DossierCount, Item, Round, RoundState, Scale, TemplateVersion, utcnow
from survey.services.exports import microdata as exports
from survey.services.questionnaires.scores import score_answers, score_definitions
from survey.services.questionnaires.templates import (
    STARTER_TEMPLATES,
    clone_version,
    export_version,
    import_template,
    latest_version,
    load_starter_templates,
    template_json_problems,
)
from survey.services.responses.recording import AnswerValue, record_response
from survey.services.results import indices
from survey.services.rounds.result_settings import round_targets
from tests.factories import make_area, make_desk, make_round, make_unit


def _data(name: str) -> dict:
    text = resources.files("survey.starter_templates").joinpath(name).read_text("utf-8")
    return json.loads(text)


def _load(name: str) -> TemplateVersion:
    load_starter_templates(now=utcnow(), names=(name,))
    version = latest_version(_data(name)["code"])
    assert version is not None
    db.session.commit()
    return version


def _criteria(version: TemplateVersion) -> list[Item]:
    return [i for a in version.aspects for e in a.elements for i in e.items]


@pytest.mark.parametrize("name", STARTER_TEMPLATES)
def test_every_shipped_template_loads_as_an_editable_versioned_template(
    app: Flask, name: str
) -> None:
    data = _data(name)
    assert template_json_problems(data) == []
    with app.app_context():
        version = _load(name)
        assert version.number == 1 and not version.is_frozen
        raw = data["version"]
        assert version.index_definition == raw.get("index_definition", "top2box")
        assert version.default_target == raw.get("default_target")
        # A second version is a copy to edit; the export reads back as the same questionnaire.
        copy = clone_version(version, now=utcnow())
        assert copy.number == 2 and copy.default_target == version.default_target
        assert copy.scores == version.scores
        exported = export_version(version)
        assert exported["version"] == export_version(copy)["version"]
        again = import_template(exported, now=utcnow())
        assert export_version(again) == exported
        # Loading again adds nothing: a province's edits are never overwritten.
        assert load_starter_templates(now=utcnow(), names=(name,)) == []


@pytest.mark.parametrize(
    ("name", "elements", "criteria", "target"),
    [
        # Decree 61/2018 one-stop form: 3 ratings (with the overall one apart) + 9 indicators.
        ("one_stop_12.json", ["G", "CS"], 12, 90),
        # MoH 3869/QĐ-BYT: sections A-E.
        ("health_outpatient.json", ["A", "B", "C", "D", "E"], 30, 70),
        ("health_inpatient.json", ["A", "B", "C", "D", "E"], 31, 70),
        # MoET: 5 contents, about 24 criteria.
        ("education.json", ["TC", "CS", "MT", "HD", "PT"], 24, 70),
        ("sipas_2023.json", ["A", "B", "C", "D", "E", "P", "T"], 29, 80),
    ],
)
def test_shipped_instruments_have_their_structure_and_target(
    app: Flask, name: str, elements: list[str], criteria: int, target: float
) -> None:
    with app.app_context():
        version = _load(name)
        assert [e.code for a in version.aspects for e in a.elements] == elements
        assert len(_criteria(version)) == criteria
        assert version.default_target == target
        overall = [i for i in version.items if i.role == "overall"]
        assert len(overall) == 1 and overall[0].element_id is None
        if name.startswith("health") or name == "education.json":
            assert {i.scale for i in _criteria(version)} == {Scale.SAT5}


def test_a_round_launched_from_a_template_is_held_to_its_target(app: Flask) -> None:
    with app.app_context():
        health = _load("health_outpatient.json")
        unit = make_unit("BV01", "Bệnh viện đa khoa tỉnh", [make_area("YT", "Y tế", "Health")])
        round_ = make_round([unit], version=health, state=RoundState.DRAFT)
        assert round_.target == 70
        assert round_targets(round_).round == 70 and round_targets(round_).from_round
        # A target nobody changed follows the questionnaire; the province's default otherwise.
        from survey.services.rounds.lifecycle import RoundDraft, update_draft_round
        from tests.factories import sipas_version

        sipas = sipas_version()
        draft = RoundDraft(
            name="Đợt 1",
            version_id=sipas.id,
            opens_at=round_.opens_at,
            closes_at=round_.closes_at,
            all_units=True,
            level_codes=(),
            unit_ids=(),
            default_target=100,
            overrides=(),
        )
        update_draft_round(round_, draft, now=utcnow(), actor=None)  # type: ignore[arg-type]
        assert round_.target is None
        assert round_targets(round_).round == app.config["TARGET_DEFAULT"]


def test_the_dossier_score_sums_the_nine_indicators(app: Flask) -> None:
    with app.app_context():
        version = _load("one_stop_12.json")
        (score,) = score_definitions(version)
        assert score.code == "DIEM_HS" and score.maximum == 18
        assert score.items == tuple(f"CS{n}" for n in range(1, 10))
        indicators = {i.code: i for i in _criteria(version) if i.scale == Scale.POINTS210}
        assert len(indicators) == 9
        # Each indicator words its own 2/1/0 levels (Circular 01/2018).
        assert indicators["CS1"].points() == (
            (2, "Trước hạn", "Before the deadline"),
            (1, "Đúng hạn", "On time"),
            (0, "Quá hạn", "Late"),
        )
        assert all(i.satisfied_values == [2] for i in indicators.values())
        # On time at every agency (1), more than one visit (0), full points otherwise: 1+0+2*7.
        points = {f"CS{n}": 2 for n in range(1, 10)} | {"CS2": 1, "CS3": 0}
        assert score_answers(score, points) == 15
        assert score_answers(score, {c: 0 for c in score.items}) == 0
        # An unanswered indicator leaves no score rather than an understated one.
        assert score_answers(score, points | {"CS9": None}) is None


def _one_stop_round(app: Flask) -> tuple[int, str]:
    """An open round on the one-stop form with two responses: one complete, one without CS9."""
    with app.app_context():
        version = _load("one_stop_12.json")
        area = make_area("HT")
        unit = make_unit("U01", "UBND phường Bình Minh", [area])
        desk = make_desk(unit, areas=[area])
        round_ = make_round([unit], version=version)
        db.session.add(
            DossierCount(round_id=round_.id, unit_id=unit.id, service_area_id=area.id, dossiers=40)
        )
        items = {i.code: i for i in version.items}
        for n, skip in enumerate(((), ("CS9",))):
            answers = [AnswerValue(items["G1"].id, value=3), AnswerValue(items["G2"].id, value=2)]
            answers += [
                AnswerValue(items[f"CS{k}"].id, value=2 if k != 3 else 1)
                for k in range(1, 10)
                if f"CS{k}" not in skip
            ]
            record_response(
                round_=round_,
                desk_id=desk.id,
                unit_id=unit.id,
                service_area_id=area.id,
                answers=answers,
                idempotency_key=f"one-stop-key-{n:04d}",
                now=utcnow(),
            )
        db.session.commit()
        return round_.id, desk.token


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_the_dossier_score_and_item_labels_reach_spss_and_stata(
    app: Flask, tmp_path: Path, fmt: str
) -> None:
    round_id, _token = _one_stop_round(app)
    path = tmp_path / f"round.{fmt}"
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        getattr(exports, f"write_{fmt}")(round_, path)
        codebook = {row[0]: row for row in exports.codebook(round_)}
    assert "2 = Không lần nào" in str(codebook["CS3"][2])
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = reader(str(path))
    assert list(frame["DIEM_HS"].fillna(-1)) == [17.0, -1.0]  # 8 x 2 + 1; the other incomplete
    assert meta.column_names_to_labels["DIEM_HS"].startswith("Điểm đánh giá hồ sơ")
    labels = meta.variable_value_labels["CS3"]
    assert {v: labels[v] for v in (0, 1, 2)} == {0: "Hơn một lần", 1: "Một lần", 2: "Không lần nào"}
    assert meta.variable_value_labels["G2"][3] == "Rất hài lòng"  # the scale's own labels


def test_per_question_labels_show_on_the_citizen_form(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        version = _load("sipas_2023.json")
        area = make_area("HT")
        unit = make_unit("U01", "UBND phường Bình Minh", [area])
        desk = make_desk(unit, areas=[area])
        make_round([unit], version=version)
        db.session.commit()
        token = desk.token
    page = client.get(f"/r/{token}").get_data(as_text=True)
    interest = re.search(
        r'<fieldset[^>]*>(?:(?!</fieldset>).)*name="q_I1".*?</fieldset>', page, re.S
    )
    assert interest is not None
    assert "Rất quan tâm" in interest.group(0) and "Không quan tâm" in interest.group(0)
    assert "Hoàn toàn không" not in interest.group(0)  # not the scale's default wording
    channel = re.search(r'name="q_K1".*?</fieldset>', page, re.S)
    assert channel is not None and "Rất phù hợp" in channel.group(0)
    english = client.get(f"/r/{token}?lang=en").get_data(as_text=True)
    assert "Very interested" in english


def test_a_2_1_0_indicator_counts_full_points_as_satisfied(app: Flask) -> None:
    """Both responses score CS3 1 point and every other indicator 2 (``_one_stop_round``)."""
    round_id, _token = _one_stop_round(app)
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        table = indices.round_index(round_, ["province"])
        assert table.find("province", index="CS1", measure="top2box").estimate == 100.0
        assert table.find("province", index="CS3", measure="top2box").estimate == 0.0
        assert table.find("province", index="CS3", measure="mean").estimate == 1.0
        assert table.find("province", index="CS9", measure="top2box").n_answering == 1
