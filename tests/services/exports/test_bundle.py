"""The reproduction bundle: every file there, the data equal to the CSV export, and reproduce.R
run by R's survey package (an implementation independent of ours: Lumley's svydesign,
svytotal and svycontrast) giving the product's overall index and SE for the province and the
unit it names."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from survey.extensions import db
from survey.models import DossierCount, Response, Round, RoundUnit, utcnow
from survey.services.demo import build_demo_province, simulate_responses
from survey.services.exports import bundle
from survey.services.exports import microdata as exports
from survey.services.results.indices import round_index
from tests.factories import make_round, make_unit


def _demo_round(responses: int) -> Round:
    """The demo province with ``responses`` simulated answers, and one cell's dossier count
    removed so that some responses carry no weight (they are in no stratum)."""
    now = utcnow()
    round_ = build_demo_province(now=now)
    simulate_responses(round_, responses, now=now)
    unit_id, area_id = db.session.execute(
        select(Response.unit_id, Response.service_area_id).order_by(Response.id).limit(1)
    ).one()
    db.session.execute(
        delete(DossierCount).where(
            DossierCount.round_id == round_.id,
            DossierCount.unit_id == unit_id,
            DossierCount.service_area_id == area_id,
        )
    )
    db.session.commit()
    return round_


def _r_with_survey() -> str | None:
    """Why R cannot check the bundle here, or None when it can."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript is not installed"
    probe = subprocess.run(
        [rscript, "-e", "library(survey)"], capture_output=True, text=True, check=False
    )
    return None if probe.returncode == 0 else "R's survey package is not installed"


def test_the_bundle_holds_every_file_and_the_csv_export(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        round_ = _demo_round(300)
        # A name typed with a line break must not turn the rest of it into script code.
        db.session.execute(
            update(RoundUnit).values(unit_name=RoundUnit.unit_name + '\nquit("no")')
        )
        db.session.commit()
        path = tmp_path / "bundle.zip"
        count = exports.write_responses(round_, "bundle", path, now=utcnow())
        plain = io.BytesIO()
        exports.write_csv(round_, plain)
        t = bundle.target(round_)
    assert count == 300
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(bundle.FILES)
        assert archive.read("data.csv") == plain.getvalue()
        codebook = archive.read("codebook.csv").decode("utf-8-sig")
        readme = archive.read("README.txt").decode()
        scripts = {n: archive.read(n).decode() for n in bundle.FILES if n.startswith("reproduce")}
    assert codebook.startswith("variable,label,values") and "weight" in codebook
    assert "không áp dụng" in readme and "not applicable" in readme and "N_cell / n_cell" in readme
    assert t.province is not None and t.unit_row is not None and t.unit is not None
    # The weights are the overall index's (they add up to one) and every script starts with
    # what it reproduces and the product's numbers.
    assert sum(t.weights.values()) == pytest.approx(1.0)
    # Every weighted criterion is one the index table scores (it has satisfied answers).
    assert len(t.weights) == 22 and all(t.satisfied.values())
    for name, text in scripts.items():
        top = text[:2500]
        assert f"{t.province.estimate:.8f}" in top and f"{t.unit_row.se:.8f}" in top, name
        assert f"unit {t.unit}" in top, name
        comments, code = text.split("\n\n", 1)
        assert all(line.startswith(("#", "*")) for line in comments.splitlines()), name
        assert 'quit("no")' not in code, name
    assert 'options(survey.lonely.psu = "adjust")' in scripts["reproduce.R"]
    assert "singleunit(centered)" in scripts["reproduce.do"]
    assert "CSPLAN ANALYSIS" in scripts["reproduce.sps"]
    assert "/POPSIZE VARIABLE=dossiers" in scripts["reproduce.sps"]


def test_reproduce_r_gives_the_index_table(app: Flask, tmp_path: Path) -> None:
    """R's survey package on the unzipped bundle equals round_index to 1e-6 (percent)."""
    missing = _r_with_survey()
    if missing:
        pytest.skip(f"{missing}: apt-get install r-cran-survey (Debian) to run this check")
    with app.app_context():
        round_ = _demo_round(400)
        path = tmp_path / "bundle.zip"
        exports.write_responses(round_, "bundle", path, now=utcnow())
        table = round_index(round_)
        unit = bundle.target(round_).unit
        rows = {
            "province": table.find(
                Level.PROVINCE, kind=IndexKind.OVERALL, measure=IndexDefinition.TOP2BOX
            ),
            f"unit {unit}": table.find(
                Level.UNIT, kind=IndexKind.OVERALL, measure=IndexDefinition.TOP2BOX, unit=unit
            ),
        }
    assert rows["province"].n_excluded > 0  # a cell without a dossier count is left out
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
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
    assert set(printed) == set(rows)
    for label, row in rows.items():
        estimate, se = printed[label]
        assert estimate == pytest.approx(row.estimate, abs=1e-6), label
        assert se == pytest.approx(row.se, abs=1e-6), label
        assert 0 < se < 10


def test_export_command_writes_the_bundle(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        _demo_round(120)
    out = tmp_path / "round.zip"
    result = app.test_cli_runner().invoke(args=["export", "--format", "bundle", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 120 responses" in result.output
    with zipfile.ZipFile(out) as archive:
        assert "reproduce.R" in archive.namelist()


def test_a_round_without_responses_still_gives_a_bundle(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        round_ = make_round([make_unit("U01")])
        db.session.commit()
        path = tmp_path / "empty.zip"
        assert exports.write_responses(round_, "bundle", path, now=utcnow()) == 0
    with zipfile.ZipFile(path) as archive:
        script = archive.read("reproduce.R").decode()
    assert "no counted responses" in script
