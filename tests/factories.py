"""Small composable builders for tests; call them inside an application context."""

from __future__ import annotations

from datetime import datetime, timedelta

from survey.extensions import db
from survey.models import (
    Desk,
    Round,
    RoundState,
    ServiceArea,
    TemplateVersion,
    Unit,
    UnitLevel,
    utcnow,
)
from survey.services.questionnaires.templates import latest_version, load_starter_templates
from survey.services.rounds.lifecycle import create_round, transition_round


def make_level(code: str = "department") -> UnitLevel:
    level = db.session.get(UnitLevel, code)
    if level is None:
        level = UnitLevel(code=code, name=code, name_en=code)
        db.session.add(level)
        db.session.flush()
    return level


def make_area(
    code: str = "HT", name: str = "Hộ tịch", name_en: str = "Civil status"
) -> ServiceArea:
    area = ServiceArea(code=code, name=name, name_en=name_en)
    db.session.add(area)
    db.session.flush()
    return area


def make_unit(
    code: str = "U01",
    name: str = "Sở Tư pháp",
    areas: list[ServiceArea] | None = None,
    parent: Unit | None = None,
) -> Unit:
    unit = Unit(code=code, name=name, level_code=make_level().code, parent=parent)
    unit.service_areas = list(areas or [])
    db.session.add(unit)
    db.session.flush()
    return unit


def make_desk(unit: Unit, code: str | None = None, areas: list[ServiceArea] | None = None) -> Desk:
    desk = Desk(unit=unit, code=code or f"{unit.code}-Q{len(unit.desks) + 1}", name="Quầy số 1")
    desk.service_areas = list(areas or [])
    db.session.add(desk)
    db.session.flush()
    return desk


def sipas_version() -> TemplateVersion:
    # The two templates the tests were written against; tests of the other shipped templates
    # load them by name.
    load_starter_templates(now=utcnow(), names=("sipas.json", "one_stop.json"))
    version = latest_version("sipas")
    assert version is not None
    return version


def make_round(
    units: list[Unit],
    *,
    version: TemplateVersion | None = None,
    state: RoundState = RoundState.OPEN,
    now: datetime | None = None,
    name: str = "Đợt 1",
    min_answer_seconds: int = 0,
) -> Round:
    """A round over ``units``. Tests answer instantly, so the minimum answering time that
    flags bots is off unless a test asks for it."""
    now = now or utcnow()
    round_ = create_round(
        name=name,
        version=version or sipas_version(),
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        units=[(u, 100) for u in units],
        now=now,
    )
    round_.min_answer_seconds = min_answer_seconds
    if state != RoundState.DRAFT:
        transition_round(round_, RoundState.OPEN, now=now)
    if state in (RoundState.CLOSED, RoundState.PUBLISHED):
        transition_round(round_, RoundState.CLOSED, now=now)
    if state == RoundState.PUBLISHED:
        transition_round(round_, RoundState.PUBLISHED, now=now)
    return round_
