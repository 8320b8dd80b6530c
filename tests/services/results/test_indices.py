"""round_index against the analysis library run independently on the responses export.

The reference path reads the round through ``survey.services.exports.microdata.rows`` (the
analyst's CSV, one row per counted response) into ``analysis.Responses.from_frame`` and runs
``analysis.index_table`` on all responses at once with weights from the dossier counts; the
service reads the database in chunks and merges per-cell statistics. Both must agree.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select, update

from analysis.satisfaction import (
    DEFAULT_LEVELS,
    IndexKind,
    Level,
    Responses,
    index_table,
    subtrees_from_parents,
    weights_from_dossiers,
)
from survey.extensions import db
from survey.models import Response, ResponseStatus, Round, utcnow
from survey.services.demo import build_demo_province, simulate_responses
from survey.services.exports import microdata as exports
from survey.services.responses.counting import design_frame
from survey.services.results import indices, tally
from tests.factories import make_round, make_unit


def _demo_round(responses: int) -> int:
    now = utcnow()
    round_ = build_demo_province(now=now)
    simulate_responses(round_, responses, now=now)
    db.session.commit()
    return round_.id


def reference_table(round_: Round) -> object:
    """``analysis.index_table`` on the export's rows: the test's independent computation."""
    template = indices.template_index(round_.template_version).spec
    columns = [v.name for v in exports.variables(round_)]
    frame = pd.DataFrame(list(exports.rows(round_)), columns=columns)
    answers = frame[[c for c in template.codes]].apply(pd.to_numeric, errors="coerce")
    responses = Responses.build(
        template,
        response_id=frame["response_id"].to_numpy(),
        unit=frame["unit"].to_numpy(),
        area=frame["area"].to_numpy(),
        answers={c: answers[c].to_numpy(dtype=float) for c in template.codes},
    )
    design = design_frame(round_)
    dossiers = {
        (design.units[u][0], design.areas[a]): float(n) for (u, a), n in design.dossiers.items()
    }
    # Units with sub-units are also reported with their subtree (the unit tree as stored).
    parents = {
        code: design.units.get(design.parents.get(uid) or 0, ("",))[0] or None
        for uid, (code, _name) in design.units.items()
    }
    return index_table(
        responses,
        template,
        weights_from_dossiers(responses, dossiers),
        levels=(*DEFAULT_LEVELS, Level.UNIT_TREE),
        subtrees=subtrees_from_parents(parents),
    )


def _same(ours: object, theirs: object) -> None:
    a = ours.to_records(decimals=None)  # type: ignore[attr-defined]
    b = theirs.to_records(decimals=None)  # type: ignore[attr-defined]
    assert len(a) == len(b) > 0
    key = ("level", "unit", "area", "kind", "index", "measure")
    by_key = {tuple(r[k] for k in key): r for r in b}
    for row in a:
        other = by_key[tuple(row[k] for k in key)]
        for name in ("estimate", "se", "ci_low", "ci_high", "n", "n_answering", "df"):
            x, y = row[name], other[name]
            if x is None or (isinstance(x, float) and math.isnan(x)):
                assert y is None or math.isnan(y), (row, other)
            else:
                assert x == pytest.approx(y, rel=1e-9, abs=1e-9), (name, row, other)
        assert row["flags"] == other["flags"]


def test_round_index_equals_index_table_on_the_export(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tally, "CHUNK", 97)  # many chunks: statistics merged across them
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(700))
        assert round_ is not None
        table = indices.round_index(round_)
        _same(table, reference_table(round_))
        province = table.find(Level.PROVINCE, kind=IndexKind.OVERALL)
        assert province.n == 700
        assert 0 < province.estimate < 100
        assert province.ci_low < province.estimate < province.ci_high


def test_an_exclusion_changes_the_table_and_the_cache_follows(app: Flask) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(300))
        assert round_ is not None
        before = indices.round_index(round_)
        assert indices.round_index(round_) is before  # cached
        first = db.session.scalars(select(Response.id).order_by(Response.id).limit(40)).all()
        db.session.execute(
            update(Response)
            .where(Response.id.in_(first))
            .values(status=ResponseStatus.EXCLUDED.value, exclusion_reason="test")
        )
        db.session.commit()
        after = indices.round_index(round_)
        assert after is not before
        assert after.find(Level.PROVINCE, kind=IndexKind.OVERALL).n == 260
        _same(after, reference_table(round_))


def test_a_round_without_responses_gives_an_empty_table(app: Flask) -> None:
    with app.app_context():
        round_ = make_round([make_unit("U01")])
        db.session.commit()
        table = indices.round_index(round_)
        assert len(table) == 0
        assert table.rows(level=Level.UNIT) == []
        assert table.caveat_en
        assert np.asarray(table.estimate).size == 0
