"""Which responses count: the one definition every page, export and estimate uses.

A response counts for a round when it was stored with status ``counted``, arrived within the
round's period, and came from a unit in the round's scope. Excluded responses (bots, repeated
devices, exclusions by an administrator) never count anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select

from analysis.satisfaction import (
    Weighting,
    subtrees_from_parents,
    weights_from_dossiers,
    weights_from_sample,
)
from analysis.satisfaction.inputs import CellCounts
from survey.extensions import db
from survey.models import (
    Desk,
    DossierCount,
    Response,
    ResponseStatus,
    Round,
    RoundKind,
    RoundUnit,
    SampleDraw,
    SampleStratum,
    ServiceArea,
    Unit,
)

# The desk of a sampled round's answers, which no desk received (``responses.desk_id`` is
# NULL; the statistics read it as this id, labelled NO_DESK_CODE).
NO_DESK = 0
NO_DESK_CODE = "—"


def counted(round_: Round) -> ColumnElement[bool]:
    """The condition on ``Response`` rows that count for ``round_``."""
    in_scope = select(RoundUnit.unit_id).where(RoundUnit.round_id == round_.id)
    return and_(
        Response.round_id == round_.id,
        Response.status == ResponseStatus.COUNTED.value,
        Response.received_at >= round_.opens_at,
        Response.received_at < round_.closes_at,
        Response.unit_id.in_(in_scope),
    )


def counted_responses(round_: Round) -> Select[Response]:
    return select(Response).where(counted(round_))


def cell_counts(round_: Round) -> dict[tuple[int, int], int]:
    """Counted responses per unit x service area cell."""
    rows = db.session.execute(
        select(Response.unit_id, Response.service_area_id, func.count(Response.id))
        .where(counted(round_))
        .group_by(Response.unit_id, Response.service_area_id)
    )
    return {(unit, area): n for unit, area, n in rows}


def dossier_frame(round_: Round) -> dict[tuple[int, int], int]:
    """Dossiers handled per unit x service area cell (the weighting frame); for a sampled
    round, the dossiers of each stratum in the sampling frame, N_h."""
    if round_.kind == RoundKind.SAMPLE:
        return {
            (unit, area): n
            for unit, area, n in db.session.execute(
                select(
                    SampleStratum.unit_id, SampleStratum.service_area_id, SampleStratum.population
                ).where(SampleStratum.round_id == round_.id)
            )
        }
    rows = db.session.execute(
        select(DossierCount.unit_id, DossierCount.service_area_id, DossierCount.dossiers).where(
            DossierCount.round_id == round_.id
        )
    )
    return {(unit, area): n for unit, area, n in rows}


@dataclass(frozen=True)
class SampleDesign:
    """A sampled round's draw as its weights need it: n_h per stratum and the trimming rule."""

    sizes: dict[tuple[int, int], int]  # (unit id, area id) -> dossiers sampled
    trim_ratio: float | None


def sample_design(round_: Round) -> SampleDesign | None:
    """The draw of a sampled round (None for a QR round, or before the draw)."""
    if round_.kind != RoundKind.SAMPLE:
        return None
    draw = db.session.get(SampleDraw, round_.id)
    if draw is None:
        return None
    sizes = {
        (unit, area): n
        for unit, area, n in db.session.execute(
            select(
                SampleStratum.unit_id, SampleStratum.service_area_id, SampleStratum.sample_size
            ).where(SampleStratum.round_id == round_.id)
        )
    }
    return SampleDesign(sizes, draw.trim_ratio)


