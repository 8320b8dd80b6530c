"""The publishing rule (domain.md, "Publishing"; NCHS presentation standards, Parker et al. 2017)
on rows whose numbers are worked out by hand in each test; Korn-Graubard bounds from R 4.2's
binom.test(3, 4)$conf.int = 0.194120449683243 0.993690536790290 and (0.025)^(1/3)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from analysis.publishing import (
    DEFAULT_RULE,
    PublishingRule,
    Severity,
    Status,
    assess,
    assess_table,
)
from analysis.satisfaction import IndexDefinition, IndexKind, IndexRow, Level
from tests.analysis.test_satisfaction_cannot_tell import _table

BASE = IndexRow(
    level=Level.UNIT,
    unit="U1",
    area=None,
    desk=None,
    kind=IndexKind.OVERALL,
    index="overall",
    measure=IndexDefinition.TOP2BOX,
    estimate=85.0,
    se=2.3,
    df=150.0,
    ci_low=80.0,
    ci_high=89.0,
    confidence=0.95,
    ci_method="t",
    n=210,
    n_answering=200,
    n_excluded=0,
    n_eff=200.0,
    deff=1.0,
    coverage=1.0,
)


def row(**changes: Any) -> IndexRow:
    return dataclasses.replace(BASE, **changes)


def test_a_well_measured_index_is_published() -> None:
    verdict = assess(BASE)  # n_eff 200 >= 30, width 9 < 30, 9 / 85 = 11% <= 130%, df 150
    assert verdict.status == Status.PUBLISH and verdict.publishable
    assert verdict.reasons == () and not verdict.review and not verdict.cannot_tell
    assert (verdict.ci_low, verdict.ci_high) == (80.0, 89.0)
    assert verdict.label_vi == "công bố được"


def test_too_few_effective_respondents_are_suppressed() -> None:
    verdict = assess(row(n_eff=29.9))
    assert verdict.status == Status.SUPPRESS and verdict.codes == ("n_eff<30",)
    assert verdict.reasons[0].vi == "ít hơn 30 người trả lời hiệu dụng"
    assert verdict.reasons[0].en == "fewer than 30 effective respondents"
    assert verdict.label_vi == "chưa đủ số liệu để công bố"
    assert assess(row(n_eff=30.0)).publishable  # "at least 30"


def test_an_interval_of_thirty_points_or_more_is_suppressed() -> None:
    # 60 - 30 = 30 points: not narrower than 30.
    wide = assess(row(estimate=45.0, ci_low=30.0, ci_high=60.0))
    assert wide.codes == ("wide_ci",) and not wide.publishable
    assert "30.0 điểm phần trăm" in wide.reasons[0].vi
    # 29.9 points and 29.9 / 45 = 66% of the estimate: published.
    assert assess(row(estimate=45.0, ci_low=30.0, ci_high=59.9)).publishable


def test_relative_width_over_five_points() -> None:
    # Width 18 - 4 = 14 points > 5 and 14 / 10 = 140% > 130%: suppressed.
    assert assess(row(estimate=10.0, ci_low=4.0, ci_high=18.0)).codes == ("wide_relative_ci",)
    # Width 20 - 5 = 15 points, 15 / 12 = 125%: published.
    assert assess(row(estimate=12.0, ci_low=5.0, ci_high=20.0)).publishable
    # Width 5 points exactly at an estimate of 2 (250%): the relative rule starts above 5.
    assert assess(row(estimate=2.0, ci_low=0.5, ci_high=5.5)).publishable


def test_few_degrees_of_freedom_are_flagged_for_review_not_suppressed() -> None:
    verdict = assess(row(df=7.0))
    assert verdict.publishable and verdict.review and verdict.codes == ("df<8",)
    assert verdict.reasons[0].severity == Severity.REVIEW
    assert not assess(row(df=8.0)).review


def test_a_zero_width_interval_is_never_passed_on() -> None:
    # 75% with SE 0 from 4 answers, df 3: the Korn-Graubard interval on n* = 4 (t_3 / t_3)^2
    # = 4, i.e. Clopper-Pearson for 3 of 4 = R's binom.test(3, 4).
    verdict = assess(
        row(estimate=75.0, se=0.0, df=3.0, ci_low=75.0, ci_high=75.0, n_answering=4, n_eff=4.0)
    )
    assert verdict.cannot_tell
    assert verdict.ci_low == pytest.approx(19.4120449683243, rel=1e-9)
    assert verdict.ci_high == pytest.approx(99.3690536790290, rel=1e-9)
    # n_eff 4 < 30, width 79.96 >= 30: suppressed; df 3 < 8 and cannot tell: review.
    assert verdict.codes == ("n_eff<30", "wide_ci", "df<8", "cannot_tell")
    assert verdict.reasons[-1].vi.startswith("chưa kết luận được")


def test_one_response_is_cannot_tell_with_a_stated_interval() -> None:
    # 100% from 3 answers, df 2: [(0.025)^(1/3), 1] = [29.2401773821287%, 100%].
    verdict = assess(
        row(estimate=100.0, se=0.0, df=2.0, ci_low=100.0, ci_high=100.0, n_answering=3, n_eff=3.0)
    )
    assert verdict.ci_low == pytest.approx(100 * 0.025 ** (1 / 3))
    assert verdict.ci_high == 100.0
    assert "p_is_0_or_1" in verdict.codes and "cannot_tell" in verdict.codes
    one = assess(
        row(estimate=100.0, se=0.0, df=0.0, ci_low=2.5, ci_high=100.0, n_answering=1, n_eff=1.0)
    )
    assert one.cannot_tell and one.status == Status.SUPPRESS


def test_a_mean_score_without_variance_has_no_interval_and_is_suppressed() -> None:
    verdict = assess(
        row(
            measure=IndexDefinition.MEAN,
            estimate=4.0,
            se=0.0,
            ci_low=math.nan,
            ci_high=math.nan,
            ci_method="none",
        )
    )
    assert verdict.ci_low is None and verdict.ci_high is None
    assert verdict.codes == ("no_interval", "cannot_tell") and not verdict.publishable
    # A mean score with an interval is judged on n_eff and df only (no width rule in points).
    assert assess(
        row(measure=IndexDefinition.MEAN, estimate=4.0, ci_low=3.0, ci_high=4.9, se=0.5)
    ).publishable


def test_clipped_and_complement_notes_do_not_suppress() -> None:
    clipped = assess(row(flags=("clipped",)))
    assert clipped.publishable and clipped.clipped and clipped.codes == ("clipped",)
    # 96% within [88, 99.5]: width 11.5, 11.5 / 96 = 12% but 11.5 / (100 - 96) = 288% > 130%.
    complement = assess(row(estimate=96.0, ci_low=88.0, ci_high=99.5))
    assert complement.publishable
    assert complement.codes == ("wide_relative_ci_complement",)
    assert complement.reasons[0].severity == Severity.NOTE


def test_no_estimate_is_no_data() -> None:
    verdict = assess(row(estimate=math.nan, se=math.nan, ci_low=math.nan, ci_high=math.nan))
    assert verdict.status == Status.NO_DATA and verdict.codes == ("no_data",)


def test_the_rule_is_a_setting() -> None:
    strict = PublishingRule(min_n_eff=250, max_ci_width=8.0)
    verdict = assess(BASE, strict)  # 200 < 250, 9 >= 8
    assert verdict.codes == ("n_eff<30", "wide_ci")
    assert verdict.reasons[0].vi == "ít hơn 250 người trả lời hiệu dụng"
    assert "30 điểm phần trăm" in DEFAULT_RULE.annex_vi and "130%" in DEFAULT_RULE.annex_en
    with pytest.raises(ValueError, match="min_n_eff"):
        PublishingRule(min_n_eff=0)
    with pytest.raises(ValueError, match="relative_width_above"):
        PublishingRule(relative_width_above=40)


def test_a_table_assessed_row_by_row() -> None:
    table = _table()  # U3 has a single response (test_satisfaction_cannot_tell)
    rows = table.select(level="unit", unit="U3")
    verdicts = assess_table(table, rows=rows)
    assert len(verdicts) == len(rows)
    assert all(v.cannot_tell and v.status == Status.SUPPRESS for v in verdicts)
    assert len(assess_table(table)) == len(table)
