"""The satisfaction index table, checked against three independent sources: arithmetic by hand on
a tiny round (written out in the test), R's survey package on a small literal round (R 4.2.2,
survey 4.1.1; the calls are quoted with the numbers), and this repository's general
design-based estimators (``analysis.estimators``, themselves checked against R) on random rounds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas
import pytest

from analysis import calibration, estimators
from analysis.design import Design, LonelyPSUError
from analysis.flags import reliability_flags
from analysis.intervals import CIMethod, proportion_interval
from analysis.satisfaction import (
    FLAGS,
    PSU,
    CellStats,
    IndexDefinition,
    IndexKind,
    IndexTable,
    ItemSpec,
    Level,
    Responses,
    TemplateSpec,
    cell_stats,
    index_table,
    index_table_from_stats,
    merge_stats,
    rake_to_margins,
    weights_from_dossiers,
)
from analysis.satisfaction.stats import groups_of, indicator_matrix
from analysis.weighting import Weighting

# A small round: id, unit, service area, desk, then the answers to A1 A2 B1 B2 and the overall
# question Q (NA = blank or not applicable). R reads the same text with read.table.
ROUND = """\
R01 U1 HT d1 5 4 5 4 5
R02 U1 HT d2 4 4 5 5 4
R03 U1 HT d1 2 3 3 NA 3
R04 U1 HT d2 NA 5 5 4 4
R05 U1 HT d1 2 NA NA 3 5
R06 U1 DD d1 5 3 5 4 NA
R07 U1 DD d2 NA 5 4 5 5
R08 U1 DD d1 5 4 4 NA NA
R09 U1 DD d2 5 5 3 4 5
R10 U1 DD d1 3 4 4 4 4
R11 U2 HT d3 5 4 NA 3 5
R12 U2 HT d4 3 4 4 NA 4
R13 U2 HT d3 4 4 NA 4 4
R14 U2 HT d4 3 4 3 2 3
R15 U2 HT d3 5 5 5 4 5
R16 U2 HT d4 3 2 3 2 3
R17 U2 HT d3 3 4 4 4 NA
R18 U2 HT d4 3 3 3 NA 4
R19 U2 HT d3 4 3 4 5 4
R20 U2 DD d3 3 4 3 4 3
R21 U2 DD d4 4 4 4 2 NA
R22 U2 DD d3 5 4 5 NA NA
R23 U2 DD d4 2 3 3 NA 4
R24 U2 DD d3 4 5 5 5 4
R25 U2 DD d4 3 3 2 4 3
R26 U3 HT d5 4 4 4 3 4
R27 U3 HT d6 4 NA 4 4 4
R28 U3 HT d5 2 2 3 NA NA
R29 U3 HT d6 1 3 2 4 NA
R30 U3 HT d5 4 3 3 3 5
R31 U3 HT d6 NA 4 4 3 3
R32 U3 HT d5 3 3 3 3 1
R33 U3 DD d5 1 3 4 5 5
R34 U3 DD d6 4 4 2 4 3
R35 U3 DD d5 4 3 3 5 3
R36 U3 DD d6 4 2 3 3 5
R37 U3 DD d5 5 4 4 4 3
"""
DOSSIERS = {
    ("U1", "HT"): 60,
    ("U1", "DD"): 45,
    ("U2", "HT"): 120,
    ("U2", "DD"): 30,
    ("U3", "HT"): 70,
    ("U3", "DD"): 25,
}
TEMPLATE = TemplateSpec.from_tree({"HC": {"A": ["A1", "A2"], "B": ["B1", "B2"]}}, overall="Q")


def literal_round() -> Responses:
    rows = [line.split() for line in ROUND.splitlines()]
    answers = [[math.nan if v == "NA" else float(v) for v in row[4:]] for row in rows]
    return Responses.build(
        TEMPLATE,
        response_id=[r[0] for r in rows],
        unit=[r[1] for r in rows],
        area=[r[2] for r in rows],
        desk=[r[3] for r in rows],
        answers=answers,
    )


def random_round(
    seed: int = 5, n: int = 500, template: TemplateSpec = TEMPLATE
) -> tuple[Responses, dict[tuple[str, str], float]]:
    """Three units of different satisfaction, two areas, two desks per unit, 6% blanks."""
    rng = np.random.default_rng(seed)
    units = rng.choice(["U1", "U2", "U3"], size=n, p=[0.5, 0.3, 0.2])
    areas = rng.choice(["HT", "DD"], size=n, p=[0.6, 0.4])
    desks = np.char.add(units, rng.choice(["a", "b"], size=n))
    shift = np.where(units == "U1", 0.4, np.where(units == "U2", 0.0, -0.5))
    k = len(template.items)
    answers = np.clip(np.rint(3.8 + shift[:, None] + rng.normal(0, 0.9, (n, k))), 1, 5)
    for j, item in enumerate(template.items):
        answers[:, j] = np.clip(answers[:, j], item.minimum, item.maximum)
    answers[rng.random((n, k)) < 0.06] = np.nan
    dossiers = {
        (u, a): float(rng.integers(400, 2000)) for u in ("U1", "U2", "U3") for a in ("HT", "DD")
    }
    responses = Responses.build(
        template,
        response_id=np.arange(n),
        unit=units,
        area=areas,
        desk=desks,
        answers=answers,
    )
    return responses, dossiers


def core_design(
    responses: Responses, weighting: Weighting, *, desks: bool = False, lonely: str = "fail"
) -> Design:
    """The same design for the general estimators: strata = cells, fpc = dossiers (or desks
    as clusters without fpc)."""
    cells = np.char.add(np.char.add(responses.unit_of_rows(), ":"), responses.area_of_rows())
    weights = weighting.row_weights(responses)
    if desks:
        assert responses.desk is not None and responses.desk_labels is not None
        desk = np.asarray(responses.desk_labels)[responses.desk]
        return Design.build(
            n=responses.n, ids=[desk], strata=cells, weights=weights, nest=True, lonely_psu=lonely
        )
    lookup = weighting.index()
    fpc = np.array(
        [
            weighting.fpc[lookup[(u, a)]]
            for u, a in zip(responses.unit_of_rows(), responses.area_of_rows(), strict=True)
        ]
    )
    return Design.build(n=responses.n, strata=cells, weights=weights, fpc=[fpc], lonely_psu=lonely)


def domain_mask(
    responses: Responses, level: Level, unit: str | None, area: str | None
) -> np.ndarray:
    mask = np.ones(responses.n, dtype=bool)
    if unit is not None:
        mask &= responses.unit_of_rows() == unit
    if area is not None:
        mask &= responses.area_of_rows() == area
    return mask


def indicator(responses: Responses, template: TemplateSpec) -> np.ndarray:
    """1/0 satisfied, NaN unanswered: the general estimators' input for a top-2-box index."""
    out = np.full(responses.answers.shape, np.nan)
    for j, item in enumerate(template.items):
        column = responses.answers[:, j]
        out[:, j] = np.where(np.isnan(column), np.nan, np.isin(column, item.satisfied))
    return out


