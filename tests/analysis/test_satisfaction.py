"""The satisfaction layer checked against the general estimators (an independent computation of
the same design) and against arithmetic by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import estimators
from analysis.design import Design
from analysis.satisfaction import (
    CriterionSpec,
    IndexRow,
    Level,
    Measure,
    Responses,
    TemplateSpec,
    Verdict,
    change,
    cronbach_alpha,
    index_table,
    rank_ranges,
    target_verdict,
    weigh,
)

TEMPLATE = TemplateSpec(
    (
        CriterionSpec("A1", "A", "HC"),
        CriterionSpec("A2", "A", "HC"),
        CriterionSpec("B1", "B", "HC"),
        CriterionSpec("B2", "B", "HC"),
        CriterionSpec("B3", "B", "HC"),
    )
)


def _round(seed: int = 5, n: int = 600) -> tuple[Responses, dict[str, float]]:
    rng = np.random.default_rng(seed)
    units = rng.choice(["U1", "U2", "U3"], size=n, p=[0.5, 0.3, 0.2])
    areas = rng.choice(["HT", "DD"], size=n)
    shift = np.where(units == "U1", 0.4, np.where(units == "U2", 0.0, -0.5))
    answers = np.clip(np.rint(3.8 + shift[:, None] + rng.normal(0, 0.9, (n, 5))), 1, 5)
    answers[rng.random((n, 5)) < 0.06] = np.nan  # blanks and not-applicable
    dossiers = {
        f"{u}:{a}": float(rng.integers(400, 2000)) for u in ("U1", "U2", "U3") for a in ("HT", "DD")
    }
    return Responses(units, areas, answers), dossiers


def _design(responses: Responses, dossiers: dict[str, float]) -> tuple[Design, np.ndarray]:
    weighting = weigh(responses, dossiers)
    design = Design.build(
        n=len(responses.unit),
        strata=weighting.cell,
        weights=weighting.weights,
        fpc=[weighting.population],
    )
    return design, weighting.cell


def _find(
    rows: list[IndexRow], level: Level, domain: str, index: str, measure: Measure
) -> IndexRow:
    return next(
        r
        for r in rows
        if r.level == level and r.domain == domain and r.index == index and r.measure == measure
    )


def test_weights_are_dossiers_over_responses_per_cell() -> None:
    responses = Responses(
        np.array(["U1", "U1", "U1", "U2"]), np.array(["HT", "HT", "DD", "HT"]), np.full((4, 5), 5.0)
    )
    weighting = weigh(responses, {"U1:HT": 300, "U1:DD": 50, "U3:HT": 10})
    # U1:HT has 2 responses and 300 dossiers; U1:DD 1 and 50; U2:HT has no count.
    assert list(weighting.weights) == [150.0, 150.0, 50.0, 0.0]
    assert weighting.responses_without_count == ("U2:HT",)
    assert weighting.counts_without_responses == ("U3:HT",)
    assert "within a cell" in weighting.caveat[1].lower()


def test_cells_with_fewer_dossiers_than_responses_are_reported() -> None:
    responses = Responses(np.array(["U1"] * 3), np.array(["HT"] * 3), np.full((3, 5), 4.0))
    assert weigh(responses, {"U1:HT": 2}).fewer_dossiers_than_responses == ("U1:HT",)


def test_index_table_equals_the_general_estimators() -> None:
    responses, dossiers = _round()
    weighting = weigh(responses, dossiers)
    rows = index_table(responses, TEMPLATE, weighting)
    design, _cells = _design(responses, dossiers)
    satisfied = np.where(
        np.isnan(responses.answers), np.nan, np.isin(responses.answers, [4, 5]).astype(float)
    )
    for unit in ("U1", "U2", "U3"):
        domain = responses.unit == unit
        # Criterion A1: a proportion with the Korn-Graubard interval.
        general = estimators.proportion(design, satisfied[:, 0], domain, ci="beta")
        ours = _find(rows, Level.UNIT, unit, "A1", Measure.TOP2BOX)
        assert ours.estimate == pytest.approx(100 * general.value, rel=1e-12)
        assert ours.se == pytest.approx(100 * general.se, rel=1e-9)
        assert ours.ci_low == pytest.approx(100 * general.ci_low, rel=1e-9)
        assert ours.df == general.df
        # Overall: the mean of elements A (2 criteria) and B (3): weights 1/4, 1/4, 1/6 x 3.
        overall = estimators.composite(
            design,
            [satisfied[:, j] for j in range(5)],
            domain,
            item_weights=[1 / 4, 1 / 4, 1 / 6, 1 / 6, 1 / 6],
        )
        mine = _find(rows, Level.UNIT, unit, "overall", Measure.TOP2BOX)
        assert mine.estimate == pytest.approx(100 * overall.value, rel=1e-12)
        assert mine.se == pytest.approx(100 * overall.se, rel=1e-9)
    # The province and the mean-score form.
    province = _find(rows, Level.PROVINCE, "", "B", Measure.MEAN)
    element_b = estimators.composite(
        design, [responses.answers[:, j] for j in (2, 3, 4)], None, item_weights=[1 / 3] * 3
    )
    # The mean-score element is the mean of its criteria's mean scores, with their covariances.
    means = [estimators.mean(design, responses.answers[:, j]).value for j in (2, 3, 4)]
    assert province.estimate == pytest.approx(np.mean(means), rel=1e-12)
    assert province.estimate == pytest.approx(element_b.value, rel=1e-12)
    assert province.se == pytest.approx(element_b.se, rel=1e-9)


def test_every_level_and_index_is_reported() -> None:
    responses, dossiers = _round()
    rows = index_table(responses, TEMPLATE, weigh(responses, dossiers))
    kinds = {(r.level, r.kind) for r in rows}
    for level in Level:
        assert {(level, "criterion"), (level, "element"), (level, "overall")} <= kinds
    cells = {r.domain for r in rows if r.level == Level.CELL}
    assert cells == set(dossiers)
    for r in rows:
        assert r.ci_low <= r.estimate <= r.ci_high


def test_target_verdicts_follow_the_interval() -> None:
    row = IndexRow(
        Level.UNIT,
        "U1",
        "overall",
        "overall",
        Measure.TOP2BOX,
        91.0,
        1.0,
        50,
        89.0,
        93.0,
        300,
        300,
        300.0,
        None,
    )
    assert target_verdict(row, 85) == Verdict.ABOVE
    assert target_verdict(row, 90) == Verdict.CANNOT_TELL  # the estimate is above, the CI is not
    assert target_verdict(row, 95) == Verdict.BELOW


def test_rank_ranges_show_which_units_cannot_be_told_apart() -> None:
    def row(domain: str, low: float, high: float) -> IndexRow:
        return IndexRow(
            Level.UNIT,
            domain,
            "overall",
            "overall",
            Measure.TOP2BOX,
            (low + high) / 2,
            1,
            30,
            low,
            high,
            100,
            100,
            100.0,
            None,
        )

    ranges = {
        r.domain: (r.best, r.worst)
        for r in rank_ranges([row("A", 90, 95), row("B", 88, 92), row("C", 70, 80)])
    }
    assert ranges == {"A": (1, 2), "B": (1, 2), "C": (3, 3)}


def test_change_between_rounds() -> None:
    now = IndexRow(
        Level.UNIT,
        "U1",
        "overall",
        "overall",
        Measure.TOP2BOX,
        90.0,
        1.5,
        40,
        87.0,
        93.0,
        200,
        200,
        200.0,
        None,
    )
    before = IndexRow(
        Level.UNIT,
        "U1",
        "overall",
        "overall",
        Measure.TOP2BOX,
        84.0,
        2.0,
        30,
        80.0,
        88.0,
        150,
        150,
        150.0,
        None,
    )
    c = change(now, before)
    assert c.estimate == pytest.approx(6.0) and c.se == pytest.approx(2.5)  # sqrt(1.5^2 + 2^2)
    assert c.df == 30 and c.significant


def test_cronbach_alpha_by_hand() -> None:
    # Three items, four respondents (the last has a blank: dropped listwise).
    items = np.array([[4, 5, 4], [2, 3, 3], [3, 3, 2], [5, 4, 5], [1, np.nan, 2]], dtype=float)
    # Complete cases: item variances (n-1) 5/3, 2.75/3, 5/3 -> sum 4.25; totals 13, 8, 8, 14
    # -> variance 30.75/3 = 10.25; alpha = 3/2 (1 - 4.25 / 10.25) = 0.878049.
    assert cronbach_alpha(items) == pytest.approx(1.5 * (1 - 4.25 / 10.25), rel=1e-12)
    assert math.isnan(cronbach_alpha(items[:, :1]))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one criterion"):
        TemplateSpec(())
    with pytest.raises(ValueError, match="unique"):
        TemplateSpec((CriterionSpec("A1", "A", "X"), CriterionSpec("A1", "A", "X")))
    responses, dossiers = _round(n=30)
    with pytest.raises(ValueError, match="one column per criterion"):
        index_table(
            Responses(responses.unit, responses.area, responses.answers[:, :2]),
            TEMPLATE,
            weigh(responses, dossiers),
        )
