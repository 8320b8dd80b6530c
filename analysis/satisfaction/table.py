"""The index table: one row per domain x index x measure, with its estimate, standard error,
design degrees of freedom, interval, counts, effective sample size, design effect, coverage of
the frame and reliability flags (``FLAGS``); ``IndexRow`` is one row as plain values. The
numbers are computed in ``analysis.satisfaction.estimate``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.design import LonelyPSU
from analysis.results import Estimate
from analysis.satisfaction.inputs import (
    IndexDefinition,
    choose,
)
from analysis.satisfaction.stats import PSU
from analysis.weighting import (
    Weighting,
)


class Level(enum.StrEnum):
    """The domains of an index table. ``UNIT_TREE``: a unit with sub-units together with its
    whole subtree, estimated as one domain of the round's design (shared/domain.md, "Units and
    their sub-units"); its rows carry the parent unit's code in ``unit``."""

    PROVINCE = "province"
    UNIT = "unit"
    UNIT_TREE = "unit_tree"
    AREA = "area"
    CELL = "cell"
    DESK = "desk"


class IndexKind(enum.StrEnum):
    CRITERION = "criterion"
    ELEMENT = "element"
    ASPECT = "aspect"  # reported when the template has more than one aspect
    OVERALL = "overall"
    OVERALL_QUESTION = "overall_question"


DEFAULT_LEVELS = (Level.PROVINCE, Level.UNIT, Level.AREA, Level.CELL)
OVERALL = "overall"

# Flags in the order analysis.flags emits them, then this layer's own.
FLAGS = (
    "n<30",
    "df<8",
    "lonely_psu_adjusted",
    "n_eff<30",
    "p_is_0_or_1",
    "wide_ci",
    "wide_relative_ci",
    "wide_relative_ci_complement",
    "criteria_missing",
    "excluded_responses",
    "cells_without_responses",
    "no_answers",
    "cannot_tell",
    "clipped",
)
_BIT = {name: 1 << i for i, name in enumerate(FLAGS)}


def _flag_names(bits: int) -> tuple[str, ...]:
    return tuple(name for name in FLAGS if bits & _BIT[name])


@dataclass(frozen=True)
class IndexRow:
    """One index for one domain. Percent for ``TOP2BOX`` and ``MEAN_PCT`` (present with two
    decimals; the value itself is not rounded), scale points for ``MEAN``. ``unit``/``area``/
    ``desk`` are the domain's keys (None when not part of it); ``n`` counts the domain's
    weighted responses, ``n_answering`` those that answered the criterion (at least one of the
    composite's criteria); ``n_excluded`` the domain's responses left out for lack of a dossier
    count; ``coverage`` the share of the domain's dossiers in cells with responses."""

    level: Level
    unit: str | None
    area: str | None
    desk: str | None
    kind: IndexKind
    index: str
    measure: IndexDefinition
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    confidence: float
    ci_method: str
    n: int
    n_answering: int
    n_excluded: int
    n_eff: float
    deff: float | None
    coverage: float | None
    flags: tuple[str, ...] = field(default=())

    @property
    def domain(self) -> str:
        """A readable label: "" for the province, the unit, area or desk code, "unit / area"."""
        parts = [p for p in (self.unit, self.area, self.desk) if p is not None]
        return " / ".join(parts)

    def as_estimate(self) -> Estimate:
        """The same numbers as the general estimators' result type."""
        return Estimate(
            value=self.estimate,
            se=self.se,
            df=self.df,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            level=self.confidence,
            ci_method=self.ci_method,
            n=self.n_answering,
            n_eff=self.n_eff,
            deff=self.deff,
            flags=self.flags,
        )