# ---------------------------------------------------------------------------------------------
# By hand


def test_a_tiny_round_by_hand() -> None:
    template = TemplateSpec.from_tree({"HC": {"A": ["A1", "A2"], "B": ["B1"]}})
    nan = math.nan
    responses = Responses.build(
        template,
        response_id=[1, 2, 3, 4, 5, 6, 7],
        unit=["U1"] * 4 + ["U2"] * 3,
        area=["HT"] * 7,
        answers=[
            [5, 4, 3],
            [4, nan, 2],
            [2, 3, 5],
            [5, 5, 4],  # U1: 4 responses in a cell of 40 dossiers: w = 10
            [3, 4, 5],
            [4, 2, nan],
            [1, 5, 4],  # U2: 3 responses in a cell of 60 dossiers: w = 20
        ],
    )
    table = index_table(
        responses, template, weights_from_dossiers(responses, {("U1", "HT"): 40, ("U2", "HT"): 60})
    )

    def top2(level: Level, index: str, kind: str = "criterion", unit: str | None = None):
        return table.find(level, index=index, kind=kind, measure="top2box", unit=unit)

    # A1 satisfied (4 or 5): U1 1,1,0,1 -> 3/4; U2 0,1,0 -> 1/3.
    assert top2(Level.UNIT, "A1", unit="U1").estimate == pytest.approx(75.0)
    assert top2(Level.UNIT, "A1", unit="U2").estimate == pytest.approx(100 / 3)
    # Province A1: (10 x 3 + 20 x 1) / (10 x 4 + 20 x 3) = 50 / 100.
    assert top2(Level.PROVINCE, "A1").estimate == pytest.approx(50.0)
    # A2 among those who answered: (10 x 2 + 20 x 2) / (10 x 3 + 20 x 3) = 60 / 90.
    assert top2(Level.PROVINCE, "A2").estimate == pytest.approx(200 / 3)
    # B1: (10 x 2 + 20 x 2) / (10 x 4 + 20 x 2) = 60 / 80.
    assert top2(Level.PROVINCE, "B1").estimate == pytest.approx(75.0)
    # Element A = (50 + 66.67) / 2; element B = 75; overall = (58.33 + 75) / 2.
    assert top2(Level.PROVINCE, "A", "element").estimate == pytest.approx(175 / 3)
    assert top2(Level.PROVINCE, "B", "element").estimate == pytest.approx(75.0)
    assert top2(Level.PROVINCE, "overall", "overall").estimate == pytest.approx(200 / 3)
    # SE of U1's A1: z_i = w (y_i - p) / W = (y_i - 0.75) / 4 -> .0625, .0625, -.1875, .0625;
    # V = (1 - 4/40) x 4/3 x sum z^2 = 0.9 x 4/3 x 0.046875 = 0.05625.
    assert top2(Level.UNIT, "A1", unit="U1").se == pytest.approx(100 * math.sqrt(0.05625))
    # Province A1, p = 0.5, W = 100. U1: z = (y - .5)/10 = .05, .05, -.05, .05, mean .025,
    # sum of squared deviations .0075, x 0.9 x 4/3 = .009. U2: z = (y - .5)/5 = -.1, .1, -.1,
    # mean -1/30, squared deviations .026667, x (1 - 3/60) x 3/2 = .038. V = .047.
    province = top2(Level.PROVINCE, "A1")
    assert province.se == pytest.approx(100 * math.sqrt(0.047))
    assert province.df == 5  # 7 responses answered A1, in 2 cells
    # Weighted mean score of A1 in the province: (10 x 16 + 20 x 8) / 100 = 3.2.
    assert table.find(Level.PROVINCE, index="A1", measure="mean").estimate == pytest.approx(3.2)


# ---------------------------------------------------------------------------------------------
# R's survey package on the literal round. In R:
#   d$w <- d$N / d$n;  des <- svydesign(ids = ~1, strata = ~cell, fpc = ~N, weights = ~w, d)
#   t_j = 1 if answer >= 4 (0 if blank), r_j = 1 if answered, s_j = t_j with NA if blank.


@pytest.fixture(scope="module")
def literal_table() -> IndexTable:
    responses = literal_round()
    return index_table(responses, TEMPLATE, weights_from_dossiers(responses, DOSSIERS))


def test_criterion_proportion_as_r_svyciprop_beta(literal_table: IndexTable) -> None:
    # svyciprop(~s_A1, subset(des, unit == "U1" & !is.na(s_A1)), method = "beta"); degf(...)
    row = literal_table.find(Level.UNIT, unit="U1", index="A1", kind="criterion")
    assert row.estimate == pytest.approx(60.7142857142857, rel=1e-12)
    assert row.se == pytest.approx(18.2684649341687, rel=1e-9)
    assert row.ci_low == pytest.approx(20.0423269053564, rel=1e-9)
    assert row.ci_high == pytest.approx(92.3519926835674, rel=1e-9)
    assert row.df == 6
    assert row.ci_method == "beta"
    # svymean(~s_A1, <same subset>, deff = TRUE)
    assert row.deff == pytest.approx(1.08253588516746, rel=1e-9)


