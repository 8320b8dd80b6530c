"""Model-based estimates for small units: the page, its access, and the index export's rows.

The Fay-Herriot library itself is checked against R's sae package in
tests/analysis/test_small_area.py; here the product's inputs and outputs are checked by hand:
each unit's EBLUP is gamma * direct + (1 - gamma) * synthetic with gamma = A / (A + se^2),
A the fitted variance component and se the direct estimate's standard error from the round's
index table.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from survey.extensions import db
from survey.models import DossierCount, ItemRole, Role, Round, utcnow
from survey.services.accounts.users import create_user
from survey.services.responses.recording import AnswerValue, record_response
from survey.services.results.indices import round_index
from tests.admin.conftest import PASSWORD, login
from tests.factories import make_area, make_desk, make_round, make_unit

# unit code: (responses, chance of a satisfied answer); X12 has dossiers but no response.
UNITS = {
    "X01": (60, 0.92),
    "X02": (45, 0.85),
    "X03": (30, 0.70),
    "X04": (24, 0.88),
    "X05": (12, 0.60),
    "X06": (10, 0.95),
    "X07": (8, 0.75),
    "X08": (6, 0.80),
    "X09": (5, 0.50),
    "X10": (40, 0.78),
    "X11": (15, 0.90),
    "X12": (0, 0.0),
}


@pytest.fixture
def communes(app: Flask) -> int:
    rng = np.random.default_rng(20)
    with app.app_context():
        civil, land = make_area("HT"), make_area("DD", "Đất đai", "Land")
        units = {code: make_unit(code, f"UBND xã {code}", [civil, land]) for code in UNITS}
        desks = {code: make_desk(unit, areas=[civil, land]) for code, unit in units.items()}
        round_ = make_round(list(units.values()))
        for i, unit in enumerate(units.values()):
            for area, dossiers in ((civil, 200 + 40 * i), (land, 50 + 25 * (i % 4))):
                db.session.add(
                    DossierCount(
                        round_id=round_.id,
                        unit_id=unit.id,
                        service_area_id=area.id,
                        dossiers=dossiers,
                    )
                )
        db.session.commit()
        criteria = [i for i in round_.template_version.items if i.role == ItemRole.CRITERION]
        now = utcnow()
        for code, (count, chance) in UNITS.items():
            for k in range(count):
                satisfied = rng.random(len(criteria)) < chance
                answers = [
                    AnswerValue(item.id, value=int(rng.choice([4, 5])) if ok else 2)
                    for item, ok in zip(criteria, satisfied, strict=True)
                ]
                record_response(
                    round_=round_,
                    desk_id=desks[code].id,
                    unit_id=units[code].id,
                    service_area_id=(civil if k % 3 else land).id,
                    answers=answers,
                    idempotency_key=f"small-area-{code}-{k:03d}",
                    now=now,
                )
        create_user(username="analyst", password=PASSWORD, role=Role.ANALYST, now=now)
        create_user(
            username="officer",
            password=PASSWORD,
            role=Role.UNIT_OFFICER,
            unit=units["X01"],
            now=now,
        )
        db.session.commit()
        return round_.id


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username)
    return client


def _cells(html: str, code: str) -> list[str]:
    row = html.split(f'<span class="hint">{code}</span>', 1)[1].split("</tr>", 1)[0]
    return [cell.split("<", 1)[0].strip() for cell in row.split('<td class="num">')[1:]]


def _number(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def test_model_estimates_shrink_direct_towards_synthetic_by_precision(
    app: Flask, communes: int
) -> None:
    page = _client(app, "analyst").get(
        f"/admin/rounds/{communes}/results/small-area?level=department"
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ước lượng theo mô hình" in html and "không dùng để kết luận" in html
    variance = float(html.split("σ²ᵤ: ", 1)[1].split(";", 1)[0].replace(",", "."))
    with app.app_context():
        round_ = db.session.get(Round, communes)
        assert round_ is not None
        table = round_index(round_)
        direct = {
            r.unit: r
            for r in table.rows(
                level=Level.UNIT, kind=IndexKind.OVERALL, measure=IndexDefinition.TOP2BOX
            )
        }
    shrinkage: dict[str, float] = {}
    for code, (count, _chance) in UNITS.items():
        cells = _cells(html, code)
        n, shown_direct, _interval, model, model_interval, gamma = cells
        assert int(n.replace(".", "")) == count
        if count == 0:
            # No response: the synthetic estimate, with an interval from its MSE.
            assert shown_direct == "—" and "tổng hợp" in html.split(code, 1)[1].split("</tr>")[0]
            continue
        row = direct[code]
        assert _number(shown_direct) == pytest.approx(row.estimate, abs=0.006)
        # gamma = A / (A + se^2), by hand from the page's A and the table's se (A is printed
        # with four decimals: the tolerance follows).
        expected = variance / (variance + row.se**2)
        assert _number(gamma) == pytest.approx(expected, abs=0.006)
        shrinkage[code] = expected
        low, high = (_number(x) for x in model_interval.split("–"))
        assert 0 <= low < _number(model) < high <= 100
    # The more responses (the smaller se), the more the direct estimate counts.
    assert shrinkage["X01"] > shrinkage["X09"]


def test_officers_do_not_get_the_model_page(app: Flask, communes: int) -> None:
    page = _client(app, "officer").get(f"/admin/rounds/{communes}/results/small-area")
    assert page.status_code == 403


def test_index_export_carries_model_rows_without_verdicts(app: Flask, communes: int) -> None:
    answer = _client(app, "analyst").get(f"/admin/rounds/{communes}/results/indices")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    model = {r["unit"]: r for r in rows if r["measure"] == "model"}
    assert set(model) == set(UNITS)
    for row in model.values():
        assert row["level"] == "unit" and row["kind"] == "overall"
        assert "model" in row["flags"].split(";") and row["verdict"] == ""
        assert float(row["ci_low"]) <= float(row["estimate"]) <= float(row["ci_high"])
        assert math.isfinite(float(row["se"]))
    assert "synthetic" in model["X12"]["flags"].split(";")
