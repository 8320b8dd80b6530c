"""What every estimator returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """One design-based estimate with its uncertainty.

    ``n`` counts the domain's rows with the variable present, ``n_eff`` is the effective sample
    size n / deff (Kish's definition through the design effect against simple random sampling
    without replacement), ``df`` the design degrees of freedom (PSUs minus strata among the
    domain's rows). ``flags`` warn about reliability; they never hide the number.
    """

    value: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    level: float
    ci_method: str
    n: int
    n_eff: float
    deff: float | None
    flags: tuple[str, ...]
