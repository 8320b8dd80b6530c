"""Weights of a round: N/n by hand, every problem cell reported, raking by hand and against the
general raking of analysis.calibration (R's rake)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import calibration
from analysis.design import Design
from analysis.satisfaction import (
    CellCount,
    CellProblem,
    Responses,
    TemplateSpec,
    rake_to_margins,
    weights_from_dossiers,
)
from analysis.weighting import CONSEQUENCE, WeightingMethod

TEMPLATE = TemplateSpec.from_tree({"HC": {"A": ["A1"]}})


def responses(cells: list[tuple[str, str]]) -> Responses:
    return Responses.build(
        TEMPLATE,
        response_id=np.arange(len(cells)),
        unit=[u for u, _a in cells],
        area=[a for _u, a in cells],
        answers=np.full((len(cells), 1), 4.0),
    )


def test_weights_are_dossiers_over_responses_of_each_cell() -> None:
    round_ = responses(
        [("U1", "HT"), ("U1", "HT"), ("U1", "DD"), ("U2", "HT")] + [("U2", "DD")] * 4
    )
    weighting = weights_from_dossiers(
        round_,
        [
            CellCount("U1", "HT", 300),  # 2 responses: 150 each
            CellCount("U1", "DD", 50),  # 1 response: 50
            CellCount("U2", "DD", 2),  # 4 responses, 2 dossiers: 0.5 each, no fpc
            CellCount("U3", "HT", 10),  # nobody answered
        ],
    )
    assert weighting.method == WeightingMethod.DOSSIERS
    assert list(weighting.row_weights(round_)) == [150, 150, 50, 0, 0.5, 0.5, 0.5, 0.5]
    assert weighting.weight_of("U1", "HT") == 150.0
    assert list(zip(weighting.unit, weighting.area, strict=True)) == [
        ("U1", "DD"),
        ("U1", "HT"),
        ("U2", "DD"),
        ("U2", "HT"),
    ]
    assert list(weighting.fpc) == [50, 300, math.inf, math.inf]
    diagnostics = weighting.diagnostics
    [missing] = diagnostics.of(CellProblem.NO_DOSSIER_COUNT)
    assert (missing.unit, missing.area, missing.responses) == ("U2", "HT", 1)
    [unanswered] = diagnostics.of("no_responses")
    assert (unanswered.unit, unanswered.area, unanswered.dossiers) == ("U3", "HT", 10)
    [short] = diagnostics.of(CellProblem.FEWER_DOSSIERS_THAN_RESPONSES)
    assert (short.unit, short.area, short.responses, short.dossiers) == ("U2", "DD", 4, 2)
    assert diagnostics.responses == 8 and diagnostics.responses_excluded == 1
    # 362 dossiers in the frame, 352 of them in cells with weighted responses.
    assert diagnostics.coverage == pytest.approx(352 / 362)
    # Every problem says, in both languages, what was done about it.
    for problem in CellProblem:
        vi, en = CONSEQUENCE[problem]
        assert vi and en
    assert "excluded" in CONSEQUENCE[CellProblem.NO_DOSSIER_COUNT][1]


def test_the_caveat_states_the_assumption_in_both_languages() -> None:
    weighting = weights_from_dossiers({("U1", "HT"): 3}, {("U1", "HT"): 30})
    assert "within each unit × service area cell" in weighting.caveat_en
    assert "those who answered are taken to be like those who did not" in weighting.caveat_en
    assert "những người đã trả lời được coi là giống những người không trả lời" in (
        weighting.caveat_vi
    )


def test_a_cell_given_twice_or_a_bad_count_is_refused() -> None:
    with pytest.raises(ValueError, match="cell U1/HT is given twice"):
        weights_from_dossiers({("U1", "HT"): 3}, [CellCount("U1", "HT", 5), ("U1", "HT", 6)])
    with pytest.raises(ValueError, match="count must be finite and >= 0"):
        CellCount("U1", "HT", -1)
    with pytest.raises(ValueError, match="fractional count"):
        weights_from_dossiers({("U1", "HT"): 2.5}, {("U1", "HT"): 30})


def test_raking_by_hand() -> None:
    # Ten responses in each of four cells; units hold 300 and 100 dossiers, areas 200 each.
    # w = a_u b_a with b_HT = b_DD by symmetry, so 20 a_U1 b = 300 and 20 a_U2 b = 100:
    # U1's cells weigh 15 and U2's weigh 5 (and each area gets 10 x 15 + 10 x 5 = 200).
    cells = {("U1", "HT"): 10, ("U1", "DD"): 10, ("U2", "HT"): 10, ("U2", "DD"): 10}
    weighting = rake_to_margins(
        cells, unit_totals={"U1": 300, "U2": 100}, area_totals={"HT": 200, "DD": 200}
    )
    assert weighting.method == WeightingMethod.RAKING
    assert weighting.weight_of("U1", "HT") == pytest.approx(15)
    assert weighting.weight_of("U2", "DD") == pytest.approx(5)
    assert np.all(np.isinf(weighting.fpc))  # N per cell unknown: no fpc
    assert "raking" in weighting.caveat_en and "cân chỉnh" in weighting.caveat_vi


def test_raked_weights_equal_the_general_raking() -> None:
    rng = np.random.default_rng(2)
    units = rng.choice(["U1", "U2", "U3"], size=400, p=[0.5, 0.3, 0.2])
    areas = rng.choice(["HT", "DD", "XD"], size=400, p=[0.2, 0.5, 0.3])
    round_ = Responses.build(
        TEMPLATE, response_id=np.arange(400), unit=units, area=areas, answers=np.ones((400, 1))
    )
    unit_totals = {"U1": 900.0, "U2": 2500.0, "U3": 600.0}
    area_totals = {"HT": 1000.0, "DD": 1800.0, "XD": 1200.0}
    weighting = rake_to_margins(round_, unit_totals=unit_totals, area_totals=area_totals)
    general = calibration.rake(
        Design.build(n=400),
        [(units, unit_totals), (areas, area_totals)],
        epsilon=1e-12,
        maxit=500,
    )
    assert np.allclose(weighting.row_weights(round_), general.weights, rtol=1e-9)
    assert weighting.diagnostics.raking_max_error < 1e-10


def test_raking_reports_what_it_cannot_use() -> None:
    cells = {("U1", "HT"): 4, ("U1", "DD"): 6, ("U2", "HT"): 5, ("U9", "HT"): 2}
    weighting = rake_to_margins(
        cells,
        unit_totals={"U1": 100, "U2": 50, "U3": 30},  # U3 has no responses; U9 no total
        area_totals={"HT": 110, "DD": 70},
    )
    diagnostics = weighting.diagnostics
    [no_margin] = diagnostics.of("no_margin")
    assert (no_margin.unit, no_margin.area, no_margin.responses) == ("U9", "HT", 2)
    assert weighting.weight_of("U9", "HT") == 0.0 and diagnostics.responses_excluded == 2
    [unused] = diagnostics.of("margin_without_responses")
    assert (unused.unit, unused.area, unused.dossiers) == ("U3", "", 30)
    # Without U3 the unit totals hold 150 dossiers: the area totals are scaled by 150 / 180.
    assert diagnostics.area_total_scale == pytest.approx(150 / 180)
    total = sum(weighting.weight_of(u, a) * n for (u, a), n in cells.items())
    assert total == pytest.approx(150)
    with pytest.raises(ValueError, match="both margins must count the same dossiers"):
        rake_to_margins(cells, unit_totals={"U1": 100}, area_totals={"HT": 90})