def test_logit_interval_as_r_svyciprop_logit() -> None:
    # svyciprop(~s_B2, subset(des, unit == "U3" & !is.na(s_B2)), method = "logit"); R fits a
    # glm, so its estimate carries the fit's tolerance (0.470588235294816 for 8/17).
    responses = literal_round()
    table = index_table(responses, TEMPLATE, weights_from_dossiers(responses, DOSSIERS), ci="logit")
    row = table.find(Level.UNIT, unit="U3", index="B2", kind="criterion")
    assert row.estimate == pytest.approx(47.0588235294816, rel=1e-9)
    assert row.se == pytest.approx(14.9599466040025, rel=1e-8)
    assert row.ci_low == pytest.approx(18.6009144811014, rel=1e-8)
    assert row.ci_high == pytest.approx(77.5666212228715, rel=1e-8)


def test_element_and_overall_as_r_svyratio_and_svycontrast(literal_table: IndexTable) -> None:
    # r <- svyratio(~t_A1 + t_A2, ~r_A1 + r_A2, subset(des, area == "DD"), covmat = TRUE)
    # svycontrast(r, list(A = c("t_A1/r_A1" = 0.5, "t_A2/r_A2" = 0.5))); degf(subset)
    element = literal_table.find(Level.AREA, area="DD", index="A", kind="element")
    assert element.estimate == pytest.approx(67.0659340659341, rel=1e-12)
    assert element.se == pytest.approx(8.74791939474993, rel=1e-9)
    assert element.df == 13
    # The same over the whole province with the four criteria at 1/4 each.
    overall = literal_table.find(Level.PROVINCE)
    assert overall.estimate == pytest.approx(59.1158297096795, rel=1e-12)
    assert overall.se == pytest.approx(6.30396117765777, rel=1e-9)
    assert overall.df == 31


def test_mean_score_and_overall_question_as_r(literal_table: IndexTable) -> None:
    # svymean(~A2, subset(des, cell == "U2:HT" & !is.na(A2)))
    mean = literal_table.find(Level.CELL, unit="U2", area="HT", index="A2", measure="mean")
    assert mean.estimate == pytest.approx(3.66666666666667, rel=1e-12)
    assert mean.se == pytest.approx(0.277638854149295, rel=1e-9)
    # svyciprop(~s_Q, subset(des, unit == "U2" & !is.na(s_Q)), method = "beta")
    question = literal_table.find(Level.UNIT, unit="U2", index="Q")
    assert question.kind == IndexKind.OVERALL_QUESTION
    assert question.estimate == pytest.approx(71.0526315789474, rel=1e-12)
    assert question.se == pytest.approx(13.7462425919253, rel=1e-9)
    assert question.ci_low == pytest.approx(36.8134870726609, rel=1e-9)
    assert question.ci_high == pytest.approx(93.4038576714243, rel=1e-9)


def test_desks_as_clusters_as_r() -> None:
    # svydesign(ids = ~desk, strata = ~cell, weights = ~w, nest = TRUE, data = d);
    # svyciprop(~s_A1, subset(<design>, unit == "U2" & !is.na(s_A1)), method = "beta")
    responses = literal_round()
    weighting = weights_from_dossiers(responses, DOSSIERS)
    table = index_table(responses, TEMPLATE, weighting, psu="desk")
    row = table.find(Level.UNIT, unit="U2", index="A1", kind="criterion")
    assert row.estimate == pytest.approx(45.5555555555556, rel=1e-12)
    assert row.se == pytest.approx(31.6820144262316, rel=1e-9)
    assert row.ci_low == pytest.approx(1.27686276767295e-04, rel=1e-6)
    assert row.ci_high == pytest.approx(99.9988294031919, rel=1e-9)
    assert row.df == 2


# ---------------------------------------------------------------------------------------------
# Against the general estimators, every row


def _general(
    design: Design,
    responses: Responses,
    template: TemplateSpec,
    table: IndexTable,
    level: Level,
    measure: IndexDefinition,
) -> int:
    """Compare every row of ``level`` and ``measure`` with analysis.estimators; returns the
    number of rows compared."""
    satisfied = indicator(responses, template)
    values = satisfied if measure == IndexDefinition.TOP2BOX else responses.answers
    if measure == IndexDefinition.MEAN_PCT:
        values = responses.answers / np.array([i.maximum for i in template.items])
    column = {code: j for j, code in enumerate(template.codes)}
    element_items = {e.code: [column[c] for c in e.items] for e in template.elements}
    compared = 0
    for i in table.select(level=level, measure=measure):
        row = table.row(int(i))
        mask = domain_mask(responses, level, row.unit, row.area)
        if row.kind in (IndexKind.CRITERION, IndexKind.OVERALL_QUESTION):
            j = column[row.index]
            if measure == IndexDefinition.TOP2BOX:
                expected = estimators.proportion(design, values[:, j], mask, deff=True)
            else:
                expected = estimators.mean(design, values[:, j], mask, deff=True)
        else:
            if row.kind == IndexKind.ELEMENT:
                weights = {j: 1 / len(element_items[row.index]) for j in element_items[row.index]}
            else:  # the overall index: the mean of the elements (one aspect)
                weights = {}
                for members in element_items.values():
                    for j in members:
                        weights[j] = 1 / len(members) / len(element_items)
            items = sorted(weights)
            expected = estimators.composite(
                design,
                [values[:, j] for j in items],
                mask,
                item_weights=[weights[j] for j in items],
                deff=True,
            )
        scale = 100.0 if measure != IndexDefinition.MEAN else 1.0
        assert row.estimate == pytest.approx(scale * expected.value, rel=1e-10), row
        assert row.se == pytest.approx(scale * expected.se, rel=1e-8, abs=1e-12), row
        assert row.df == expected.df, row
        assert row.n_answering == expected.n, row
        assert row.n_eff == pytest.approx(expected.n_eff, rel=1e-8), row
        if expected.deff is not None and math.isfinite(expected.deff):
            assert row.deff == pytest.approx(expected.deff, rel=1e-8), row
        low, high = expected.ci_low, expected.ci_high
        if row.kind not in (IndexKind.CRITERION, IndexKind.OVERALL_QUESTION) and (
            measure == IndexDefinition.TOP2BOX and expected.value in (0.0, 1.0)
        ):  # a composite at 0 or 1: the one-sided bound of a proportion, not a point
            low, high = proportion_interval(
                expected.value, 0.0, expected.df, expected.n, "beta", n_rows=expected.n
            )
        elif row.ci_method == "t":  # this table keeps t intervals within the possible range
            floor = 0.0 if measure == IndexDefinition.TOP2BOX else 1.0
            ceiling = 1.0 if measure != IndexDefinition.MEAN else 5.0
            if measure == IndexDefinition.MEAN_PCT:
                floor = 0.2
            low, high = max(low, floor), min(high, ceiling)
        assert row.ci_low == pytest.approx(scale * low, rel=1e-8, abs=1e-10), row
        assert row.ci_high == pytest.approx(scale * high, rel=1e-8, abs=1e-10), row
        if row.kind == IndexKind.CRITERION:
            own = ("criteria_missing", "excluded_responses", "cells_without_responses")
            assert tuple(f for f in row.flags if f not in own) == expected.flags, row
        compared += 1
    return compared


