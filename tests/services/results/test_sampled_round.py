"""A sampled round's estimates: the weights after nonresponse adjustment are the hand-worked
ones, they reach every export, the method says which kind of round it is, and R's survey
package on the exported data (strata, weights, fpc) gives the product's index and its SE."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import DossierCount, Invitation, Round, SampleFrameRow, Unit, utcnow
from survey.services.exports import microdata as exports
from survey.services.questionnaires.frozen import questionnaire_spec
from survey.services.responses.abuse import server_key
from survey.services.responses.recording import AnswerValue
from survey.services.results.indices import round_index
from survey.services.results.pages import round_results
from survey.services.rounds.sample_answers import record_invitation_answer
from survey.services.rounds.sampling import draw_sample, import_frame
from tests.factories import make_area, make_round, make_unit
from tests.services.exports.test_bundle import _r_with_survey

HEADER = "ma_don_vi,ma_linh_vuc,ma_ho_so,ngay_hoan_thanh\n"
# Strata: U01/DD 200 dossiers, U01/HT 100, U02/HT 50; an equal allocation of 30 draws 10 from
# each. 8 answer in U01/DD, nobody in U01/HT, 3 in U02/HT.
FRAME = (("U01", "DD", 200, 8), ("U01", "HT", 100, 0), ("U02", "HT", 50, 3))


def _sampled_round(trim: float | None = 3.5) -> Round:
    from survey.models import Role
    from survey.services.accounts.users import create_user

    land, civil = make_area("DD", "Đất đai", "Land"), make_area("HT", "Hộ tịch", "Civil status")
    make_unit("U01", "Sở Tài nguyên", areas=[land, civil])
    make_unit("U02", "UBND xã A", areas=[civil])
    round_ = make_round(list(db.session.scalars(select(Unit))), name="Đợt chọn mẫu")
    round_.kind = "sample"
    admin = create_user(
        username="admin", password="Sóng-biển-Cần-Thơ-2026-xanh", role=Role.ADMIN, now=utcnow()
    )
    key = server_key("DOSSIER_CODE_KEY")
    lines = [HEADER] + [
        f"{u},{a},000.00.{u}.{a}-{i:05d},2026-03-{1 + i % 28:02d}\n"
        for u, a, n, _r in FRAME
        for i in range(n)
    ]
    import_frame(round_, "".join(lines).encode(), key=key, now=utcnow(), actor=admin)
    draw_sample(
        round_,
        method="equal",
        total=30,
        seed=2026,
        key=key,
        now=utcnow(),
        actor=admin,
        trim_ratio=trim,
    )
    db.session.commit()
    spec = questionnaire_spec(round_.template_version)
    rng = np.random.default_rng(5)
    answering = {(u, a): r for u, a, _n, r in FRAME}
    opening: dict[int, set[int]] = {}
    for item in spec.items:
        if item.condition_item_id is not None:
            opening.setdefault(item.condition_item_id, set()).update(item.condition_values)
    for invitation in db.session.scalars(
        select(Invitation).where(Invitation.round_id == round_.id).order_by(Invitation.id)
    ).all():
        row = invitation.frame_row
        cell = (row.unit.code, row.service_area.code)
        if answering[cell] == 0:
            continue
        answering[cell] -= 1
        # Every scale question answered; a question others depend on (have you complained?)
        # answered so that they apply too, so that every criterion has answers.
        answers = [
            AnswerValue(
                item.id,
                value=int(
                    sorted(opening[item.id])[0]
                    if item.id in opening
                    else rng.choice([v for v, _vi, _en in item.points()])
                ),
            )
            for item in spec.items
            if item.scale not in ("text", "choice")
        ]
        record_invitation_answer(
            round_,
            invitation,
            answers,
            mode="paper" if invitation.id % 2 else "self_web",
            idempotency_key=f"test-{invitation.id}",
            now=utcnow(),
        )
    return round_


def test_the_weights_are_the_inverse_selection_probabilities_adjusted_for_nonresponse(
    app: Flask,
) -> None:
    with app.test_request_context():
        round_ = _sampled_round()
        # U01's strata form one class (U01/HT has no respondent): d = 20 and 10, the class
        # drew 10 x 20 + 10 x 10 = 300 and heard from 8 x 20 = 160, so w = 20 x 300/160 = 37.5;
        # U02/HT: 50 / 3. The median weight is 37.5, so the cap 3.5 x 37.5 trims nothing.
        weights = {(r[3], r[5]): (r[8], r[10]) for r in exports.rows(round_)}
        assert weights == {("U01", "DD"): (200, 37.5), ("U02", "HT"): (50, pytest.approx(50 / 3))}
        names = [v.name for v in exports.variables(round_)]
        modes = {r[names.index("mode")] for r in exports.rows(round_)}
        assert modes == {"paper", "self_web"} and {
            r[names.index("desk")] for r in exports.rows(round_)
        } == {""}
        table = round_index(round_)
        province = table.find(Level.PROVINCE, kind=IndexKind.OVERALL)
        assert province.n == 11
        results = round_results(round_, None)
        method = " ".join(results.method_statements())
        assert "Đợt chọn mẫu" in method and "không gộp" in method
        assert "Mẫu ngẫu nhiên phân tầng" in table.caveat_vi
        assert db.session.scalar(select(SampleFrameRow.id).limit(1)) is not None


def test_r_survey_on_the_exported_sample_gives_the_products_estimates(
    app: Flask, tmp_path: Path
) -> None:
    """reproduce.R (svydesign(ids=~1, strata=~cell, weights=~weight, fpc=~dossiers)) on the
    exported bundle equals round_index to 1e-6."""
    missing = _r_with_survey()
    if missing:
        pytest.skip(f"{missing}: apt-get install r-cran-survey (Debian) to run this check")
    with app.test_request_context():
        round_ = _sampled_round()
        path = tmp_path / "bundle.zip"
        exports.write_responses(round_, "bundle", path, now=utcnow())
        table = round_index(round_)
        expected = {
            "province": table.find(Level.PROVINCE, kind=IndexKind.OVERALL),
            "unit U01": table.find(Level.UNIT, kind=IndexKind.OVERALL, unit="U01"),
            "unit U02": table.find(Level.UNIT, kind=IndexKind.OVERALL, unit="U02"),
        }
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    readme = " ".join((folder / "README.txt").read_text(encoding="utf-8").split())
    assert "Sampled round" in readme and "N_cell / n_cell" not in readme
    script = " ".join((folder / "reproduce.R").read_text(encoding="utf-8").split())
    assert "adjusted for nonresponse" in script
    run = subprocess.run(
        ["Rscript", "reproduce.R"], cwd=folder, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    printed = {
        label: (float(estimate), float(se))
        for label, estimate, se in re.findall(
            r"^(.+): estimate (\S+) SE (\S+)$", run.stdout, flags=re.MULTILINE
        )
    }
    assert set(printed) == {"province", "unit U01"} or set(printed) == {"province", "unit U02"}
    for label, (estimate, se) in printed.items():
        row = expected[label]
        assert estimate == pytest.approx(row.estimate, abs=1e-6), label
        assert se == pytest.approx(row.se, abs=1e-6), label
        assert se > 0


def test_a_qr_round_of_the_same_period_is_shown_beside_it_never_pooled(app: Flask) -> None:
    from survey.services.demo import simulate_responses
    from survey.services.results.pages import companions
    from tests.factories import make_desk

    with app.test_request_context():
        sampled = _sampled_round()
        units = list(db.session.scalars(select(Unit)))
        for unit in units:
            make_desk(unit)
        qr = make_round(units, name="Đợt QR cùng kỳ")
        for unit in units:
            for area in unit.service_areas:
                db.session.add(
                    DossierCount(
                        round_id=qr.id, unit_id=unit.id, service_area_id=area.id, dossiers=500
                    )
                )
        simulate_responses(qr, 40, now=utcnow())
        later = make_round(units, name="Đợt QR năm sau", now=utcnow().replace(year=2099))
        db.session.commit()
        shown = companions(sampled)
        assert [(c.round.id, c.kind) for c in shown] == [(sampled.id, "sample"), (qr.id, "qr")]
        assert later.id not in [c.round.id for c in shown]  # another period
        assert [c.row.n for c in shown if c.row] == [11, 40]
        for c in shown:
            own = round_index(c.round).find(Level.PROVINCE, kind=IndexKind.OVERALL)
            assert c.row is not None and c.row.estimate == own.estimate
        assert [c.round.id for c in companions(qr)] == [qr.id, sampled.id]


def test_a_published_sampled_round_is_frozen_and_rederives_to_the_same_numbers(
    app: Flask, client: FlaskClient
) -> None:
    from survey.models import RoundState
    from survey.services.results.snapshots import rederive
    from survey.services.rounds.lifecycle import transition_round

    with app.test_request_context():
        round_ = _sampled_round()
        before = round_index(round_).find(Level.PROVINCE, kind=IndexKind.OVERALL)
        transition_round(round_, RoundState.CLOSED, now=utcnow())
        transition_round(round_, RoundState.PUBLISHED, now=utcnow())
        round_.is_public = True
        db.session.commit()
        after = round_index(round_).find(Level.PROVINCE, kind=IndexKind.OVERALL)
        assert (after.estimate, after.se) == (before.estimate, before.se)
        check = rederive(round_)
        assert check.same_responses and check.differences == ()
        rid = round_.id
    page = client.get(f"/ket-qua/{rid}").get_data(as_text=True)
    assert "Đợt chọn mẫu" in page and "Mẫu ngẫu nhiên phân tầng" in page


def test_a_sampled_rounds_unit_page_has_no_desks(app: Flask, client: FlaskClient) -> None:
    from tests.admin.conftest import login

    with app.test_request_context():
        round_ = _sampled_round()
        rid = round_.id
        uid = db.session.scalars(select(Unit.id).where(Unit.code == "U01")).one()
    login(client, "admin", "Sóng-biển-Cần-Thơ-2026-xanh")
    page = client.get(f"/admin/rounds/{rid}/results/units/{uid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sở Tài nguyên" in html and "Theo quầy" not in html and "—</span>" not in html
    assert "Theo lĩnh vực của đơn vị" in html
