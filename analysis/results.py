"""What every estimator returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """One design-based estimate with its uncertainty.

    ``value``, ``se`` (Taylor linearisation), ``df`` (of the interval: by default the design
    degrees of freedom of the domain, PSUs minus strata as R's ``degf``), the interval
    [``ci_low``, ``ci_high``] at ``level`` by ``ci_method`` (a ``CIMethod`` value for proportions,
    ``"t"`` otherwise), ``n`` (rows of the domain carrying the variable), ``n_eff`` (effective
    sample size n / deff, deff against simple random sampling without replacement), ``deff``
    (only when asked for), and reliability ``flags`` (``analysis.flags``), which never hide the
    number. The domain a caller estimated is carried by the caller.
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
