"""Reliability flags after the NCHS Data Presentation Standards for Proportions (Parker et al.,
National Center for Health Statistics, Vital Health Stat 2(175), 2017).

For proportions: effective sample size under 30; absolute CI width of 0.30 or more; relative CI
width (width / p) over 130% when the width is above 0.05; design df under 8; p exactly 0 or 1
(the interval is one-sided and from a different rule). For every statistic: fewer than 30
responses, df under 8, a lonely PSU handled by an option. A flag never hides the number.
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
    width = ci_high - ci_low
    if value <= 0 or value >= 1:
        flags.append("p_is_0_or_1")
    elif math.isfinite(width):
        if width >= MAX_ABSOLUTE_WIDTH:
            flags.append("wide_ci")
        elif width > RELATIVE_FLOOR and width / value > MAX_RELATIVE_WIDTH:
            flags.append("wide_relative_ci")
    return tuple(flags)