@pytest.mark.parametrize("measure", list(IndexDefinition))
def test_every_row_equals_the_general_estimators(measure: IndexDefinition) -> None:
    responses, dossiers = random_round()
    weighting = weights_from_dossiers(responses, dossiers)
    table = index_table(responses, TEMPLATE, weighting, measures=[measure])
    design = core_design(responses, weighting)
    compared = sum(
        _general(design, responses, TEMPLATE, table, level, measure)
        for level in Level
        if level != Level.DESK
    )
    # 1 province + 3 units + 2 areas + 6 cells, x (4 criteria, 2 elements, overall, question)
    assert compared == 12 * 8


def test_desks_as_clusters_equal_the_general_estimators() -> None:
    responses, dossiers = random_round(seed=8)
    weighting = weights_from_dossiers(responses, dossiers)
    table = index_table(
        responses, TEMPLATE, weighting, psu=PSU.DESK, measures=["top2box"], levels=["unit", "area"]
    )
    design = core_design(responses, weighting, desks=True)
    assert _general(design, responses, TEMPLATE, table, Level.UNIT, IndexDefinition.TOP2BOX) == 24
    assert _general(design, responses, TEMPLATE, table, Level.AREA, IndexDefinition.TOP2BOX) == 16


@pytest.mark.parametrize("psu", list(PSU))
def test_desk_level_equals_the_general_estimators(psu: PSU) -> None:
    responses, dossiers = random_round(seed=9)
    weighting = weights_from_dossiers(responses, dossiers)
    # Small chunks, so that the desk level is assembled from several chunks of desks.
    table = index_table(
        responses, TEMPLATE, weighting, psu=psu, levels=["desk"], desk_blocks_per_chunk=3
    )
    design = core_design(responses, weighting, desks=psu == PSU.DESK)
    assert responses.desk is not None and responses.desk_labels is not None
    desk = np.asarray(responses.desk_labels)[responses.desk]
    satisfied = indicator(responses, TEMPLATE)
    desks = sorted(set(desk.tolist()))
    assert sorted(set(table.desk.tolist())) == desks
    for code in desks:
        mask = desk == code
        row = table.find(Level.DESK, desk=code, index="B1", kind="criterion")
        expected = estimators.proportion(design, satisfied[:, 2], mask)
        assert row.estimate == pytest.approx(100 * expected.value, rel=1e-10)
        assert row.se == pytest.approx(100 * expected.se, rel=1e-8)
        overall = table.find(Level.DESK, desk=code)
        general = estimators.composite(design, [satisfied[:, j] for j in range(4)], mask)
        assert overall.se == pytest.approx(100 * general.se, rel=1e-8)
        assert row.unit == code[:2]  # every response of a desk is in its unit


@pytest.mark.parametrize("lonely", ["adjust", "average", "certainty", "remove"])
def test_single_response_cells_follow_r_lonely_psu_options(lonely: str) -> None:
    responses, dossiers = random_round(seed=3, n=300)
    # One more response in a cell of its own (U3 in area XX, 50 dossiers): a lonely PSU.
    extra = Responses.build(
        TEMPLATE,
        response_id=np.r_[np.arange(responses.n), 999],
        unit=np.append(responses.unit_of_rows(), "U3"),
        area=np.append(responses.area_of_rows(), "XX"),
        answers=np.vstack([responses.answers, [[4, 2, 5, 5, 4]]]),
    )
    weighting = weights_from_dossiers(extra, {**dossiers, ("U3", "XX"): 50})
    table = index_table(extra, TEMPLATE, weighting, lonely_psu=lonely)
    design = core_design(extra, weighting, lonely=lonely)
    assert _general(design, extra, TEMPLATE, table, Level.UNIT, IndexDefinition.TOP2BOX) == 24
    assert _general(design, extra, TEMPLATE, table, Level.PROVINCE, IndexDefinition.MEAN) == 8
    assert "lonely_psu_adjusted" in table.find(Level.UNIT, unit="U3").flags
    assert "lonely_psu_adjusted" not in table.find(Level.UNIT, unit="U1").flags
    with pytest.raises(LonelyPSUError, match="U3/XX"):
        index_table(extra, TEMPLATE, weighting, lonely_psu="fail")
    assert isinstance(LonelyPSUError("x"), ValueError)


