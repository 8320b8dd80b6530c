"""Domains whose uncertainty cannot be measured (one response, one PSU per cell, a zero standard
error) and intervals cut at the ends of the scale, checked by hand (the arithmetic is written out
in each test; quantiles from R 4.2: qt(0.975, 3) = 3.18244630528371, binom.test(3, 4)$conf.int =
0.194120449683243 0.993690536790290)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.satisfaction import (
    IndexTable,
    Level,
    Responses,
    TemplateSpec,
    index_table,
    weights_from_dossiers,
)
from analysis.satisfaction.compare import Verdict, rank_table, verdict

TEMPLATE = TemplateSpec.from_tree({"HC": {"A": ["A1", "A2"]}})


def _table() -> IndexTable:
    # U1/HT: 4 responses from a cell of 4 dossiers (every dossier answered: SE 0).
    # U2/HT: 4 responses from 400 dossiers. U3/HT: a single response.
    responses = Responses.build(
        TEMPLATE,
        response_id=list(range(9)),
        unit=["U1"] * 4 + ["U2"] * 4 + ["U3"],
        area=["HT"] * 9,
        answers=[
            [5, 4],
            [5, 4],
            [5, 4],
            [2, 4],
            [5, 5],
            [5, 5],
            [5, 5],
            [4, 3],
            [5, 2],
        ],
    )
    dossiers = {("U1", "HT"): 4, ("U2", "HT"): 400, ("U3", "HT"): 50}
    return index_table(responses, TEMPLATE, weights_from_dossiers(responses, dossiers))


def test_a_census_cell_gets_the_korn_graubard_interval_on_its_count() -> None:
    table = _table()
    row = table.find(Level.UNIT, unit="U1", index="A1", kind="criterion", measure="top2box")
    # 3 of 4 satisfied, every dossier answered: p = 75%, SE 0, df = 4 - 1 = 3.
    assert row.estimate == pytest.approx(75.0) and row.se == 0.0 and row.df == 3
    # Never [75, 75]: Clopper-Pearson on n* = m (t_{m-1} / t_df)^2 = 4 (t_3 / t_3)^2 = 4, x = 3:
    # [B^-1(0.025; 3, 2), B^-1(0.975; 4, 1)] = R's binom.test(3, 4).
    assert row.ci_low == pytest.approx(19.4120449683243, rel=1e-9)
    assert row.ci_high == pytest.approx(99.3690536790290, rel=1e-9)
    assert row.ci_method == "beta"
    assert "cannot_tell" in row.flags
    # The interval lies above 10%, but a zero SE gives no verdict (domain.md, "Publishing").
    assert verdict(row, 10.0) == Verdict.CANNOT_TELL


def test_a_mean_score_without_variance_has_no_interval() -> None:
    table = _table()
    row = table.find(Level.UNIT, unit="U1", index="A2", kind="criterion", measure="mean")
    # Four answers of 4: mean 4, SE 0. No rule gives a mean score an interval from nothing.
    assert row.estimate == 4.0 and row.se == 0.0
    assert math.isnan(row.ci_low) and math.isnan(row.ci_high) and row.ci_method == "none"
    assert "cannot_tell" in row.flags
    assert verdict(row, 3.0) == Verdict.CANNOT_TELL
    # Its top-2-box share is 100%: the one-sided bound (0.025)^(1/4) = 39.7635364383525%.
    share = table.find(Level.UNIT, unit="U1", index="A2", kind="criterion", measure="top2box")
    assert share.ci_low == pytest.approx(39.7635364383525, rel=1e-9) and share.ci_high == 100


def test_one_response_cannot_be_told_apart() -> None:
    table = _table()
    for index, kind in (("A1", "criterion"), ("A", "element"), ("overall", "overall")):
        for measure in ("top2box", "mean"):
            row = table.find(Level.UNIT, unit="U3", index=index, kind=kind, measure=measure)
            assert row.n_answering == 1 and "cannot_tell" in row.flags
            assert not row.ci_high - row.ci_low <= 0  # no zero-width interval (NaN or wide)
            assert verdict(row, 50.0 if measure == "top2box" else 3.0) == Verdict.CANNOT_TELL
    # In a ranking it is told apart from nobody: U2 (100% on A1) and U1 (75%) are not ranked
    # against U3 whatever the gaps.
    ranks = {r.row.unit: (r.best, r.worst) for r in rank_table(table, index="A1")}
    assert ranks["U3"] == (1, 3)


def test_a_t_interval_cut_at_the_top_of_the_scale_says_so() -> None:
    table = _table()
    row = table.find(Level.UNIT, unit="U2", index="A1", kind="criterion", measure="mean")
    # Answers 5, 5, 5, 4 in a cell of 400 dossiers: mean 4.75; sample variance
    # (3 x 0.25^2 + 0.75^2) / 3 = 0.25; SE = sqrt((1 - 4/400) x 0.25 / 4) = sqrt(0.061875).
    se = math.sqrt(0.061875)
    assert row.estimate == pytest.approx(4.75) and row.se == pytest.approx(se)
    # 4.75 -+ t_3 SE = 4.75 -+ 3.18244630528371 x 0.248747 = [3.95838, 5.54162]: cut at 5.
    assert row.ci_low == pytest.approx(4.75 - 3.18244630528371 * se)
    assert row.ci_high == 5.0
    assert "clipped" in row.flags and "cannot_tell" not in row.flags
    unclipped = table.find(Level.UNIT, unit="U2", index="A2", kind="criterion", measure="mean")
    # 5, 5, 5, 3: mean 4.5, variance (3 x 0.5^2 + 1.5^2) / 3 = 1, SE = sqrt(0.99 / 4) = 0.4975,
    # 4.5 + 3.1824 x 0.4975 = 6.08: cut as well; the A2 top-2-box (a beta interval) is not.
    assert "clipped" in unclipped.flags
    share = table.find(Level.UNIT, unit="U2", index="A2", kind="criterion", measure="top2box")
    assert "clipped" not in share.flags


def test_no_interval_in_the_table_has_zero_width() -> None:
    table = _table()
    width = table.ci_high - table.ci_low
    assert not (np.isfinite(width) & (width <= 0)).any()
