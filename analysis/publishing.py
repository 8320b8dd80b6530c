"""What an index may show the public: the publishing rule of shared/domain.md ("Publishing"),
after the NCHS Data Presentation Standards for Proportions (Parker JD, Talih M, Malec DJ, et al.,
National Center for Health Statistics, Vital Health Stat 2(175), 2017).

For an index on the percent scale (top-2-box shares, their element, aspect and overall means,
and mean scores as a percent of the scale maximum), with its Korn-Graubard interval (the
t interval for composites) of width W = ci_high - ci_low in percentage points:

=============================== ================================================================
suppress ``n_eff<30``           effective sample size below ``min_n_eff`` (30)
suppress ``wide_ci``            W >= ``max_ci_width`` (30 points)
suppress ``wide_relative_ci``   W > ``relative_width_above`` (5 points) and W / estimate >
                                ``max_relative_width`` (130%); at an estimate of 0 the relative
                                width is undefined and the rule does not apply (as NCHS)
suppress ``no_interval``        no interval can be given (a mean score without variance)
suppress ``no_data``            no estimate
review ``df<8``                 design degrees of freedom below ``df_review`` (8)
review ``p_is_0_or_1``          an estimate of 0% or 100% (NCHS: statistical review)
review ``cannot_tell``          one answering response, no degrees of freedom (one PSU or desk in
                                each cell) or a zero standard error: "chưa kết luận được", never
                                above or below a target
note ``clipped``                the interval was cut at the end of the scale (0-100%, 1-5)
note ``wide_relative_ci_        the same relative rule fails for 100 - estimate: the
complement``                    complementary share (the not satisfied) must not be quoted
=============================== ================================================================

A mean score on the 1-5 scale is judged on ``n_eff``, ``df`` and the existence of an interval;
the width rules, in percentage points, do not apply to it. Suppressed numbers stay in the staff
console with their reasons ("chưa đủ số liệu để công bố" on public pages). No interval of zero
width is ever passed on: a row that has one is "cannot tell" and, on the percent scale, gets the
Korn-Graubard interval on its answering count m (Clopper-Pearson on n* = m (t_{m-1} / t_df)^2,
the rule the index table uses), otherwise no interval.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.intervals import proportion_interval
from analysis.satisfaction.inputs import IndexDefinition
from analysis.satisfaction.table import IndexRow, IndexTable

__all__ = [
    "DEFAULT_RULE",
    "PublishingRule",
    "Reason",
    "Severity",
    "Status",
    "Verdict",
    "assess",
    "assess_table",
]


class Status(enum.StrEnum):
    PUBLISH = "publish"
    SUPPRESS = "suppress"
    NO_DATA = "no_data"


class Severity(enum.StrEnum):
    SUPPRESS = "suppress"  # keeps the number off public pages
    REVIEW = "review"  # shown flagged; a statistician looks at it
    NOTE = "note"  # said beside the number


@dataclass(frozen=True)
class Reason:
    """Why a number is suppressed, flagged or annotated: a machine ``code`` and one short
    sentence in Vietnamese and in English for the person reading the page."""

    code: str
    severity: Severity
    vi: str
    en: str


@dataclass(frozen=True)
class PublishingRule:
    """The thresholds of the module docstring (NCHS defaults). Widths are in percentage
    points, ``max_relative_width`` a ratio (1.30 = 130%). A setting per round, printed in the
    methods annex (``annex_vi``, ``annex_en``)."""

    min_n_eff: float = 30.0
    max_ci_width: float = 30.0
    relative_width_above: float = 5.0
    max_relative_width: float = 1.30
    df_review: float = 8.0

    def __post_init__(self) -> None:
        for name in ("min_n_eff", "max_ci_width", "max_relative_width", "df_review"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if not (0 <= self.relative_width_above < self.max_ci_width):
            raise ValueError("relative_width_above must be between 0 and max_ci_width")

    @property
    def annex_vi(self) -> str:
        return (
            f"Một chỉ số được công bố khi cỡ mẫu hiệu dụng từ {self.min_n_eff:g} trở lên, "
            f"khoảng tin cậy 95% (Korn-Graubard) hẹp hơn {self.max_ci_width:g} điểm phần trăm "
            f"và, khi rộng hơn {self.relative_width_above:g} điểm, không quá "
            f"{100 * self.max_relative_width:g}% giá trị ước lượng; bậc tự do dưới "
            f"{self.df_review:g} được đánh dấu để xem lại (tiêu chuẩn NCHS, Parker và cộng sự "
            "2017)."
        )

    @property
    def annex_en(self) -> str:
        return (
            f"An index is published when its effective sample size is at least "
            f"{self.min_n_eff:g}, its 95% (Korn-Graubard) interval is narrower than "
            f"{self.max_ci_width:g} percentage points and, when wider than "
            f"{self.relative_width_above:g} points, at most {100 * self.max_relative_width:g}% "
            f"of the estimate; fewer than {self.df_review:g} degrees of freedom are flagged for "
            "review (NCHS standards, Parker et al. 2017)."
        )


DEFAULT_RULE = PublishingRule()

_STATUS_TEXT = {
    Status.PUBLISH: ("công bố được", "can be published"),
    Status.SUPPRESS: ("chưa đủ số liệu để công bố", "not enough data to publish"),
    Status.NO_DATA: ("không có số liệu", "no data"),
}


@dataclass(frozen=True)
class Verdict:
    """Whether one index may be published, and what to say with it.

    ``status``: PUBLISH, SUPPRESS (kept off public pages, shown flagged in the console) or
    NO_DATA. ``review``: flagged for a statistician's review. ``cannot_tell``: no verdict
    against a target ("chưa kết luận được"). ``ci_low``/``ci_high``: the interval to show
    with it, never of zero width (None: none can be given). ``reasons``: every rule that
    applies, suppressing ones first. (Not ``analysis.satisfaction.compare.Verdict``, the
    verdict against a target.)"""

    status: Status
    review: bool
    cannot_tell: bool
    clipped: bool
    ci_low: float | None
    ci_high: float | None
    reasons: tuple[Reason, ...]

    @property
    def publishable(self) -> bool:
        return self.status == Status.PUBLISH

    @property
    def label_vi(self) -> str:
        return _STATUS_TEXT[self.status][0]

    @property
    def label_en(self) -> str:
        return _STATUS_TEXT[self.status][1]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


def _reason(code: str, rule: PublishingRule, width: float = math.nan) -> Reason:
    texts = {
        "no_data": (Severity.SUPPRESS, "không có câu trả lời", "nobody answered"),
        "n_eff<30": (
            Severity.SUPPRESS,
            f"ít hơn {rule.min_n_eff:g} người trả lời hiệu dụng",
            f"fewer than {rule.min_n_eff:g} effective respondents",
        ),
        "wide_ci": (
            Severity.SUPPRESS,
            f"khoảng tin cậy rộng {width:.1f} điểm phần trăm "
            f"(từ {rule.max_ci_width:g} điểm trở lên là quá rộng)",
            f"the confidence interval is {width:.1f} points wide "
            f"({rule.max_ci_width:g} points or more is too wide)",
        ),
        "wide_relative_ci": (
            Severity.SUPPRESS,
            f"khoảng tin cậy rộng hơn {100 * rule.max_relative_width:g}% của chính con số",
            f"the confidence interval is wider than {100 * rule.max_relative_width:g}% "
            "of the number itself",
        ),
        "no_interval": (
            Severity.SUPPRESS,
            "không tính được khoảng tin cậy",
            "no confidence interval can be given",
        ),
        "df<8": (
            Severity.REVIEW,
            f"bậc tự do dưới {rule.df_review:g}: cần cán bộ thống kê xem lại",
            f"fewer than {rule.df_review:g} degrees of freedom: a statistician should review it",
        ),
        "p_is_0_or_1": (
            Severity.REVIEW,
            "tỷ lệ bằng 0% hoặc 100%: khoảng tin cậy tính theo số người trả lời",
            "the share is 0% or 100%: its interval rests on the number who answered",
        ),
        "cannot_tell": (
            Severity.REVIEW,
            "chưa kết luận được: chỉ một phiếu, một quầy hoặc không đo được sai số",
            "cannot tell: one response, one desk or no measurable error",
        ),
        "clipped": (
            Severity.NOTE,
            "khoảng tin cậy bị cắt ở đầu thang đo",
            "the interval was cut at the end of the scale",
        ),
        "wide_relative_ci_complement": (
            Severity.NOTE,
            "không nên nêu tỷ lệ ngược lại (chưa hài lòng): khoảng tin cậy của nó quá rộng",
            "do not quote the complementary share (not satisfied): its interval is too wide",
        ),
    }
    severity, vi, en = texts[code]
    return Reason(code, severity, vi, en)


def _count_interval(
    estimate: float, df: float, m: int, confidence: float
) -> tuple[float, float] | None:
    """Korn-Graubard on the answering count: effective size m (percent in, percent out)."""
    if not (math.isfinite(estimate) and m >= 1):
        return None
    p = min(max(estimate / 100, 0.0), 1.0)
    low, high = proportion_interval(
        p, math.sqrt(p * (1 - p) / m), df, m, "beta", confidence, n_rows=m
    )
    return 100 * low, 100 * high


def assess(row: IndexRow, rule: PublishingRule = DEFAULT_RULE) -> Verdict:
    """The publishing verdict of one index row (module docstring).

    Parameters
    ----------
    row
        One row of an ``IndexTable`` (``IndexTable.find``, ``rows`` or ``row``).
    rule
        The round's publishing rule; the NCHS defaults when not given.

    Returns
    -------
    Verdict
        Status, review and cannot-tell flags, the interval to show and the reasons, in
        Vietnamese and English.
    """
    if not math.isfinite(row.estimate):
        return Verdict(Status.NO_DATA, False, False, False, None, None, (_reason("no_data", rule),))
    percent = row.measure in (IndexDefinition.TOP2BOX, IndexDefinition.MEAN_PCT)
    low, high = row.ci_low, row.ci_high
    interval: tuple[float, float] | None = None
    if math.isfinite(low) and math.isfinite(high) and high > low:
        interval = (low, high)
    cannot_tell = (
        "cannot_tell" in row.flags
        or row.n_answering <= 1
        or row.df <= 0
        or not row.se > 0
        or interval is None
    )
    if interval is None and percent:
        interval = _count_interval(row.estimate, row.df, row.n_answering, row.confidence)
    codes: list[str] = []
    if row.n_eff < rule.min_n_eff:
        codes.append("n_eff<30")
    width = math.nan if interval is None else interval[1] - interval[0]
    if interval is None:
        codes.append("no_interval")
    elif percent and width >= rule.max_ci_width:
        codes.append("wide_ci")
    elif (
        percent
        and width > rule.relative_width_above
        and row.estimate > 0
        and width / row.estimate > rule.max_relative_width
    ):
        codes.append("wide_relative_ci")
    if row.df < rule.df_review:
        codes.append("df<8")
    if percent and (row.estimate <= 0 or row.estimate >= 100):
        codes.append("p_is_0_or_1")
    if cannot_tell:
        codes.append("cannot_tell")
    clipped = "clipped" in row.flags
    if clipped:
        codes.append("clipped")
    if (
        percent
        and interval is not None
        and rule.relative_width_above < width < rule.max_ci_width
        and row.estimate < 100
        and width / (100 - row.estimate) > rule.max_relative_width
    ):
        codes.append("wide_relative_ci_complement")
    reasons = tuple(_reason(code, rule, width) for code in codes)
    suppressed = any(r.severity == Severity.SUPPRESS for r in reasons)
    return Verdict(
        status=Status.SUPPRESS if suppressed else Status.PUBLISH,
        review=any(r.severity == Severity.REVIEW for r in reasons),
        cannot_tell=cannot_tell,
        clipped=clipped,
        ci_low=None if interval is None else interval[0],
        ci_high=None if interval is None else interval[1],
        reasons=reasons,
    )


def assess_table(
    table: IndexTable,
    rule: PublishingRule = DEFAULT_RULE,
    rows: Sequence[int] | np.ndarray | None = None,
) -> tuple[Verdict, ...]:
    """The verdict of every row of an index table, or of the row numbers ``rows``
    (``IndexTable.select``), in that order.

    Parameters
    ----------
    table
        The round's index table.
    rule
        The round's publishing rule.
    rows
        Row numbers to assess; all rows when None.

    Returns
    -------
    tuple of Verdict
        One per row assessed.
    """
    chosen = range(len(table)) if rows is None else [int(i) for i in rows]
    return tuple(assess(table.row(i), rule) for i in chosen)