def test_raked_weights_give_the_variance_of_r_rake_on_cell_strata() -> None:
    """Raking to unit and area totals; R: rake(svydesign(ids=~1, strata=~cell, weights=~1),
    list(~unit, ~area), ...). The margins are unions of strata, so the calibration residuals
    shift influence values by a constant within each cell and leave the variance as that of
    the raked weights on the cell strata, which is what this table computes."""
    responses, _dossiers = random_round(seed=4)
    units = {"U1": 5000.0, "U2": 3000.0, "U3": 2000.0}
    areas = {"HT": 6500.0, "DD": 3500.0}
    weighting = rake_to_margins(responses, unit_totals=units, area_totals=areas)
    table = index_table(responses, TEMPLATE, weighting, measures=["top2box"])
    cells = np.char.add(np.char.add(responses.unit_of_rows(), ":"), responses.area_of_rows())
    base = Design.build(n=responses.n, strata=cells, weights=np.ones(responses.n))
    raked = calibration.rake(
        base,
        [(responses.unit_of_rows(), units), (responses.area_of_rows(), areas)],
        epsilon=1e-12,
        maxit=200,
    )
    assert np.allclose(raked.weights, weighting.row_weights(responses), rtol=1e-9)
    satisfied = indicator(responses, TEMPLATE)
    for unit in units:
        mask = responses.unit_of_rows() == unit
        for j, code in enumerate(TEMPLATE.codes[:4]):
            row = table.find(Level.UNIT, unit=unit, index=code, kind="criterion")
            expected = estimators.proportion(raked, satisfied[:, j], mask)
            assert row.estimate == pytest.approx(100 * expected.value, rel=1e-8)
            assert row.se == pytest.approx(100 * expected.se, rel=1e-7)
            # Korn-Graubard's n is the whole sample after calibration (R's svyciprop on a
            # subset of a raked design; the general estimators are checked against it in
            # test_calibrated_domains).
            assert row.ci_low == pytest.approx(100 * expected.ci_low, rel=1e-7)
            assert row.ci_high == pytest.approx(100 * expected.ci_high, rel=1e-7)
        overall = table.find(Level.UNIT, unit=unit)
        general = estimators.composite(raked, [satisfied[:, j] for j in range(4)], mask)
        assert overall.se == pytest.approx(100 * general.se, rel=1e-7)
    assert table.find(Level.PROVINCE).coverage is None  # no dossier frame per cell to compare


# ---------------------------------------------------------------------------------------------
# Sufficient statistics: computed in parts or elsewhere


def test_statistics_merged_from_parts_give_the_same_table() -> None:
    responses, dossiers = random_round(seed=12)
    weighting = weights_from_dossiers(responses, dossiers)
    whole = index_table(responses, TEMPLATE, weighting, psu="desk")
    # Two parts by unit, so that no desk (PSU) is split between them.
    first = responses.unit_of_rows() == "U1"
    parts = [
        cell_stats(responses, TEMPLATE, psu="desk", rows=first),
        cell_stats(responses, TEMPLATE, psu="desk", rows=~first),
    ]
    stats = merge_stats(parts)
    counted = weights_from_dossiers(stats.cell_counts(), dossiers)
    assert np.array_equal(counted.weight, weighting.weight)
    merged = index_table_from_stats(stats, TEMPLATE, weighting)
    assert np.array_equal(whole.index, merged.index)
    assert np.allclose(whole.estimate, merged.estimate, equal_nan=True)
    assert np.allclose(whole.se, merged.se, equal_nan=True)
    assert np.allclose(whole.ci_low, merged.ci_low, equal_nan=True)
    # Statistics per desk give the desk level as well, and the same cell-level numbers.
    by_desk = cell_stats(responses, TEMPLATE, psu="desk", by_desk=True)
    table = index_table_from_stats(by_desk, TEMPLATE, weighting, levels=["unit", "desk"])
    assert table.find(Level.UNIT, unit="U2").se == pytest.approx(
        whole.find(Level.UNIT, unit="U2").se, rel=1e-12
    )
    assert len(table.select(level="desk")) > 0
    # A desk cut in two would make a wrong PSU total: refused.
    halves = responses.response_id % 2 == 0
    split = [
        cell_stats(responses, TEMPLATE, psu="desk", by_desk=True, rows=halves),
        cell_stats(responses, TEMPLATE, psu="desk", by_desk=True, rows=~halves),
    ]
    with pytest.raises(ValueError, match="merge whole desks"):
        merge_stats(split)


@pytest.mark.parametrize("by_desk", [False, True])
def test_a_few_responses_folded_in_give_the_statistics_of_all(by_desk: bool) -> None:
    """Responses as PSUs: the statistics of all the responses equal those of all but the last
    few merged with those of the last few, whether their blocks are already there (added in
    place) or one is new (summed again), block for block."""
    responses, _dossiers = random_round(seed=21)

    def in_order(stats: CellStats) -> CellStats:
        desk = stats.desk if stats.desk is not None else np.full(stats.blocks, "")
        o = np.lexsort((desk, stats.area, stats.unit))
        return CellStats(
            stats.items,
            stats.groups,
            stats.psu,
            stats.unit[o],
            stats.area[o],
            None if stats.desk is None else stats.desk[o],
            stats.rows[o],
            stats.psus[o],
            stats.answering_psus[o],
            stats.answering_any[o],
            stats.sums[o],
            stats.cross[o],
            None,
        )

    whole = in_order(cell_stats(responses, TEMPLATE, psu="response", by_desk=by_desk))
    last = responses.response_id >= np.sort(responses.response_id)[-3]
    units = responses.unit_of_rows()
    alone = units == units[-1]  # every response of one unit: its blocks are new to the rest
    for extra in (last, alone):
        base = cell_stats(responses, TEMPLATE, psu="response", by_desk=by_desk, rows=~extra)
        base.by_cell()  # made before, as a page has: then added to in place as well
        raw = merge_stats(
            [base, cell_stats(responses, TEMPLATE, psu="response", by_desk=by_desk, rows=extra)]
        )
        merged = in_order(raw)
        for name in ("unit", "area", "rows", "psus", "answering_psus", "answering_any", "sums"):
            assert np.array_equal(getattr(merged, name), getattr(whole, name)), name
        assert np.array_equal(merged.cross, whole.cross)
        if by_desk:
            assert merged.desk is not None and whole.desk is not None
            assert np.array_equal(merged.desk, whole.desk)
        cells, all_cells = raw.by_cell(), whole.by_cell()  # both sorted by unit and area
        for name in ("unit", "area", "rows", "sums", "cross", "answering_any"):
            assert np.array_equal(getattr(cells, name), getattr(all_cells, name)), name


