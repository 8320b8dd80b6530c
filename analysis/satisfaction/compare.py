"""Reading an index table against a target, against other units and against an earlier round.

Target verdict. A unit is "above target" only when its whole confidence interval lies above the
threshold (ci_low > target), "below" when the whole interval lies below it (ci_high < target),
and otherwise "cannot tell" (shared/domain.md, "Uncertainty"). With the two-sided 95% interval of
the table, "above" is a one-sided test at the 2.5% level. A row without an estimate has no data.
A row flagged ``cannot_tell`` (one response, no degrees of freedom, a zero SE), or without a
finite interval of positive width, is "cannot tell" whatever its interval (domain.md,
"Publishing": never above or below a target with a zero-width interval).

Rank ranges (Klein, Wright and Wieczorek 2020, "A joint confidence region for an overall ranking
of populations", JRSS C 69(3)). Units consist of disjoint sets of cells, hence of strata, so
their estimates are independent under the stratified design and the difference of two has
variance se_i^2 + se_j^2, with Satterthwaite's df (below). Unit j is "significantly above" unit
i when the (1 - alpha / M) interval of theta_j - theta_i lies above 0. The ranks compatible
with the comparisons are

    best_i = 1 + #{j significantly above i},    worst_i = K - #{j significantly below i}

(K units ranked). ``RankCoverage.JOINT`` takes M = K (K - 1) / 2 (Bonferroni over every pair):
all the ranges cover the true ranks together with probability at least 1 - alpha; ``EACH``
takes M = K - 1: each unit's range covers its own rank with that probability; ``NONE`` takes
M = 1 (unadjusted pairwise tests, for exploration only). Units whose ranges overlap cannot be
told apart. The same holds for areas and cells; desks that share a cell are slightly dependent
(their stratum's centring), which the ranges ignore. Unit trees (``Level.UNIT_TREE``) are
independent only when disjoint: rank the trees of units of one level, never a tree with one
nested in it.

Change between rounds. Two rounds are independent samples (different respondents, weighted to
different dossier counts), so the change has se = sqrt(se_now^2 + se_before^2). Its interval is
estimate +- t(df) se with Satterthwaite's (1946) approximation (Welch's df)

    df = (v1 + v2)^2 / (v1^2 / df1 + v2^2 / df2),

or, with ``DfRule.MINIMUM``, the smaller of the two df (conservative). When either df is below
1 the interval is left undefined. A change is "up" or "down" only when its interval excludes 0.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from analysis.intervals import t_interval
from analysis.satisfaction import IndexDefinition, IndexKind, IndexRow, IndexTable, Level
from analysis.satisfaction.inputs import ItemRole, TemplateSpec, choose


class Verdict(enum.StrEnum):
    ABOVE = "above"
    BELOW = "below"
    CANNOT_TELL = "cannot_tell"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class TargetVerdict:
    row: IndexRow
    target: float
    verdict: Verdict


def _no_verdict(row: IndexRow) -> bool:
    """Whether the row's interval cannot support any verdict (module docstring)."""
    return (
        "cannot_tell" in row.flags
        or not (math.isfinite(row.ci_low) and math.isfinite(row.ci_high))
        or row.ci_high - row.ci_low <= 0
    )


def verdict(row: IndexRow, target: float) -> Verdict:
    """The row against a target.

    Parameters
    ----------
    row
        One index of one domain, from ``IndexTable.find`` or ``rows``.
    target
        The threshold in the row's units (percent for top-2-box indices).

    Returns
    -------
    Verdict
        ABOVE only when ci_low > target, BELOW only when ci_high < target; NO_DATA without an
        estimate; CANNOT_TELL otherwise, and always for a row flagged ``cannot_tell`` or
        without an interval of positive width.
    """
    if not math.isfinite(target):
        raise ValueError("the target must be a finite number")
    if not math.isfinite(row.estimate):
        return Verdict.NO_DATA
    if _no_verdict(row):
        return Verdict.CANNOT_TELL
    if row.ci_low > target:
        return Verdict.ABOVE
    if row.ci_high < target:
        return Verdict.BELOW
    return Verdict.CANNOT_TELL