@dataclass
class DesignFrame:
    """Codes of the round's units (with the names they had when it opened), areas and desks,
    and the counts of the weighting frame."""

    units: dict[int, tuple[str, str]]
    areas: dict[int, str]
    desks: dict[int, str]
    dossiers: dict[tuple[int, int], int]
    counts: dict[tuple[int, int], int]
    parents: dict[int, int | None] = field(default_factory=dict)  # unit id -> its parent's
    # A published round's tree as its snapshot froze it (survey.services.results.snapshots).
    frozen_subtrees: dict[str, tuple[str, ...]] | None = None
    # The maintained statistics the counts were read from (survey.services.results.tally), so
    # that one page's table, weights and priorities all come from the same state.
    statistics: Any = None
    # A sampled round's draw: its weights are 1/pi_h adjusted for nonresponse, not N/n.
    sample: SampleDesign | None = None

    def weighting(self, counts: CellCounts, dossiers: dict[tuple[str, str], float]) -> Weighting:
        """The cell weights of responses counted ``counts`` per (unit code, area code), with
        the frame's ``dossiers`` per cell: N_cell / n_cell for a QR round
        (``analysis.weighting.weights_from_dossiers``); for a sampled round the design weights
        adjusted for nonresponse and trimmed (``weights_from_sample``)."""
        if self.sample is None:
            return weights_from_dossiers(counts, dossiers)
        sizes = {
            (self.units[u][0], self.areas[a]): n
            for (u, a), n in self.sample.sizes.items()
            if u in self.units and a in self.areas
        }
        strata = {key: (int(big), sizes.get(key, 0)) for key, big in dossiers.items()}
        return weights_from_sample(counts, strata, trim_ratio=self.sample.trim_ratio)

    def subtrees(self) -> dict[str, tuple[str, ...]]:
        """Unit code -> codes of the unit and every unit below it, for the units that have
        sub-units (today's tree: a unit moved since the round opened counts where it is now;
        for a published round, the tree it was published with)."""
        if self.frozen_subtrees is not None:
            return dict(self.frozen_subtrees)
        codes = {uid: code for uid, (code, _name) in self.units.items()}
        return subtrees_from_parents(
            {code: codes.get(self.parents.get(uid) or 0) for uid, code in codes.items()}
        )

    def weight(self, cell: tuple[int, int]) -> float | None:
        """The weight of a counted response in ``cell`` (unit id, area id): w = N_cell / n_cell,
        the dossiers the cell handled over its counted responses (``analysis.weighting``'s
        ``DOSSIERS`` method, the one the indices use); None without a dossier count. For a
        sampled round, the weight the indices use (``weighting``)."""
        if self.sample is not None:
            return self._sample_weights().get(cell)
        dossiers = self.dossiers.get(cell)
        n = self.counts.get(cell, 0)
        return dossiers / n if dossiers and n else None

    def _sample_weights(self) -> dict[tuple[int, int], float]:
        key = tuple(sorted(self.counts.items()))
        cached = self.__dict__.get("_sample_weights_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        weights: dict[tuple[int, int], float] = {}
        counts = {
            (self.units[u][0], self.areas[a]): n for (u, a), n in self.counts.items() if n > 0
        }
        if counts:
            ids = {(self.units[u][0], self.areas[a]): (u, a) for (u, a) in self.counts}
            dossiers = {
                (self.units[u][0], self.areas[a]): float(n) for (u, a), n in self.dossiers.items()
            }
            weighting = self.weighting(counts, dossiers)
            for code, w in zip(
                zip(weighting.unit, weighting.area, strict=True), weighting.weight, strict=True
            ):
                if w > 0:
                    weights[ids[code]] = float(w)
        self.__dict__["_sample_weights_cache"] = (key, weights)
        return weights


def design_frame(round_: Round, *, with_counts: bool = True) -> DesignFrame:
    """The round's codes, names and dossier counts and, ``with_counts``, its counted
    responses per cell (a GROUP BY over the round's responses; the result pages take them from
    the maintained statistics instead, ``survey.services.results.indices.round_frame``)."""
    names: dict[int, str] = {
        uid: name
        for uid, name in db.session.execute(
            select(RoundUnit.unit_id, RoundUnit.unit_name).where(RoundUnit.round_id == round_.id)
        )
    }
    units: dict[int, tuple[str, str]] = {}
    parents: dict[int, int | None] = {}
    for uid, code, name, parent in db.session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.parent_id)
    ):
        units[uid] = (code, names.get(uid, name))
        parents[uid] = parent
    areas = {
        aid: code for aid, code in db.session.execute(select(ServiceArea.id, ServiceArea.code))
    }
    desks = {NO_DESK: NO_DESK_CODE}
    desks.update((did, code) for did, code in db.session.execute(select(Desk.id, Desk.code)))
    counts = cell_counts(round_) if with_counts else {}
    return DesignFrame(
        units, areas, desks, dossier_frame(round_), counts, parents, sample=sample_design(round_)
    )