def test_statistics_computed_outside_as_a_database_would() -> None:
    """Per cell GROUP BY sums written with plain Python loops (no numpy), fed in as arrays."""
    responses = literal_round()
    weighting = weights_from_dossiers(responses, DOSSIERS)
    k = len(TEMPLATE.items)
    rows_by_cell: dict[tuple[str, str], list[list[float]]] = {}
    for unit, area, answers in zip(
        responses.unit_of_rows(), responses.area_of_rows(), responses.answers.tolist(), strict=True
    ):
        s = [0.0 if math.isnan(a) else float(a >= 4) for a in answers]
        y = [0.0 if math.isnan(a) else a for a in answers]
        r = [0.0 if math.isnan(a) else 1.0 for a in answers]
        rows_by_cell.setdefault((str(unit), str(area)), []).append(s + y + r)
    names, supports = groups_of(TEMPLATE)
    keys = sorted(rows_by_cell)
    sums, cross, answering_any = [], [], []
    for key in keys:
        xs = rows_by_cell[key]
        sums.append([sum(x[c] for x in xs) for c in range(3 * k)])
        cross.append([[sum(x[a] * x[b] for x in xs) for b in range(3 * k)] for a in range(3 * k)])
        answering_any.append(
            [
                sum(1 for x in xs if any(x[2 * k + j] for j in range(k) if supports[j, g]))
                for g in range(len(names))
            ]
        )
    stats = CellStats(
        items=TEMPLATE.codes,
        groups=names,
        psu=PSU.RESPONSE,
        unit=np.array([u for u, _a in keys]),
        area=np.array([a for _u, a in keys]),
        desk=None,
        rows=np.array([len(rows_by_cell[key]) for key in keys]),
        psus=np.array([len(rows_by_cell[key]) for key in keys]),
        answering_psus=np.array(sums)[:, 2 * k :],
        answering_any=np.array(answering_any),
        sums=np.array(sums),
        cross=np.array(cross),
        cross_rows=None,
    )
    fed = index_table_from_stats(stats, TEMPLATE, weighting)
    direct = index_table(responses, TEMPLATE, weighting)
    assert np.allclose(fed.estimate, direct.estimate, rtol=1e-12, equal_nan=True)
    assert np.allclose(fed.se, direct.se, rtol=1e-10, equal_nan=True)
    assert np.array_equal(fed.flag_bits, direct.flag_bits)


def test_indicator_columns() -> None:
    template = TemplateSpec.from_tree({"X": {"E": ["a", ItemSpec("b", (1, 2, 3), (2, 3))]}})
    x = indicator_matrix(np.array([[5.0, 2.0], [math.nan, 1.0]]), template, np.float64)
    # s (satisfied), y (score or 0), r (answered) for items a and b
    assert x.tolist() == [[1, 1, 5, 2, 1, 1], [0, 0, 0, 1, 0, 1]]


# ---------------------------------------------------------------------------------------------
# The table's own rules


@pytest.mark.parametrize("method", [m for m in CIMethod if m != CIMethod.LIKELIHOOD])
def test_intervals_and_flags_are_those_of_the_core_functions(method: CIMethod) -> None:
    """Every criterion interval and flag, including p = 0 or 1 and tiny cells, equals
    analysis.intervals.proportion_interval and analysis.flags.reliability_flags."""
    responses, dossiers = random_round(seed=21, n=120)
    answers = responses.answers.copy()
    corner = (responses.unit_of_rows() == "U3") & (responses.area_of_rows() == "DD")
    answers[corner, 0] = 5.0  # everybody satisfied with A1 there: p = 1
    answers[corner, 2] = 1.0  # nobody with B1: p = 0
    edited = Responses.build(
        TEMPLATE,
        response_id=responses.response_id,
        unit=responses.unit_of_rows(),
        area=responses.area_of_rows(),
        answers=answers,
    )
    # Every dossier of one cell answered: no sampling error there, SE 0.
    dossiers[("U2", "HT")] = float(
        ((responses.unit_of_rows() == "U2") & (responses.area_of_rows() == "HT")).sum()
    )
    table = index_table(
        edited,
        TEMPLATE,
        weights_from_dossiers(edited, dossiers),
        ci=method,
        measures=["top2box"],
    )
    own = {
        "criteria_missing",
        "excluded_responses",
        "cells_without_responses",
        "no_answers",
        "cannot_tell",
        "clipped",
    }
    checked = edge = exact = 0
    for i in table.select(kind="criterion"):
        row = table.row(int(i))
        p, se = row.estimate / 100, row.se / 100
        low, high = proportion_interval(p, se, row.df, row.n_eff, method, n_rows=row.n_answering)
        if se == 0 and 0 < p < 1:
            # Never the zero-width [p, p] (domain.md, "Publishing"): the Korn-Graubard
            # interval on the m answering responses, i.e. effective size m before the df
            # correction, which is the core beta interval at se = sqrt(p (1 - p) / m).
            assert "cannot_tell" in row.flags
            m = row.n_answering
            low, high = proportion_interval(
                p, math.sqrt(p * (1 - p) / m), row.df, m, "beta", n_rows=m
            )
            assert high - low > 0
        assert row.ci_low / 100 == pytest.approx(low, rel=1e-9, abs=1e-12)
        assert row.ci_high / 100 == pytest.approx(high, rel=1e-9, abs=1e-12)
        flags = reliability_flags(
            n=row.n_answering,
            n_eff=row.n_eff,
            df=row.df,
            value=p,
            ci_low=row.ci_low / 100,
            ci_high=row.ci_high / 100,
            is_proportion=True,
            lonely_psu_adjusted="lonely_psu_adjusted" in row.flags,
        )
        assert tuple(f for f in row.flags if f not in own) == flags
        checked += 1
        edge += p in (0.0, 1.0)
        exact += se == 0 and 0 < p < 1
    assert checked == 12 * 4 and edge > 0 and exact > 0


def test_likelihood_intervals_go_through_the_core_function() -> None:
    responses = literal_round()
    table = index_table(
        responses,
        TEMPLATE,
        weights_from_dossiers(responses, DOSSIERS),
        ci="likelihood",
        levels=["unit"],
        measures=["top2box"],
    )
    row = table.find(Level.UNIT, unit="U2", index="A2", kind="criterion")
    low, high = proportion_interval(
        row.estimate / 100, row.se / 100, row.df, row.n_eff, "likelihood", n_rows=row.n_answering
    )
    assert (row.ci_low, row.ci_high) == pytest.approx((100 * low, 100 * high), rel=1e-12)