def target_verdicts(
    table: IndexTable,
    target: float,
    *,
    level: Level | str = Level.UNIT,
    index: str = "overall",
    kind: IndexKind | str | None = None,
    measure: IndexDefinition | str | None = None,
) -> tuple[TargetVerdict, ...]:
    """The verdict of every domain of ``level`` on one index (default: the overall index in
    the table's headline measure).

    Parameters
    ----------
    table : IndexTable
        The round's index table.
    target : float
        The target, in the measure's units.
    level : Level | str
        The domains' level (default: units).
    index : str
        The index code (default: overall).
    kind : IndexKind | str | None
        Its kind, when the code is ambiguous.
    measure : IndexDefinition | str | None
        The measure (default: the table's headline).

    Returns
    -------
    tuple[TargetVerdict, ...]
        Above, below or cannot tell, per domain.
    """
    rows = table.rows(
        level=level, index=index, kind=kind, measure=table.headline if measure is None else measure
    )
    if not rows:
        raise ValueError(f"the table has no {level} rows for index {index!r}")
    return tuple(TargetVerdict(row, float(target), verdict(row, target)) for row in rows)


class RankCoverage(enum.StrEnum):
    JOINT = "joint"  # all ranges together (Bonferroni over all pairs)
    EACH = "each"  # each unit's range on its own
    NONE = "none"  # unadjusted pairwise comparisons


@dataclass(frozen=True)
class RankRange:
    """``rank``: 1 + the number of domains with a higher estimate; ``best``..``worst``: the
    ranks compatible with the pairwise comparisons."""

    row: IndexRow
    rank: int
    best: int
    worst: int


def _satterthwaite(v1: np.ndarray, v2: np.ndarray, df1: np.ndarray, df2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v1 + v2) ** 2 / (v1**2 / df1 + v2**2 / df2)
    # With one variance zero the other's df is the answer; both zero: no sampling error.
    df = np.where((v1 == 0) & (v2 > 0), df2, df)
    df = np.where((v2 == 0) & (v1 > 0), df1, df)
    return np.where((df1 >= 1) & (df2 >= 1), df, np.nan)


def rank_ranges(
    rows: Sequence[IndexRow],
    *,
    confidence: float = 0.95,
    coverage: RankCoverage | str = RankCoverage.JOINT,
) -> tuple[RankRange, ...]:
    """Rank ranges of the given rows (one index, one measure, one level), in order of rank.
    Rows without an estimate are left out; a row flagged ``cannot_tell`` is told apart from
    no other row (its range spans every rank the others leave).

    Parameters
    ----------
    rows : Sequence[IndexRow]
        Rows of one level, index and measure.
    confidence : float
        Joint confidence of the pairwise comparisons.
    coverage : RankCoverage | str
        joint (all pairs), each (per row) or none.

    Returns
    -------
    tuple[RankRange, ...]
        Each row's point rank and its best and worst plausible ranks.
    """
    chosen = choose(RankCoverage, coverage, "coverage")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    ranked = [r for r in rows if math.isfinite(r.estimate)]
    if len({(r.level, r.kind, r.index, r.measure) for r in ranked}) > 1:
        raise ValueError("rank rows of one level, one index and one measure at a time")
    k = len(ranked)
    if k == 0:
        return ()
    estimate = np.array([r.estimate for r in ranked])
    variance = np.array([r.se**2 for r in ranked])
    df = np.array([r.df for r in ranked])
    unknown = np.array(["cannot_tell" in r.flags for r in ranked])
    pairs = {
        RankCoverage.JOINT: k * (k - 1) / 2,
        RankCoverage.EACH: k - 1,
        RankCoverage.NONE: 1,
    }[chosen]
    alpha = (1 - confidence) / max(pairs, 1)
    above = np.zeros(k, dtype=np.int64)
    below = np.zeros(k, dtype=np.int64)
    for start in range(0, k, 512):  # blocks of rows keep memory at 512 x K
        i = slice(start, min(start + 512, k))
        gap = estimate[None, :] - estimate[i, None]  # theta_j - theta_i
        v = variance[i, None] + variance[None, :]
        pair_df = _satterthwaite(variance[i, None], variance[None, :], df[i, None], df[None, :])
        ok = np.isfinite(pair_df) & np.isfinite(v)
        quantile = special.stdtrit(np.where(ok, pair_df, 1.0), 1 - alpha / 2)
        margin = np.where(ok, quantile * np.sqrt(v), np.inf)
        exact = v == 0  # no sampling error on either side: the estimates decide
        blind = unknown[i, None] | unknown[None, :]
        higher = ~blind & np.where(exact, gap > 0, gap - margin > 0)
        lower = ~blind & np.where(exact, gap < 0, gap + margin < 0)
        above[i] = higher.sum(axis=1)
        below[i] = lower.sum(axis=1)
    point = np.array([1 + int((estimate > e).sum()) for e in estimate])
    out = [
        RankRange(row, int(point[n]), int(1 + above[n]), int(k - below[n]))
        for n, row in enumerate(ranked)
    ]
    return tuple(sorted(out, key=lambda r: (r.rank, r.best, r.row.domain)))


