"""Units with their sub-units (``Level.UNIT_TREE``): the unit and its whole subtree as one domain
of the round's design, checked against R's survey package (R 4.2, survey 4.1.1, run once by
hand) on the literal round of ``test_satisfaction`` (the same ``d`` and ``des``)::

    des <- svydesign(ids = ~1, strata = ~cell, fpc = ~N, weights = ~w, data = d)
    tree <- c("U2", "U3")                           # U2 with its sub-unit U3
    s <- subset(des, unit %in% tree & !is.na(s_A1))
    svyciprop(~s_A1, s, method = "beta"); degf(s); deff(svymean(~s_A1, s, deff = TRUE))
    sub <- subset(des, unit %in% tree)
    rt <- svyratio(~t_A1 + t_A2 + t_B1 + t_B2, ~r_A1 + r_A2 + r_B1 + r_B2, sub, covmat = TRUE)
    svycontrast(rt, list(overall = c("t_A1/r_A1" = 0.25, "t_A2/r_A2" = 0.25,
                                     "t_B1/r_B1" = 0.25, "t_B2/r_B2" = 0.25))); degf(sub)
    s2 <- subset(des, unit %in% tree & !is.na(A2)); svymean(~A2, s2); degf(s2)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.satisfaction import (
    DEFAULT_LEVELS,
    IndexTable,
    Level,
    cell_stats,
    index_table,
    index_table_from_stats,
    subtrees_from_parents,
    weights_from_dossiers,
)
from tests.analysis.test_satisfaction import DOSSIERS, TEMPLATE, literal_round

# R's numbers (printed with options(digits = 15)) for each tree:
# (beta estimate, SE, lower, upper, degf, deff) of A1; (estimate, SE, degf) of the overall
# contrast; (estimate, SE, degf) of the mean score of A2.
R_TREES = {
    ("U2", "U3"): (
        (0.503546099290780, 0.106349972994385, 0.284287669870253, 0.721807793902358, 22),
        1.27179815122026,
        (0.5247848205385777, 0.0744315892768686, 23),
        (3.510638297872340, 0.167864033636222, 22),
    ),
    ("U1", "U3"): (
        (0.597633136094674, 0.120365513979016, 0.330656480881911, 0.827731711554615, 15),
        1.22184248706806,
        (0.6072833545755079, 0.0785534262395241, 18),
        (3.657303370786517, 0.176467766072505, 16),
    ),
}


def _table(subtrees: dict[str, list[str]] | dict[str, tuple[str, ...]]) -> IndexTable:
    responses = literal_round()
    return index_table(
        responses,
        TEMPLATE,
        weights_from_dossiers(responses, DOSSIERS),
        levels=(*DEFAULT_LEVELS, Level.UNIT_TREE),
        subtrees=subtrees,
    )


def _check_against_r(table: IndexTable, parent: str, tree: tuple[str, str]) -> None:
    (p, se, low, high, df), deff, overall_r, mean_r = R_TREES[tree]
    row = table.find(Level.UNIT_TREE, unit=parent, index="A1", kind="criterion")
    assert row.estimate == pytest.approx(100 * p, rel=1e-6)
    assert row.se == pytest.approx(100 * se, rel=1e-6)
    assert row.ci_low == pytest.approx(100 * low, rel=1e-6)
    assert row.ci_high == pytest.approx(100 * high, rel=1e-6)
    assert row.df == df
    assert row.deff == pytest.approx(deff, rel=1e-6)
    overall = table.find(Level.UNIT_TREE, unit=parent)
    assert overall.estimate == pytest.approx(100 * overall_r[0], rel=1e-6)
    assert overall.se == pytest.approx(100 * overall_r[1], rel=1e-6)
    assert overall.df == overall_r[2]
    mean = table.find(Level.UNIT_TREE, unit=parent, index="A2", measure="mean")
    assert mean.estimate == pytest.approx(mean_r[0], rel=1e-6)
    assert mean.se == pytest.approx(mean_r[1], rel=1e-6)
    assert mean.df == mean_r[2]


def test_a_unit_with_its_sub_unit_is_one_domain_as_r() -> None:
    # U1 has the sub-unit U3 (not adjacent in code order); U2 has none, so no tree row.
    table = _table({"U1": ["U1", "U3"], "U2": ["U2"]})
    _check_against_r(table, "U1", ("U1", "U3"))
    assert set(table.unit[table.select(level=Level.UNIT_TREE)].tolist()) == {"U1"}
    # Same columns as the unit rows, with the parent's code and no area or desk.
    tree_rows = table.rows(level="unit_tree")
    assert len(tree_rows) == len(table.rows(level="unit", unit="U1"))
    assert {(r.unit, r.area, r.desk) for r in tree_rows} == {("U1", None, None)}
    # n: U1 has 10 responses, U3 12; coverage of the frame: the 60 + 45 + 70 + 25 dossiers of
    # their four cells all lie in cells with responses.
    assert tree_rows[0].n == 22
    assert tree_rows[0].coverage == pytest.approx(1.0)


def test_the_tree_is_not_the_average_of_its_units() -> None:
    table = _table({"U1": ["U3"]})  # the unit itself is added to its subtree
    own = table.find(Level.UNIT, unit="U1").estimate
    sub = table.find(Level.UNIT, unit="U3").estimate
    tree = table.find(Level.UNIT_TREE, unit="U1").estimate
    assert tree == pytest.approx(100 * R_TREES[("U1", "U3")][2][0], rel=1e-6)
    assert not math.isclose(tree, (own + sub) / 2, rel_tol=1e-3)


def test_nested_trees_from_parents_share_cells() -> None:
    # U1 > U2 > U3: U1's tree is the whole province, U2's tree is U2 and U3.
    trees = subtrees_from_parents({"U1": None, "U2": "U1", "U3": "U2"})
    assert trees == {"U1": ("U1", "U2", "U3"), "U2": ("U2", "U3")}
    table = _table(trees)
    _check_against_r(table, "U2", ("U2", "U3"))
    whole = table.find(Level.UNIT_TREE, unit="U1")
    # R on the whole design (test_satisfaction: svycontrast over the province, degf 31).
    assert whole.estimate == pytest.approx(59.1158297096795, rel=1e-9)
    assert whole.se == pytest.approx(6.30396117765777, rel=1e-9)
    assert whole.df == 31


def test_trees_from_statistics_equal_trees_from_responses() -> None:
    responses = literal_round()
    weighting = weights_from_dossiers(responses, DOSSIERS)
    trees = {"U2": ["U3"]}
    levels = (Level.UNIT, Level.UNIT_TREE)
    direct = index_table(responses, TEMPLATE, weighting, levels=levels, subtrees=trees)
    stats = cell_stats(responses, TEMPLATE)
    merged = index_table_from_stats(stats, TEMPLATE, weighting, levels=levels, subtrees=trees)
    assert np.array_equal(direct.level, merged.level)
    assert np.allclose(direct.se, merged.se, equal_nan=True)
    _check_against_r(merged, "U2", ("U2", "U3"))


def test_tree_input_is_checked() -> None:
    responses = literal_round()
    weighting = weights_from_dossiers(responses, DOSSIERS)
    with pytest.raises(ValueError, match="subtrees"):
        index_table(responses, TEMPLATE, weighting, levels=[Level.UNIT_TREE])
    with pytest.raises(ValueError, match="list of unit codes"):
        index_table(responses, TEMPLATE, weighting, levels=["unit_tree"], subtrees={"U1": "U3"})
    with pytest.raises(ValueError, match="cycle"):
        subtrees_from_parents({"A": "B", "B": "A"})
    # A tree without responses has no row; asking for trees alone is fine.
    table = index_table(
        responses, TEMPLATE, weighting, levels=["unit_tree"], subtrees={"X9": ["X10"]}
    )
    assert len(table) == 0
