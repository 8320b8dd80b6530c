"""Model-based estimates of the overall index for the units of one level (small-area
estimation), beside their direct estimates (shared/domain.md, "Small units").

Input, per unit of the chosen level in the round's scope: its direct top-2-box overall index
(own desks) and design-based standard error from the round's index table (``round_index``).
Model: Fay and Herriot's area-level model fitted by REML (``analysis.small_area``), with the
covariates the product knows for every unit, responses or not: the logarithm of the dossiers
it handled in the round (the weighting frame) and, with ten units or more, the share of those
dossiers in its largest service area (its service mix). Each unit gets the EBLUP with its
estimated MSE and an interval EBLUP +- 1.96 sqrt(MSE), clipped to 0-100; a unit with no
counted responses, or whose direct estimate has no sampling variance to weigh (one response,
identical answers), gets the synthetic estimate x'beta with its MSE. Model-based figures are
never a verdict against the target: the page says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from analysis.small_area import Covariate, FayHerriotFit, fay_herriot
from survey.extensions import db
from survey.models import RoundUnit, Unit
from survey.services.results.indices import round_frame
from survey.services.results.pages import RoundResults

Z_95 = 1.959963984540054
MIN_AREAS = 5  # fewer units than this cannot support a model with a covariate
MANY_AREAS = 10  # from this many direct estimates on, the service mix joins the model


@dataclass(frozen=True)
class ModelRow:
    """One unit: its direct estimate (None without responses) and the model's."""

    code: str
    name: str
    unit_id: int | None
    n: int
    direct: float | None
    direct_low: float | None
    direct_high: float | None
    direct_se: float | None
    eblup: float
    mse: float
    low: float
    high: float
    clipped: bool
    shrinkage: float
    synthetic: bool


@dataclass(frozen=True)
class ModelCheck:
    """A unit's standardised residual (direct - synthetic) / sqrt(psi + sigma_u^2), for the
    residual plot: about N(0, 1) when the model fits."""

    code: str
    synthetic: float
    residual: float


@dataclass(frozen=True)
class ModelEstimates:
    level: str
    levels: list[str]
    rows: list[ModelRow]
    fit: FayHerriotFit | None
    checks: list[ModelCheck]
    problem: str | None  # why there is no model: too_few_units, too_few_direct


def unit_levels(results: RoundResults) -> list[str]:
    """The unit levels of the round's scope (commune, district, department...)."""
    return sorted(
        set(
            db.session.scalars(
                select(Unit.level_code)
                .join(RoundUnit, RoundUnit.unit_id == Unit.id)
                .where(RoundUnit.round_id == results.round.id)
            )
        )
    )


def model_estimates(results: RoundResults, level: str | None) -> ModelEstimates:
    """The model-based estimates of the units of ``level`` (default: communes) the reader may
    see; the model is fitted on every unit of that level in the round's scope."""
    levels = unit_levels(results)
    chosen = level if level in levels else _default_level(levels)
    units = db.session.execute(
        select(Unit.id, Unit.code)
        .join(RoundUnit, RoundUnit.unit_id == Unit.id)
        .where(RoundUnit.round_id == results.round.id, Unit.level_code == chosen)
        .order_by(Unit.code)
    ).all()

    if len(units) < MIN_AREAS:
        return ModelEstimates(chosen or "", levels, [], None, [], "too_few_units")
    frame = results.frame or round_frame(results.round)
    codes = [code for _uid, code in units]
    ids = dict((code, uid) for uid, code in units)
    dossiers = {code: 0 for code in codes}
    largest = {code: 0 for code in codes}
    for (unit_id, _area), count in frame.dossiers.items():
        code = frame.units.get(unit_id, ("", ""))[0]
        if code in dossiers:
            dossiers[code] += count
            largest[code] = max(largest[code], count)
    direct: list[float] = []
    se: list[float] = []
    n: dict[str, int] = {}
    rows = {
        r.unit: r
        for r in results.table.rows(
            level=Level.UNIT, kind=IndexKind.OVERALL, measure=IndexDefinition.TOP2BOX
        )
    }
    for code in codes:
        row = rows.get(code)
        usable = (
            row is not None
            and math.isfinite(row.estimate)
            and math.isfinite(row.se)
            and row.se > 0
        )
        direct.append(row.estimate if usable and row is not None else math.nan)
        se.append(row.se if usable and row is not None else math.nan)
        n[code] = row.n if row is not None else 0
    known = [code for code in codes if dossiers[code] > 0]
    if len([c for c, d in zip(codes, direct, strict=True) if math.isfinite(d)]) < MIN_AREAS:
        return ModelEstimates(chosen or "", levels, [], None, [], "too_few_direct")
    covariates = []
    fitted = sum(1 for d in direct if math.isfinite(d))
    if len(known) == len(codes):
        covariates = [Covariate("log_dossiers", [math.log(dossiers[c]) for c in codes])]
        if fitted >= MANY_AREAS:  # a second covariate only when there are areas enough for it
            shares = [largest[c] / dossiers[c] for c in codes]
            covariates.append(Covariate("largest_area_share", shares))
    fit = fay_herriot(codes, np.array(direct), np.array(se), covariates)
    shown: list[ModelRow] = []
    checks: list[ModelCheck] = []
    for code, area, d, s in zip(codes, fit.areas, direct, se, strict=True):
        root = math.sqrt(max(area.mse, 0.0))
        low, high = area.eblup - Z_95 * root, area.eblup + Z_95 * root
        clipped = low < 0 or high > 100
        has_direct = math.isfinite(d)
        direct_row = rows.get(code)
        if results.sees(code):
            shown.append(
                ModelRow(
                    code=code,
                    name=results.names.unit(code),
                    unit_id=ids.get(code),
                    n=n[code],
                    direct=d if has_direct else None,
                    direct_low=direct_row.ci_low if has_direct and direct_row else None,
                    direct_high=direct_row.ci_high if has_direct and direct_row else None,
                    direct_se=s if has_direct else None,
                    eblup=area.eblup,
                    mse=area.mse,
                    low=max(low, 0.0),
                    high=min(high, 100.0),
                    clipped=clipped,
                    shrinkage=area.shrinkage,
                    synthetic=area.synthetic,
                )
            )
        if has_direct:
            synthetic = area.eblup if area.synthetic else _synthetic(area.eblup, d, area.shrinkage)
            spread = math.sqrt(s * s + fit.variance_component)
            checks.append(ModelCheck(code, synthetic, (d - synthetic) / spread))
    return ModelEstimates(chosen or "", levels, shown, fit, checks, None)


def _synthetic(eblup: float, direct: float, shrinkage: float) -> float:
    """x'beta from EBLUP = gamma direct + (1 - gamma) x'beta."""
    if shrinkage >= 1:
        return direct
    return (eblup - shrinkage * direct) / (1 - shrinkage)


def _default_level(levels: list[str]) -> str | None:
    """Communes when the round has them (the units that get a dozen responses each)."""
    return "commune" if "commune" in levels else (levels[-1] if levels else None)