def rank_table(
    table: IndexTable,
    *,
    level: Level | str = Level.UNIT,
    index: str = "overall",
    kind: IndexKind | str | None = None,
    measure: IndexDefinition | str | None = None,
    confidence: float = 0.95,
    coverage: RankCoverage | str = RankCoverage.JOINT,
) -> tuple[RankRange, ...]:
    """Rank ranges of every domain of ``level`` on one index of the table.

    Parameters
    ----------
    table : IndexTable
        The round's index table.
    level : Level | str
        The domains' level (default: units).
    index : str
        The index code (default: overall).
    kind : IndexKind | str | None
        Its kind, when the code is ambiguous.
    measure : IndexDefinition | str | None
        The measure (default: the table's headline).
    confidence : float
        Joint confidence.
    coverage : RankCoverage | str
        joint, each or none.

    Returns
    -------
    tuple[RankRange, ...]
        Rank ranges, in order of rank.
    """
    rows = table.rows(
        level=level, index=index, kind=kind, measure=table.headline if measure is None else measure
    )
    return rank_ranges(rows, confidence=confidence, coverage=coverage)


class DfRule(enum.StrEnum):
    SATTERTHWAITE = "satterthwaite"
    MINIMUM = "minimum"


class Direction(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    NO_CLEAR_CHANGE = "no_clear_change"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class Change:
    """current - previous, in the index's units (percentage points for top-2-box)."""

    current: IndexRow
    previous: IndexRow
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    confidence: float
    direction: Direction


def change(
    current: IndexRow,
    previous: IndexRow,
    *,
    df_rule: DfRule | str = DfRule.SATTERTHWAITE,
    confidence: float = 0.95,
) -> Change:
    """The change of one index between two rounds (independent samples; module docstring).

    Parameters
    ----------
    current : IndexRow
        The index in the later round.
    previous : IndexRow
        The same index in the earlier round.
    df_rule : DfRule | str
        Satterthwaite (default) or the smaller of the two dfs.
    confidence : float
        Confidence level.

    Returns
    -------
    Change
        The difference, its SE, df, interval and direction.

    Raises
    ------
    ValueError
        When the rows are different indices or measures.
    """
    rule = choose(DfRule, df_rule, "df_rule")
    if (current.kind, current.index, current.measure) != (
        previous.kind,
        previous.index,
        previous.measure,
    ):
        raise ValueError(
            f"cannot compare {current.kind} {current.index} ({current.measure}) with "
            f"{previous.kind} {previous.index} ({previous.measure})"
        )
    estimate = current.estimate - previous.estimate
    se = math.hypot(current.se, previous.se)
    if rule == DfRule.MINIMUM:
        df = min(current.df, previous.df) if min(current.df, previous.df) >= 1 else math.nan
    else:
        df = float(
            _satterthwaite(
                np.array(current.se**2),
                np.array(previous.se**2),
                np.array(current.df),
                np.array(previous.df),
            )
        )
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return Change(
            current, previous, estimate, se, df, math.nan, math.nan, confidence, Direction.NO_DATA
        )
    if se == 0:
        low = high = estimate
    elif math.isfinite(df):
        low, high = t_interval(estimate, se, df, confidence)
    else:
        low = high = math.nan
    direction = Direction.NO_CLEAR_CHANGE
    if low > 0:
        direction = Direction.UP
    elif high < 0:
        direction = Direction.DOWN
    return Change(current, previous, estimate, se, df, low, high, confidence, direction)


def changes(
    current: IndexTable,
    previous: IndexTable,
    *,
    level: Level | str | None = None,
    df_rule: DfRule | str = DfRule.SATTERTHWAITE,
    confidence: float = 0.95,
) -> tuple[Change, ...]:
    """The change of every index present in both tables under the same keys (level, unit,
    area, desk, kind, index, measure). Units renamed or merged between the rounds do not match
    and are left out: compare them explicitly with ``change``.

    Parameters
    ----------
    current : IndexTable
        The later round's table.
    previous : IndexTable
        The earlier round's table.
    level : Level | str | None
        Only this level (default: every level).
    df_rule : DfRule | str
        Satterthwaite (default) or minimum.
    confidence : float
        Confidence level.

    Returns
    -------
    tuple[Change, ...]
        One change per index present in both.
    """
    before = {
        (r.level, r.unit, r.area, r.desk, r.kind, r.index, r.measure): r
        for r in previous.rows(level=level)
    }
    out = []
    for row in current.rows(level=level):
        match = before.get(
            (row.level, row.unit, row.area, row.desk, row.kind, row.index, row.measure)
        )
        if match is not None:
            out.append(change(row, match, df_rule=df_rule, confidence=confidence))
    return tuple(out)


@dataclass(frozen=True)
class Comparability:
    """What two rounds' indices can be compared on (shared/domain.md, "Comparing rounds").

    ``same_definition``: every index, the overall one included, is defined the same way in
    both (same criteria with the same scales and satisfied values, same elements, aspects and
    index definition). Otherwise only ``criteria`` (in both, scored the same way), ``elements``
    (the same criteria in both) and ``aspects`` (the same elements) compare, and the overall
    index does not. ``left_out``: criteria of either round that are not compared."""

    same_definition: bool
    criteria: tuple[str, ...]
    elements: tuple[str, ...]
    aspects: tuple[str, ...]
    left_out: tuple[str, ...]

    def compares(self, row: IndexRow) -> bool:
        """Whether ``row``'s index is defined the same way in both rounds."""
        if self.same_definition:
            return True
        if row.kind == IndexKind.CRITERION:
            return row.index in self.criteria
        if row.kind == IndexKind.ELEMENT:
            return row.index in self.elements
        if row.kind == IndexKind.ASPECT:
            return row.index in self.aspects
        return False  # the overall index and the overall question's place in it


def comparability(current: TemplateSpec, previous: TemplateSpec) -> Comparability:
    """Which indices of a round on ``current`` compare with those of one on ``previous``.

    Parameters
    ----------
    current, previous
        The two rounds' questionnaire versions as the analysis sees them.

    Returns
    -------
    Comparability
        The shared criteria, elements and aspects, whether the whole definition is the same,
        and the criteria left out.
    """

    def scored(spec: TemplateSpec) -> dict[str, tuple[object, ...]]:
        return {
            i.code: (tuple(i.scale), tuple(i.satisfied))
            for i in spec.items
            if i.role == ItemRole.CRITERION
        }

    now, before = scored(current), scored(previous)
    criteria = tuple(c for c in now if c in before and now[c] == before[c])
    same_criteria = set(criteria)
    elements_now = {e.code: e.items for e in current.elements}
    elements_before = {e.code: e.items for e in previous.elements}
    elements = tuple(
        code
        for code, items in elements_now.items()
        if set(items) == set(elements_before.get(code, ())) and set(items) <= same_criteria
    )
    aspects_before = {a.code: a.elements for a in previous.aspects}
    aspects = tuple(
        a.code
        for a in current.aspects
        if set(a.elements) == set(aspects_before.get(a.code, ()))
        and set(a.elements) <= set(elements)
    )
    same = (
        current.index_definition == previous.index_definition
        and set(now) == set(before) == same_criteria
        and set(elements_now) == set(elements_before) == set(elements)
        and {a.code for a in current.aspects} == set(aspects_before) == set(aspects)
    )
    left_out = tuple(sorted((set(now) | set(before)) - same_criteria))
    return Comparability(same, criteria, elements, aspects, left_out)
