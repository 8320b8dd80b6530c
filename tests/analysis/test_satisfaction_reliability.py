"""Cronbach's alpha against a published value.

The data: the five items of section 6 of the Law School Admission Test, 1,000 examinees given as
32 response patterns with their frequencies (Bock and Lieberman 1970, Psychometrika 35:179-197;
the table as in the OpenBUGS "LSAT" example). The published alpha: Rizopoulos (2006), "ltm: An R
package for latent variable modelling and item response theory analyses", Journal of
Statistical Software 17(5), ``descript(LSAT)``: Cronbach's alpha 0.2950 for all items, and
0.2754, 0.2376, 0.2168, 0.2459, 0.2663 with items 1 to 5 excluded.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from analysis.reliability_scale import cronbach_alpha, element_reliability
from analysis.satisfaction import Responses, TemplateSpec, weights_from_dossiers

# Frequencies of the patterns 00000, 00001, ..., 11111 (item 1 is the leftmost digit).
LSAT6 = [3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15, 10, 29, 14, 81, 3, 28, 15, 80, 16, 56,
         21, 173, 11, 61, 28, 298]  # fmt: skip
PATTERNS = np.array(list(itertools.product([0, 1], repeat=5)), dtype=float)


def test_cronbach_alpha_of_lsat6_is_the_published_value() -> None:
    examinees = np.repeat(PATTERNS, LSAT6, axis=0)
    assert len(examinees) == 1000
    assert round(cronbach_alpha(examinees), 4) == 0.2950
    excluded = [round(cronbach_alpha(np.delete(examinees, j, axis=1)), 4) for j in range(5)]
    assert excluded == [0.2754, 0.2376, 0.2168, 0.2459, 0.2663]


def test_frequency_weights_give_the_alpha_of_the_expanded_data() -> None:
    # The 32 patterns weighted by their frequencies are the 1,000 examinees.
    weighted = cronbach_alpha(PATTERNS, weights=np.array(LSAT6, dtype=float))
    assert weighted == pytest.approx(cronbach_alpha(np.repeat(PATTERNS, LSAT6, axis=0)), rel=1e-12)


def test_textbook_formula_with_listwise_deletion() -> None:
    items = np.array([[4, 5, 4], [2, 3, 3], [3, 3, 2], [5, 4, 5], [1, np.nan, 2]])
    # Complete cases only (the last row has a blank). Item variances (n - 1): 5/3, 2.75/3,
    # 5/3, sum 4.25; totals 13, 8, 8, 14, variance 30.75/3 = 10.25.
    # alpha = 3/2 (1 - 4.25 / 10.25) = 0.878049.
    assert cronbach_alpha(items) == pytest.approx(1.5 * (1 - 4.25 / 10.25), rel=1e-12)
    assert math.isnan(cronbach_alpha(items[:, :1]))  # one item: undefined
    assert math.isnan(cronbach_alpha(np.ones((5, 3))))  # no variance: undefined
    with pytest.raises(ValueError, match="non-negative"):
        cronbach_alpha(items, weights=np.array([1, 1, -1, 1, 1]))


def test_alpha_of_each_element_of_a_round() -> None:
    template = TemplateSpec.from_tree({"HC": {"A": ["A1", "A2", "A3"], "B": ["B1"]}})
    rng = np.random.default_rng(4)
    n = 400
    mood = rng.normal(3.5, 0.8, n)
    answers = np.clip(np.rint(mood[:, None] + rng.normal(0, 0.6, (n, 4))), 1, 5)
    answers[:5, 1] = np.nan
    units = np.where(np.arange(n) < 300, "U1", "U2")
    responses = Responses.build(
        template, response_id=np.arange(n), unit=units, area=["HT"] * n, answers=answers
    )
    unweighted = element_reliability(responses, template)
    a, b = unweighted
    assert (a.element, a.items, a.complete, a.weighted) == ("A", 3, 395, False)
    assert a.alpha == pytest.approx(cronbach_alpha(answers[:, :3]))
    assert 0.7 < a.alpha < 1  # the criteria share the respondent's mood
    assert b.items == 1 and math.isnan(b.alpha)
    weighting = weights_from_dossiers(responses, {("U1", "HT"): 3000, ("U2", "HT"): 9000})
    weighted = element_reliability(responses, template, weighting)[0]
    w = weighting.row_weights(responses)
    assert weighted.weighted and weighted.alpha == pytest.approx(cronbach_alpha(answers[:, :3], w))
    assert weighted.alpha != pytest.approx(a.alpha)  # U2 counts three times as much per response
