"""Targets, rank ranges and change between rounds: the decisions a Sở Nội vụ publishes, checked
by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.satisfaction import (
    IndexDefinition,
    IndexKind,
    IndexRow,
    Level,
    Responses,
    TemplateSpec,
    index_table,
    weights_from_dossiers,
)
from analysis.satisfaction.compare import (
    DfRule,
    Direction,
    RankCoverage,
    Verdict,
    change,
    changes,
    rank_ranges,
    rank_table,
    target_verdicts,
    verdict,
)


def row(
    unit: str, estimate: float, se: float, df: float, low: float = math.nan, high: float = math.nan
) -> IndexRow:
    return IndexRow(
        level=Level.UNIT,
        unit=unit,
        area=None,
        desk=None,
        kind=IndexKind.OVERALL,
        index="overall",
        measure=IndexDefinition.TOP2BOX,
        estimate=estimate,
        se=se,
        df=df,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        ci_method="t",
        n=300,
        n_answering=300,
        n_excluded=0,
        n_eff=300.0,
        deff=None,
        coverage=1.0,
    )


def test_above_target_only_when_the_whole_interval_is_above() -> None:
    unit = row("U1", 91.0, 1.0, 50, 89.0, 93.0)
    assert verdict(unit, 85) == Verdict.ABOVE
    assert verdict(unit, 90) == Verdict.CANNOT_TELL  # the estimate is above, the interval not
    assert verdict(unit, 89) == Verdict.CANNOT_TELL  # touching the threshold is not above
    assert verdict(unit, 95) == Verdict.BELOW
    assert verdict(row("U2", math.nan, math.nan, 0), 90) == Verdict.NO_DATA
    with pytest.raises(ValueError, match="finite"):
        verdict(unit, math.nan)


def test_rank_ranges_by_hand() -> None:
    # A 91 (SE 1), B 88 (SE 1), C 70 (SE 2), df so large that t is the normal quantile.
    # A - B = 3 with SE sqrt 2: a difference at 1.96 sqrt 2 = 2.77, not at the joint level
    # (Bonferroni over 3 pairs: z = 2.394, 3.39). C is below both at every level (18 vs 5.4).
    rows = [row("A", 91, 1, 1e9), row("B", 88, 1, 1e9), row("C", 70, 2, 1e9)]
    joint = {r.row.unit: (r.rank, r.best, r.worst) for r in rank_ranges(rows)}
    assert joint == {"A": (1, 1, 2), "B": (2, 1, 2), "C": (3, 3, 3)}
    unadjusted = {
        r.row.unit: (r.best, r.worst) for r in rank_ranges(rows, coverage=RankCoverage.NONE)
    }
    assert unadjusted == {"A": (1, 1), "B": (2, 2), "C": (3, 3)}
    assert stats.norm.ppf(1 - 0.05 / 3 / 2) * math.sqrt(2) > 3 > 1.96 * math.sqrt(2)
    # EACH: each unit against the 2 others, z = 2.241, margin 3.17 > 3: still tied.
    each = {r.row.unit: (r.best, r.worst) for r in rank_ranges(rows, coverage="each")}
    assert each == {"A": (1, 2), "B": (1, 2), "C": (3, 3)}


def test_small_samples_widen_rank_ranges() -> None:
    # The same estimates with 4 df each: Satterthwaite gives the difference 8 df, and
    # t_{8, 0.975} sqrt 2 = 3.26 > 3, so A and B cannot be told apart even unadjusted.
    rows = [row("A", 91, 1, 4), row("B", 88, 1, 4)]
    assert stats.t.ppf(0.975, 8) * math.sqrt(2) > 3
    ranges = {r.row.unit: (r.best, r.worst) for r in rank_ranges(rows, coverage="none")}
    assert ranges == {"A": (1, 2), "B": (1, 2)}


def test_change_between_rounds_by_hand() -> None:
    now, before = row("U1", 90.0, 1.5, 40), row("U1", 84.0, 2.0, 30)
    result = change(now, before)
    assert result.estimate == pytest.approx(6.0)
    assert result.se == pytest.approx(2.5)  # sqrt(1.5^2 + 2^2)
    # Satterthwaite: (2.25 + 4)^2 / (2.25^2 / 40 + 4^2 / 30) = 39.0625 / 0.659896 = 59.19
    assert result.df == pytest.approx(39.0625 / (2.25**2 / 40 + 16 / 30))
    half = stats.t.ppf(0.975, result.df) * 2.5
    assert (result.ci_low, result.ci_high) == pytest.approx((6 - half, 6 + half))
    assert result.direction == Direction.UP
    conservative = change(now, before, df_rule=DfRule.MINIMUM)
    assert conservative.df == 30
    assert conservative.ci_low == pytest.approx(6 - stats.t.ppf(0.975, 30) * 2.5)
    unclear = change(row("U1", 86.0, 1.5, 40), before)
    assert unclear.direction == Direction.NO_CLEAR_CHANGE
    assert change(row("U1", 78.0, 0.5, 40), before).direction == Direction.DOWN
    undefined = change(row("U1", 90.0, 1.5, 0), before)
    assert math.isnan(undefined.ci_low) and undefined.direction == Direction.NO_CLEAR_CHANGE
    with pytest.raises(ValueError, match="cannot compare"):
        other = IndexRow(**{**now.__dict__, "index": "A1", "kind": IndexKind.CRITERION})
        change(other, before)


TEMPLATE = TemplateSpec.from_tree({"HC": {"A": ["A1", "A2"], "B": ["B1"]}})


def a_round(shift: float, seed: int) -> Responses:
    rng = np.random.default_rng(seed)
    n = 900
    units = rng.choice(["U1", "U2", "U3"], size=n)
    level = np.select([units == "U1", units == "U2"], [4.6, 3.9], 3.0) + shift
    answers = np.clip(np.rint(level[:, None] + rng.normal(0, 0.8, (n, 3))), 1, 5)
    return Responses.build(
        TEMPLATE, response_id=np.arange(n), unit=units, area=["HT"] * n, answers=answers
    )


DOSSIERS = {("U1", "HT"): 5000, ("U2", "HT"): 4000, ("U3", "HT"): 6000}


def test_verdicts_ranks_and_changes_on_a_table() -> None:
    before = a_round(0.0, seed=1)
    now = a_round(0.6, seed=2)  # every unit better by 0.6 points
    table_now = index_table(now, TEMPLATE, weights_from_dossiers(now, DOSSIERS))
    table_before = index_table(before, TEMPLATE, weights_from_dossiers(before, DOSSIERS))
    verdicts = {v.row.unit: v.verdict for v in target_verdicts(table_now, 90.0)}
    u1 = table_now.find(Level.UNIT, unit="U1")
    assert u1.ci_low > 90 and verdicts["U1"] == Verdict.ABOVE
    assert verdicts["U3"] == Verdict.BELOW
    ranks = {r.row.unit: (r.best, r.worst) for r in rank_table(table_now)}
    assert ranks == {"U1": (1, 1), "U2": (2, 2), "U3": (3, 3)}
    moved = changes(table_now, table_before, level="unit")
    assert len(moved) == len(table_now.select(level="unit"))
    overall = [
        c for c in moved if c.current.kind == IndexKind.OVERALL and c.current.measure == "mean"
    ]
    assert {c.current.unit for c in overall} == {"U1", "U2", "U3"}
    assert all(c.direction == Direction.UP for c in overall)
    assert all(c.estimate == pytest.approx(c.current.estimate - c.previous.estimate) for c in moved)


def test_three_satisfied_citizens_are_not_above_a_ninety_percent_target() -> None:
    few = Responses.build(
        TEMPLATE,
        response_id=[1, 2, 3],
        unit=["U1"] * 3,
        area=["HT"] * 3,
        answers=np.full((3, 3), 5.0),
    )
    table = index_table(few, TEMPLATE, weights_from_dossiers(few, {("U1", "HT"): 400}))
    overall = table.find(Level.UNIT, unit="U1")
    assert overall.estimate == 100.0 and overall.se == 0.0
    # No variance to build a t interval on: the one-sided Korn-Graubard bound of a proportion
    # on 3 responses with 2 df, (0.025)^(1/3) = 29.24%, as for each criterion.
    assert overall.ci_low == pytest.approx(100 * 0.025 ** (1 / 3))
    assert overall.ci_method == "beta" and "p_is_0_or_1" in overall.flags
    assert verdict(overall, 90.0) == Verdict.CANNOT_TELL
