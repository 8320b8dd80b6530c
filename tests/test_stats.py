"""``flask stats``: responses per hour, counted and excluded, and failed logins, in local time."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from survey.extensions import db
from survey.models import utcnow
from survey.services.audit import record_event
from survey.services.responses.recording import record_response
from survey.services.rounds.operating_stats import hourly_stats
from tests.factories import make_area, make_desk, make_round, make_unit

NOW = datetime(2026, 11, 23, 10, 30)  # UTC; 17:30 in Hà Nội


def _site(app: Flask, times: list[tuple[datetime, str | None]]) -> int:
    with app.test_request_context():
        area = make_area()
        unit = make_unit("STP", "Sở Tư pháp", [area])
        desk = make_desk(unit)
        round_ = make_round([unit], now=NOW)  # open at the fixed moments below
        for n, (moment, reason) in enumerate(times):
            record_response(
                round_=round_,
                desk_id=desk.id,
                unit_id=desk.unit_id,
                service_area_id=area.id,
                answers=[],
                idempotency_key=f"stats-{n}",
                now=moment,
                exclusion_reason=reason,
            )
        record_event(action="login.failed", entity_type="login", entity_id="x", now=NOW)
        db.session.commit()
        return round_.id


def test_hours_in_local_time_with_counted_excluded_and_failed_logins(app: Flask) -> None:
    at = NOW.replace(minute=0)
    _site(
        app,
        [
            (at - timedelta(minutes=50), None),
            (at - timedelta(minutes=40), None),
            (at - timedelta(minutes=10), "answered in 3 s, under the round's minimum of 20 s"),
            (at + timedelta(minutes=5), None),
            (at - timedelta(hours=5), None),  # outside a three-hour window
        ],
    )
    with app.app_context():
        stats = hourly_stats(now=NOW, hours=3, round_=None)
    assert [(r.hour.hour, r.counted, r.excluded, r.login_failures) for r in stats.hours] == [
        (15, 0, 0, 0),
        (16, 2, 1, 0),
        (17, 1, 0, 1),
    ]
    assert stats.hours[1].excluded_share == 1 / 3
    assert dict(stats.exclusion_reasons) == {"answered": 1}


def test_flask_stats_prints_the_table_for_the_latest_round(app: Flask) -> None:
    round_id = _site(app, [(utcnow(), None), (utcnow(), "honeypot field filled (automated)")])
    result = app.test_cli_runner().invoke(args=["stats", "--hours", "2"])
    assert result.exit_code == 0, result.output
    assert f"round #{round_id}" in result.output
    total = next(line for line in result.output.splitlines() if line.startswith("total"))
    assert total.split()[1:4] == ["1", "1", "50.0%"]
    assert "1 x honeypot field filled" in result.output
    assert "request log" in app.test_cli_runner().invoke(args=["stats", "--help"]).output
    missing = app.test_cli_runner().invoke(args=["stats", "--round", "999"])
    assert missing.exit_code != 0 and "no round with id 999" in missing.output