@dataclass(frozen=True, eq=False)
class IndexTable:
    """Every index for every domain, as columns (one entry per row). ``rows()``/``find()``
    give ``IndexRow`` objects; ``to_records()`` plain dicts for JSON or a DataFrame."""

    level: np.ndarray
    unit: np.ndarray  # "" where not part of the domain
    area: np.ndarray
    desk: np.ndarray
    kind: np.ndarray
    index: np.ndarray
    measure: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ci_method: np.ndarray
    n: np.ndarray
    n_answering: np.ndarray
    n_excluded: np.ndarray
    n_eff: np.ndarray
    deff: np.ndarray  # NaN where undefined
    coverage: np.ndarray  # NaN where unknown
    flag_bits: np.ndarray
    confidence: float
    headline: IndexDefinition
    weighting: Weighting
    psu: PSU
    lonely_psu: LonelyPSU

    def __len__(self) -> int:
        return len(self.estimate)

    @property
    def caveat_vi(self) -> str:
        return self.weighting.caveat_vi

    @property
    def caveat_en(self) -> str:
        return self.weighting.caveat_en

    def select(
        self,
        *,
        level: Level | str | None = None,
        kind: IndexKind | str | None = None,
        index: str | None = None,
        measure: IndexDefinition | str | None = None,
        unit: str | None = None,
        area: str | None = None,
        desk: str | None = None,
    ) -> np.ndarray:
        """Row numbers matching every criterion given."""
        mask = np.ones(len(self), dtype=bool)
        wanted = {
            "level": None if level is None else choose(Level, level, "level").value,
            "kind": None if kind is None else choose(IndexKind, kind, "kind").value,
            "index": index,
            "measure": (
                None if measure is None else choose(IndexDefinition, measure, "measure").value
            ),
            "unit": unit,
            "area": area,
            "desk": desk,
        }
        for name, value in wanted.items():
            if value is not None:
                mask &= getattr(self, name) == value
        return np.flatnonzero(mask)

    def row(self, i: int) -> IndexRow:
        def key(column: np.ndarray) -> str | None:
            value = str(column[i])
            return value or None

        deff = float(self.deff[i])
        coverage = float(self.coverage[i])
        return IndexRow(
            level=Level(str(self.level[i])),
            unit=key(self.unit),
            area=key(self.area),
            desk=key(self.desk),
            kind=IndexKind(str(self.kind[i])),
            index=str(self.index[i]),
            measure=IndexDefinition(str(self.measure[i])),
            estimate=float(self.estimate[i]),
            se=float(self.se[i]),
            df=float(self.df[i]),
            ci_low=float(self.ci_low[i]),
            ci_high=float(self.ci_high[i]),
            confidence=self.confidence,
            ci_method=str(self.ci_method[i]),
            n=int(self.n[i]),
            n_answering=int(self.n_answering[i]),
            n_excluded=int(self.n_excluded[i]),
            n_eff=float(self.n_eff[i]),
            deff=None if math.isnan(deff) else deff,
            coverage=None if math.isnan(coverage) else coverage,
            flags=_flag_names(int(self.flag_bits[i])),
        )

    def rows(
        self,
        *,
        level: Level | str | None = None,
        kind: IndexKind | str | None = None,
        index: str | None = None,
        measure: IndexDefinition | str | None = None,
        unit: str | None = None,
        area: str | None = None,
        desk: str | None = None,
    ) -> list[IndexRow]:
        """``IndexRow`` objects for the rows matching every criterion given (see ``select``)."""
        found = self.select(
            level=level, kind=kind, index=index, measure=measure, unit=unit, area=area, desk=desk
        )
        return [self.row(int(i)) for i in found]

    def find(
        self,
        level: Level | str,
        *,
        index: str = OVERALL,
        kind: IndexKind | str | None = None,
        measure: IndexDefinition | str | None = None,
        unit: str | None = None,
        area: str | None = None,
        desk: str | None = None,
    ) -> IndexRow:
        """The one row of an index for a domain (``measure`` defaults to the headline)."""
        found = self.select(
            level=level,
            kind=kind,
            index=index,
            measure=self.headline if measure is None else measure,
            unit=unit,
            area=area,
            desk=desk,
        )
        if len(found) != 1:
            raise ValueError(
                f"{len(found)} rows match level={level}, index={index}, kind={kind}, "
                f"unit={unit}, area={area}, desk={desk}; name the domain and index fully"
            )
        return self.row(int(found[0]))

    def to_records(
        self, rows: np.ndarray | None = None, *, decimals: int | None = 2
    ) -> list[dict[str, object]]:
        """One plain dict per row (all rows, or the row numbers ``rows`` from ``select``), for
        JSON or a DataFrame: estimates, SEs and bounds rounded to ``decimals`` for publication
        (None keeps every digit), NaN as None, empty keys as None."""
        chosen = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)

        def numbers(column: np.ndarray, places: int | None) -> list[float | None]:
            values = column[chosen]
            if places is not None:
                values = np.round(values, places)
            return [None if math.isnan(v) else v for v in values.tolist()]

        def keys(column: np.ndarray) -> list[str | None]:
            return [v or None for v in column[chosen].tolist()]

        columns: dict[str, Sequence[object]] = {
            "level": self.level[chosen].tolist(),
            "unit": keys(self.unit),
            "area": keys(self.area),
            "desk": keys(self.desk),
            "kind": self.kind[chosen].tolist(),
            "index": self.index[chosen].tolist(),
            "measure": self.measure[chosen].tolist(),
            "estimate": numbers(self.estimate, decimals),
            "se": numbers(self.se, decimals),
            "df": self.df[chosen].tolist(),
            "ci_low": numbers(self.ci_low, decimals),
            "ci_high": numbers(self.ci_high, decimals),
            "confidence": [self.confidence] * len(chosen),
            "ci_method": self.ci_method[chosen].tolist(),
            "n": self.n[chosen].tolist(),
            "n_answering": self.n_answering[chosen].tolist(),
            "n_excluded": self.n_excluded[chosen].tolist(),
            "n_eff": numbers(self.n_eff, decimals),
            "deff": numbers(self.deff, 4),
            "coverage": numbers(self.coverage, None),
        }
        names: dict[int, list[str]] = {}
        flags = [
            list(names.setdefault(b, list(_flag_names(b)))) for b in self.flag_bits[chosen].tolist()
        ]
        return [
            {**{name: values[i] for name, values in columns.items()}, "flags": flags[i]}
            for i in range(len(chosen))
        ]