def test_the_overall_question_is_beside_the_index_not_in_it() -> None:
    responses, dossiers = random_round(seed=6)
    weighting = weights_from_dossiers(responses, dossiers)
    table = index_table(responses, TEMPLATE, weighting)
    answers = responses.answers.copy()
    answers[:, 4] = 1.0  # everybody very dissatisfied overall
    changed = Responses.build(
        TEMPLATE,
        response_id=responses.response_id,
        unit=responses.unit_of_rows(),
        area=responses.area_of_rows(),
        answers=answers,
    )
    other = index_table(changed, TEMPLATE, weighting)
    assert other.find(Level.PROVINCE).estimate == table.find(Level.PROVINCE).estimate
    assert other.find(Level.PROVINCE, index="Q").estimate == 0.0
    assert "p_is_0_or_1" in other.find(Level.PROVINCE, index="Q").flags
    kinds = [k for k in table.kind[table.select(level="province", measure="top2box")]]
    assert kinds == ["criterion"] * 4 + ["element", "element", "overall", "overall_question"]


def test_a_criterion_nobody_answered_leaves_the_element_to_the_others() -> None:
    responses, dossiers = random_round(seed=7)
    answers = responses.answers.copy()
    answers[responses.unit_of_rows() == "U3", 3] = np.nan  # B2 not applicable in unit U3
    blanked = Responses.build(
        TEMPLATE,
        response_id=responses.response_id,
        unit=responses.unit_of_rows(),
        area=responses.area_of_rows(),
        answers=answers,
    )
    table = index_table(blanked, TEMPLATE, weights_from_dossiers(blanked, dossiers))
    b2 = table.find(Level.UNIT, unit="U3", index="B2", kind="criterion")
    assert math.isnan(b2.estimate) and b2.flags == ("no_answers",) and b2.n_answering == 0
    element = table.find(Level.UNIT, unit="U3", index="B", kind="element")
    b1 = table.find(Level.UNIT, unit="U3", index="B1", kind="criterion")
    assert element.estimate == pytest.approx(b1.estimate)
    assert element.se == pytest.approx(b1.se)
    assert "criteria_missing" in element.flags
    a = table.find(Level.UNIT, unit="U3", index="A", kind="element")
    overall = table.find(Level.UNIT, unit="U3")
    assert overall.estimate == pytest.approx((a.estimate + element.estimate) / 2)
    assert "criteria_missing" in overall.flags
    assert "criteria_missing" not in table.find(Level.UNIT, unit="U1").flags


def test_mean_percent_divides_each_criterion_by_its_scale_maximum() -> None:
    template = TemplateSpec.from_tree(
        {"HC": {"A": ["A1", ItemSpec("A2", (1, 2, 3, 4), (3, 4))], "B": ["B1", "B2"]}},
        overall="Q",
        index_definition="mean_pct",
    )
    responses, dossiers = random_round(seed=10, template=template)
    table = index_table(responses, template, weights_from_dossiers(responses, dossiers))
    assert table.headline == IndexDefinition.MEAN_PCT
    a1 = table.find(Level.UNIT, unit="U2", index="A1", measure="mean")
    a2 = table.find(Level.UNIT, unit="U2", index="A2", measure="mean")
    element = table.find(Level.UNIT, unit="U2", index="A", kind="element")  # headline: mean_pct
    assert element.estimate == pytest.approx((a1.estimate / 5 + a2.estimate / 4) / 2 * 100)
    assert table.find(Level.UNIT, unit="U2", index="A2", measure="mean_pct").se == pytest.approx(
        a2.se / 4 * 100
    )
    assert set(table.measure.tolist()) == {"mean_pct", "top2box", "mean"}


def test_responses_without_a_dossier_count_are_excluded_and_flagged() -> None:
    responses, dossiers = random_round(seed=13)
    del dossiers[("U2", "DD")]
    dossiers[("U3", "XX")] = 80.0  # dossiers nobody answered about
    weighting = weights_from_dossiers(responses, dossiers)
    table = index_table(responses, TEMPLATE, weighting)
    u2 = table.find(Level.UNIT, unit="U2")
    lost = int(((responses.unit_of_rows() == "U2") & (responses.area_of_rows() == "DD")).sum())
    assert u2.n_excluded == lost > 0 and "excluded_responses" in u2.flags
    assert u2.n == int((responses.unit_of_rows() == "U2").sum()) - lost
    cell = table.find(Level.CELL, unit="U2", area="DD")
    assert math.isnan(cell.estimate) and cell.n == 0 and cell.n_excluded == lost
    # The same numbers as a round without those responses.
    kept = ~((responses.unit_of_rows() == "U2") & (responses.area_of_rows() == "DD"))
    without = Responses.build(
        TEMPLATE,
        response_id=responses.response_id[kept],
        unit=responses.unit_of_rows()[kept],
        area=responses.area_of_rows()[kept],
        answers=responses.answers[kept],
    )
    reference = index_table(without, TEMPLATE, weights_from_dossiers(without, dossiers))
    assert u2.estimate == pytest.approx(reference.find(Level.UNIT, unit="U2").estimate)
    assert u2.se == pytest.approx(reference.find(Level.UNIT, unit="U2").se)
    # U3's 80 dossiers in area XX are not represented: coverage below 1, flagged.
    u3 = table.find(Level.UNIT, unit="U3")
    frame_u3 = sum(v for (u, _a), v in dossiers.items() if u == "U3")
    assert u3.coverage == pytest.approx((frame_u3 - 80) / frame_u3)
    assert "cells_without_responses" in u3.flags
    assert table.find(Level.UNIT, unit="U1").coverage == 1.0


