"""Reliability flags after the NCHS Data Presentation Standards for Proportions (Parker JD, Talih
M, Malec DJ, et al., National Center for Health Statistics, Vital Health Stat 2(175), 2017).

A flag never hides the number: the estimate, its SE and its interval are always returned, and the
flags say which presentation rule it fails. The thresholds (NCHS, for proportions on the 0-1
scale, with the Korn-Graubard interval as the reference interval):

=============================== =============================================================
``n_eff<30``                    effective sample size n_eff < 30 (NCHS: suppress)
``wide_ci``                     absolute interval width >= 0.30 (NCHS: suppress)
``wide_relative_ci``            0.05 < width < 0.30 and width / p > 130% (NCHS: suppress)
``wide_relative_ci_complement`` the same rule for the complementary proportion 1 - p: p may be
                                shown but 1 - p (say, the dissatisfied share) should not
``df<8``                        design degrees of freedom < 8 (NCHS: flag for review)
``p_is_0_or_1``                 p = 0 or 1: no variance estimate; the interval is the one-sided
                                Korn-Graubard bound with n_eff = n (NCHS: flag for review; the
                                relative-width rule is undefined for p and is applied to the
                                complement only)
=============================== =============================================================

For every statistic: ``n<30`` (fewer than 30 responses carry the variable: few responses),
``df<8`` and ``lonely_psu_adjusted`` (a stratum of the domain has a single PSU and the variance
used one of R's lonely-PSU options instead of failing). Widths are on the scale of the estimate.
"""

from __future__ import annotations

import math

MIN_RESPONSES = 30
MIN_N_EFF = 30
MIN_DF = 8
MAX_ABSOLUTE_WIDTH = 0.30
MAX_RELATIVE_WIDTH = 1.30
RELATIVE_FLOOR = 0.05


def reliability_flags(
    *,
    n: int,
    n_eff: float,
    df: float,
    value: float,
    ci_low: float,
    ci_high: float,
    is_proportion: bool,
    lonely_psu_adjusted: bool = False,
) -> tuple[str, ...]:
    """The flags of the module docstring that apply, in a fixed order."""
    flags: list[str] = []
    if n < MIN_RESPONSES:
        flags.append("n<30")
    if df < MIN_DF:
        flags.append("df<8")
    if lonely_psu_adjusted:
        flags.append("lonely_psu_adjusted")
    if not is_proportion:
        return tuple(flags)
    if n_eff < MIN_N_EFF:
        flags.append("n_eff<30")
    if value <= 0 or value >= 1:
        flags.append("p_is_0_or_1")
    width = ci_high - ci_low
    if not math.isfinite(width):
        return tuple(flags)
    if width >= MAX_ABSOLUTE_WIDTH:
        flags.append("wide_ci")
    elif width > RELATIVE_FLOOR:
        if 0 < value < 1 and width / value > MAX_RELATIVE_WIDTH:
            flags.append("wide_relative_ci")
        if value < 1 and width / (1 - value) > MAX_RELATIVE_WIDTH:
            flags.append("wide_relative_ci_complement")
    return tuple(flags)
