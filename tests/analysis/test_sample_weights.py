"""Weights of a sampled round worked out by hand: 1/pi_h adjusted for nonresponse within
strata, a stratum nobody answered merged into its unit's class, trimming that keeps the total,
and the AAPOR response rates (Standard Definitions, 10th edition, RR1 and RR2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.sampling import Dispositions, answer_completeness
from analysis.satisfaction import CellProblem, WeightingMethod, weights_from_sample
from analysis.weighting import trim_weights


def test_each_stratum_answers_for_its_own_dossiers() -> None:
    # Stratum U1/A: N = 200, n = 20 drawn, 16 answered: d = 10, adjusted 10 x 20/16 = 12.5,
    # which is N/r = 200/16. U2/A: N = 90, n = 9, 3 answered: 30.
    weighting = weights_from_sample(
        {("U1", "A"): 16, ("U2", "A"): 3},
        {("U1", "A"): (200, 20), ("U2", "A"): (90, 9)},
        trim_ratio=None,
    )
    assert weighting.method == WeightingMethod.SAMPLE
    assert list(weighting.weight) == [12.5, 30.0]
    assert list(weighting.fpc) == [200.0, 90.0]  # the finite-population correction: N_h
    assert float((weighting.weight * weighting.responses).sum()) == 290.0
    assert weighting.diagnostics.issues == ()
    assert "không bị cắt" in weighting.caveat_vi and "not trimmed" in weighting.caveat_en


def test_a_stratum_without_respondents_is_carried_by_its_units_other_strata() -> None:
    # Unit U1: A (N 300, n 30, r 12, d 10) and B (N 100, n 20, r 0, d 5) form one class:
    # factor (30 x 10 + 20 x 5) / (12 x 10) = 400/120, so w_A = 10 x 10/3 = 33.33..., and the
    # class still represents 300 + 100 dossiers. Unit U3 has no respondent at all: its dossiers
    # are not represented.
    weighting = weights_from_sample(
        {("U1", "A"): 12, ("U2", "A"): 5},
        {
            ("U1", "A"): (300, 30),
            ("U1", "B"): (100, 20),
            ("U2", "A"): (50, 5),
            ("U3", "A"): (40, 4),
        },
        trim_ratio=None,
    )
    assert weighting.weight == pytest.approx([100 / 3, 10.0])
    assert 12 * weighting.weight[0] == pytest.approx(400.0)
    [merged] = weighting.diagnostics.of(CellProblem.CLASS_MERGED)
    assert (merged.unit, merged.area, merged.dossiers) == ("U1", "B", 100.0)
    [lost] = weighting.diagnostics.of(CellProblem.NO_RESPONSES)
    assert (lost.unit, lost.dossiers) == ("U3", 40.0)
    assert weighting.diagnostics.dossiers == 490.0
    assert weighting.diagnostics.coverage == pytest.approx(450 / 490)


def test_responses_outside_the_sample_get_no_weight() -> None:
    weighting = weights_from_sample(
        {("U1", "A"): 2, ("U9", "A"): 1}, {("U1", "A"): (10, 2)}, trim_ratio=None
    )
    assert list(weighting.weight) == [5.0, 0.0]
    assert weighting.diagnostics.responses_excluded == 1
    assert weighting.diagnostics.of(CellProblem.NOT_SAMPLED)[0].unit == "U9"
    assert math.isinf(weighting.fpc[1])


def test_trimming_cuts_at_the_ratio_of_the_median_and_keeps_the_total() -> None:
    # Response weights 10 (x6), 20 (x3), 200 (x1): median 10, cap 3.5 x 10 = 35. The 165 cut
    # from the largest goes to the others in proportion to their weighted counts (60 + 60):
    # each multiplied by (60 + 60 + 165)/120 = 2.375 -> 23.75 and 47.5; 47.5 > 35 is cut in
    # turn, its excess 3 x 12.5 = 37.5 going to the 10s: 23.75 x (142.5 + 37.5)/142.5 = 30.
    weight, cap = trim_weights(np.array([10.0, 20.0, 200.0]), np.array([6, 3, 1]), 3.5)
    assert cap == 35.0
    assert weight == pytest.approx([30.0, 35.0, 35.0])
    assert float((weight * [6, 3, 1]).sum()) == pytest.approx(320.0)
    weighting = weights_from_sample(
        {("U1", "A"): 6, ("U1", "B"): 3, ("U2", "A"): 1},
        {("U1", "A"): (60, 6), ("U1", "B"): (60, 3), ("U2", "A"): (200, 1)},
    )
    assert weighting.weight == pytest.approx([30.0, 35.0, 35.0])
    assert weighting.diagnostics.trim_cap == 35.0
    assert weighting.diagnostics.trimmed_responses == 4  # the 200 and the three 20s
    assert "3,5 lần trung vị" in weighting.caveat_vi and "3.5 times" in weighting.caveat_en
    with pytest.raises(ValueError, match="at least 1"):
        trim_weights(weight, np.array([6, 3, 1]), 0.5)


def test_response_rates_follow_aapor() -> None:
    # 40 sampled: 18 complete, 4 partial, 2 break-offs, 5 refusals, 3 letters returned,
    # 8 without reply. RR1 = 18/40, RR2 = 22/40 (every sampled dossier is eligible).
    found = Dispositions(sampled=40, complete=18, partial=4, break_off=2, refused=5, noncontact=3)
    assert found.no_reply == 8
    assert (found.rr1, found.rr2) == (0.45, 0.55)
    total = found + Dispositions(sampled=10, complete=10)
    assert (total.sampled, total.rr1) == (50, 28 / 50)
    assert math.isnan(Dispositions(0).rr1)
    assert [answer_completeness(k, 10) for k in (10, 8, 7, 5, 4, 0)] == [
        "complete",
        "complete",
        "partial",
        "partial",
        "break_off",
        "break_off",
    ]