def test_records_for_publication_round_to_two_decimals(literal_table: IndexTable) -> None:
    records = literal_table.to_records()
    assert len(records) == len(literal_table)
    first = records[0]
    assert first["level"] == "province" and first["index"] == "A1"
    assert first["estimate"] == round(literal_table.estimate[0], 2)
    assert set(first) >= {"ci_low", "ci_high", "n", "n_answering", "n_eff", "deff", "flags"}
    assert all(set(r["flags"]) <= set(FLAGS) for r in records)
    assert literal_table.caveat_en.startswith("Assumption: within each unit")
    assert "những người đã trả lời" in literal_table.caveat_vi


def test_levels_come_in_the_order_asked() -> None:
    responses = literal_round()
    table = index_table(
        responses, TEMPLATE, weights_from_dossiers(responses, DOSSIERS), levels=["desk", "unit"]
    )
    assert list(dict.fromkeys(table.level.tolist())) == ["desk", "unit"]


def test_bad_input_is_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="at least one criterion"):
        TemplateSpec((), (), ())
    with pytest.raises(ValueError, match="item codes must be unique; repeated: A1"):
        TemplateSpec.from_tree({"X": {"A": ["A1"], "B": ["A1"]}})
    with pytest.raises(ValueError, match=r"satisfied values \(6\) are not all on its scale"):
        ItemSpec("A1", satisfied=(6,))
    with pytest.raises(ValueError, match="index_definition must be one of"):
        TemplateSpec.from_tree({"X": {"A": ["A1"]}}, index_definition="median")
    rows = [line.split() for line in ROUND.splitlines()]
    answers = np.array([[math.nan if v == "NA" else float(v) for v in r[4:]] for r in rows])
    good = {
        "response_id": [r[0] for r in rows],
        "unit": [r[1] for r in rows],
        "area": [r[2] for r in rows],
        "answers": answers,
    }
    with pytest.raises(
        ValueError, match=r"item A1: value 7 is not on its scale \(1, 2, 3, 4, 5\) \(response R01"
    ):
        bad = answers.copy()
        bad[0, 0] = 7
        Responses.build(TEMPLATE, **{**good, "answers": bad})
    with pytest.raises(ValueError, match=r"counted twice\); repeated: R01"):
        Responses.build(TEMPLATE, **{**good, "response_id": ["R01"] * len(rows)})
    with pytest.raises(ValueError, match=r"one column per item of the template \(37 x 5\)"):
        Responses.build(TEMPLATE, **{**good, "answers": answers[:, :4]})
    with pytest.raises(ValueError, match="unit is missing for 1 responses"):
        Responses.build(TEMPLATE, **{**good, "unit": [None, *good["unit"][1:]]})
    responses = Responses.build(TEMPLATE, **good)
    weighting = weights_from_dossiers(responses, DOSSIERS)
    with pytest.raises(ValueError, match="level must be one of"):
        index_table(responses, TEMPLATE, weighting, levels=["commune"])
    with pytest.raises(ValueError, match="ci must be one of"):
        index_table(responses, TEMPLATE, weighting, ci="bootstrap")
    with pytest.raises(ValueError, match="desk-level indices need the desk"):
        index_table(responses, TEMPLATE, weighting, levels=["desk"])
    other = weights_from_dossiers(literal_round(), {**DOSSIERS, ("U9", "HT"): 5})
    fewer = Responses.build(
        TEMPLATE, **{k: v[:30] if k != "answers" else answers[:30] for k, v in good.items()}
    )
    with pytest.raises(ValueError, match="build both from the same responses"):
        index_table(fewer, TEMPLATE, other)
    with pytest.raises(ValueError, match="rows match"):
        index_table(responses, TEMPLATE, weighting).find(Level.UNIT, index="A1")


def test_a_dataframe_and_answer_rows_give_the_same_responses() -> None:
    reference = literal_round()
    rows = [line.split() for line in ROUND.splitlines()]
    frame = pandas.DataFrame(
        {
            "response_id": [r[0] for r in rows],
            "unit": [r[1] for r in rows],
            "area": [r[2] for r in rows],
            "desk": [r[3] for r in rows],
            **{
                code: pandas.array(
                    [None if r[4 + j] == "NA" else int(r[4 + j]) for r in rows], dtype="Int64"
                )
                for j, code in enumerate(TEMPLATE.codes)
            },
        }
    )
    from_frame = Responses.from_frame(frame, TEMPLATE, desk_column="desk")
    assert np.array_equal(from_frame.answers, reference.answers, equal_nan=True)
    assert from_frame.unit_labels == reference.unit_labels
    assert from_frame.desk_labels == reference.desk_labels
    with pytest.raises(ValueError, match="no column"):
        Responses.from_frame(frame.drop(columns=["B2"]), TEMPLATE)
    # The web app stores answers as rows (response, item, value); a blank has no row.
    answer_rows = [
        (r[0], code, float(r[4 + j]))
        for r in rows
        for j, code in enumerate(TEMPLATE.codes)
        if r[4 + j] != "NA"
    ]
    long = Responses.from_long(
        TEMPLATE,
        response_id=[r[0] for r in rows],
        unit=[r[1] for r in rows],
        area=[r[2] for r in rows],
        answer_response_id=[a[0] for a in answer_rows],
        answer_item=[a[1] for a in answer_rows],
        answer_value=[a[2] for a in answer_rows],
    )
    assert np.array_equal(long.answers, reference.answers, equal_nan=True)
    with pytest.raises(ValueError, match="two answer rows for the same item"):
        Responses.from_long(
            TEMPLATE,
            response_id=["R01"],
            unit=["U1"],
            area=["HT"],
            answer_response_id=["R01", "R01"],
            answer_item=["A1", "A1"],
            answer_value=[4.0, 5.0],
        )
    with pytest.raises(ValueError, match="belong to no listed response"):
        Responses.from_long(
            TEMPLATE,
            response_id=["R01"],
            unit=["U1"],
            area=["HT"],
            answer_response_id=["R99"],
            answer_item=["A1"],
            answer_value=[4.0],
        )
    with pytest.raises(ValueError, match="items not in the template: C9"):
        Responses.from_long(
            TEMPLATE,
            response_id=["R01"],
            unit=["U1"],
            area=["HT"],
            answer_response_id=["R01"],
            answer_item=["C9"],
            answer_value=[4.0],
        )
