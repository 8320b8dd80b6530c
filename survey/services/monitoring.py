"""What the console shows about rounds: responses per unit against target, per service area, per
desk and per day, the dossier frame beside the responses, and desks with suspicious bursts.

Every count here shows counted responses (``results.counted``, the one definition) and excluded
ones side by side; excluded responses are never added to anything."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, Date, and_, cast, func, or_, select, text

from survey.extensions import db
from survey.models import (
    Desk,
    Response,
    ResponseStatus,
    Round,
    RoundUnit,
    ServiceArea,
    Unit,
)
from survey.models.org import unit_service_areas
from survey.services.paging import Page, paginate_list
from survey.services.results import cell_counts, counted, dossier_frame

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class RoundSummary:
    round: Round
    counted: int
    excluded: int


def round_summaries(unit_ids: set[int] | None = None) -> list[RoundSummary]:
    """Every round, newest first, with its response counts (within ``unit_ids`` when given)."""
    counts = select(
        Response.round_id,
        Response.status,
        func.count().label("n"),
    ).group_by(Response.round_id, Response.status)
    if unit_ids is not None:
        counts = counts.where(Response.unit_id.in_(unit_ids))
    tally: dict[tuple[int, str], int] = {
        (row.round_id, row.status): row.n for row in db.session.execute(counts)
    }
    rounds = db.session.scalars(select(Round).order_by(Round.created_at.desc(), Round.id.desc()))
    return [
        RoundSummary(
            r,
            tally.get((r.id, ResponseStatus.COUNTED.value), 0),
            tally.get((r.id, ResponseStatus.EXCLUDED.value), 0),
        )
        for r in rounds
    ]


# --- Monitoring a round -------------------------------------------------------------------------

# Vietnam has kept UTC+7 without daylight saving since 1975; days are counted in local time.
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DESKS_PER_PAGE = 50
RESPONSES_PER_PAGE = 50


@dataclass(frozen=True)
class Tally:
    counted: int = 0
    excluded: int = 0


@dataclass(frozen=True)
class UnitProgress:
    unit_id: int
    code: str
    name: str  # the name the unit had when the round opened
    target: int
    counted: int
    excluded: int

    @property
    def share(self) -> float | None:
        """Counted responses as a share of the target (None without a target)."""
        return self.counted / self.target if self.target else None


@dataclass(frozen=True)
class AreaTally:
    area_id: int
    code: str
    name: str
    name_en: str
    counted: int
    excluded: int


@dataclass(frozen=True)
class DeskTally:
    desk_id: int
    code: str
    name: str
    unit_code: str
    unit_name: str
    is_active: bool
    counted: int
    excluded: int
    last_at: datetime | None


@dataclass(frozen=True)
class DayTally:
    day: date
    counted: int
    excluded: int


@dataclass(frozen=True)
class BurstRule:
    """A desk is flagged when some ``window`` holds at least ``min_responses`` counted responses
    and at least ``factor`` times the desk's usual number per window. The usual number is the
    desk's counted responses in the round divided by the hours (local clock hours) in which it
    received any, scaled to the window: a desk that is busy all day is not flagged for being
    busy, a quiet desk that suddenly fills up is.

    With the defaults a quiet desk (a few responses an hour) is flagged from 10 responses in 10
    minutes, one every minute; a desk that usually takes 60 an hour only from 30 in 10 minutes.
    A queue of citizens answering together can trip the rule, which is why a flag only asks an
    administrator to look, and nothing is excluded without their decision."""

    window: timedelta = timedelta(minutes=10)
    min_responses: int = 10
    factor: float = 3.0


BURST_RULE = BurstRule()


@dataclass(frozen=True)
class Burst:
    desk_id: int
    desk_code: str
    desk_name: str
    unit_name: str
    start: datetime  # first and last response of the burst, naive UTC
    end: datetime
    responses: int  # counted responses from start to end
    peak: int  # the most counted responses in one window
    usual: float  # the desk's usual counted responses per window


def period_elapsed(round_: Round, now: datetime) -> float:
    """The share of the round's period that has passed, from 0 to 1."""
    total = (round_.closes_at - round_.opens_at).total_seconds()
    done = (min(max(now, round_.opens_at), round_.closes_at) - round_.opens_at).total_seconds()
    return done / total if total > 0 else 1.0


def _in_scope(round_: Round) -> ColumnElement[bool]:
    return Response.unit_id.in_(select(RoundUnit.unit_id).where(RoundUnit.round_id == round_.id))


def _tallied(round_: Round, unit_ids: set[int] | None) -> ColumnElement[bool]:
    """Responses the monitoring pages count: the counted ones (the one definition in
    ``results.counted``) and the excluded ones, shown beside them, never added to them."""
    excluded = and_(
        Response.round_id == round_.id,
        Response.status == ResponseStatus.EXCLUDED.value,
        _in_scope(round_),
    )
    condition = or_(counted(round_), excluded)
    if unit_ids is not None:
        condition = and_(condition, Response.unit_id.in_(unit_ids))
    return condition


def _tally_by(round_: Round, unit_ids: set[int] | None, column: Any) -> dict[Any, Tally]:
    rows = db.session.execute(
        select(column, Response.status, func.count())
        .where(Response.round_id == round_.id, _tallied(round_, unit_ids))
        .group_by(column, Response.status)
    )
    found: dict[Any, dict[str, int]] = {}
    for key, status, n in rows:
        found.setdefault(key, {})[status] = n
    return {
        key: Tally(
            by.get(ResponseStatus.COUNTED.value, 0), by.get(ResponseStatus.EXCLUDED.value, 0)
        )
        for key, by in found.items()
    }


def round_totals(round_: Round, unit_ids: set[int] | None) -> Tally:
    by_round = _tally_by(round_, unit_ids, Response.round_id)
    return by_round.get(round_.id, Tally())


def unit_progress(round_: Round, unit_ids: set[int] | None) -> list[UnitProgress]:
    """Every unit of the round the reader may see, with its target and its responses."""
    tallies = _tally_by(round_, unit_ids, Response.unit_id)
    scope = db.session.execute(
        select(RoundUnit.unit_id, Unit.code, RoundUnit.unit_name, RoundUnit.target_responses)
        .join(Unit, Unit.id == RoundUnit.unit_id)
        .where(RoundUnit.round_id == round_.id)
        .order_by(Unit.code)
    )
    return [
        UnitProgress(
            unit_id,
            code,
            name,
            target,
            tallies.get(unit_id, Tally()).counted,
            tallies.get(unit_id, Tally()).excluded,
        )
        for unit_id, code, name, target in scope
        if unit_ids is None or unit_id in unit_ids
    ]


def area_tallies(round_: Round, unit_ids: set[int] | None) -> list[AreaTally]:
    """Responses per service area: the areas the units in view serve, and any that answered."""
    tallies = _tally_by(round_, unit_ids, Response.service_area_id)
    units = select(RoundUnit.unit_id).where(RoundUnit.round_id == round_.id)
    if unit_ids is not None:
        units = units.where(RoundUnit.unit_id.in_(unit_ids))
    served = select(unit_service_areas.c.service_area_id).where(
        unit_service_areas.c.unit_id.in_(units)
    )
    areas = db.session.scalars(
        select(ServiceArea)
        .where(or_(ServiceArea.id.in_(served), ServiceArea.id.in_(list(tallies))))
        .order_by(ServiceArea.code)
    )
    return [
        AreaTally(
            a.id,
            a.code,
            a.name,
            a.name_en,
            tallies.get(a.id, Tally()).counted,
            tallies.get(a.id, Tally()).excluded,
        )
        for a in areas
    ]


def desk_tallies(round_: Round, unit_ids: set[int] | None) -> list[DeskTally]:
    """Every desk of the units in view (inactive ones only if they answered), by unit and
    desk code, with its responses and the time of its last one."""
    tallies = _tally_by(round_, unit_ids, Response.desk_id)
    last = dict(
        db.session.execute(
            select(Response.desk_id, func.max(Response.received_at))
            .where(Response.round_id == round_.id, _tallied(round_, unit_ids))
            .group_by(Response.desk_id)
        ).all()
    )
    units = select(RoundUnit.unit_id).where(RoundUnit.round_id == round_.id)
    if unit_ids is not None:
        units = units.where(RoundUnit.unit_id.in_(unit_ids))
    desks = db.session.execute(
        select(Desk, Unit.code, RoundUnit.unit_name)
        .join(Unit, Unit.id == Desk.unit_id)
        .join(RoundUnit, and_(RoundUnit.unit_id == Desk.unit_id, RoundUnit.round_id == round_.id))
        .where(Desk.unit_id.in_(units), or_(Desk.is_active, Desk.id.in_(list(tallies))))
        .order_by(Unit.code, Desk.code)
    )
    return [
        DeskTally(
            desk.id,
            desk.code,
            desk.name,
            unit_code,
            unit_name,
            desk.is_active,
            tallies.get(desk.id, Tally()).counted,
            tallies.get(desk.id, Tally()).excluded,
            last.get(desk.id),
        )
        for desk, unit_code, unit_name in desks
    ]


def _utc_offset(round_: Round) -> timedelta:
    return LOCAL_TZ.utcoffset(round_.opens_at) or timedelta(0)


def _local_day(offset: timedelta) -> Any:
    """The local calendar day of ``received_at``, computed by the database."""
    hours = int(offset.total_seconds() // 3600)
    if db.session.get_bind().dialect.name == "sqlite":
        return func.date(Response.received_at, f"{hours:+d} hours")
    return cast(Response.received_at + text(f"interval '{hours} hours'"), Date)


def to_local(moment: datetime) -> datetime:
    """A naive UTC timestamp as naive Vietnam time."""
    return moment.replace(tzinfo=UTC).astimezone(LOCAL_TZ).replace(tzinfo=None)


def daily_tallies(round_: Round, unit_ids: set[int] | None, *, now: datetime) -> list[DayTally]:
    """Responses per local day, from the first day of the period to today (or its last day),
    days without responses included."""
    offset = _utc_offset(round_)
    day = _local_day(offset).label("day")
    rows = db.session.execute(
        select(day, Response.status, func.count())
        .where(Response.round_id == round_.id, _tallied(round_, unit_ids))
        .group_by(day, Response.status)
    )
    by_day: dict[date, dict[str, int]] = {}
    for raw, status, n in rows:
        key = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        by_day.setdefault(key, {})[status] = n
    first = (round_.opens_at + offset).date()
    last = (
        min(max(now, round_.opens_at), round_.closes_at - timedelta(microseconds=1)) + offset
    ).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    # Days outside the period only appear when something arrived on them.
    days = sorted(set(days) | set(by_day))
    return [
        DayTally(
            d,
            by_day.get(d, {}).get(ResponseStatus.COUNTED.value, 0),
            by_day.get(d, {}).get(ResponseStatus.EXCLUDED.value, 0),
        )
        for d in days
    ]


def daily_chart(
    days: list[DayTally], *, counted_label: str, excluded_label: str, ylabel: str
) -> Figure:
    """Stacked bars of counted and excluded responses per day."""
    # Imported here: matplotlib takes a noticeable time to import and only this chart needs it.
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 3), layout="constrained")
    axes = figure.add_subplot()
    x = date2num([datetime.combine(d.day, time()) for d in days])
    counted_ = [d.counted for d in days]
    excluded = [d.excluded for d in days]
    axes.bar(x, counted_, width=0.8, color="#1f5f9c", label=counted_label)
    axes.bar(x, excluded, width=0.8, bottom=counted_, color="#d9822b", label=excluded_label)
    locator = AutoDateLocator(maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_ylabel(ylabel)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False)
    return figure


def figure_svg(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def find_bursts(
    round_: Round, unit_ids: set[int] | None, rule: BurstRule = BURST_RULE
) -> list[Burst]:
    """Desks with suspicious bursts of counted responses (see ``BurstRule``), most intense
    first."""
    condition = counted(round_)
    if unit_ids is not None:
        condition = and_(condition, Response.unit_id.in_(unit_ids))
    rows = db.session.execute(
        select(Response.desk_id, Response.received_at)
        .where(condition)
        .order_by(Response.desk_id, Response.received_at)
    )
    by_desk: dict[int, list[datetime]] = {}
    for desk_id, received_at in rows:
        by_desk.setdefault(desk_id, []).append(received_at)
    found: list[tuple[int, datetime, datetime, int, int, float]] = []
    for desk_id, times in by_desk.items():
        if len(times) < rule.min_responses:
            continue
        for start, end, n, peak, usual in _bursts_in(times, rule):
            found.append((desk_id, start, end, n, peak, usual))
    if not found:
        return []
    desks = {
        desk.id: (desk, unit_name)
        for desk, unit_name in db.session.execute(
            select(Desk, RoundUnit.unit_name)
            .join(
                RoundUnit,
                and_(RoundUnit.unit_id == Desk.unit_id, RoundUnit.round_id == round_.id),
            )
            .where(Desk.id.in_({f[0] for f in found}))
        )
    }
    bursts = [
        Burst(
            desk_id,
            desks[desk_id][0].code,
            desks[desk_id][0].name,
            desks[desk_id][1],
            start,
            end,
            n,
            peak,
            usual,
        )
        for desk_id, start, end, n, peak, usual in found
    ]
    return sorted(bursts, key=lambda b: (-b.peak / max(b.usual, 1e-9), b.start))


def _bursts_in(
    times: list[datetime], rule: BurstRule
) -> list[tuple[datetime, datetime, int, int, float]]:
    """(start, end, responses, peak, usual) of each burst in one desk's sorted times."""
    seconds = np.array([(t - times[0]).total_seconds() for t in times])
    window = rule.window.total_seconds()
    hours = len({t.replace(minute=0, second=0, microsecond=0) for t in times})
    usual = len(times) / hours * window / 3600
    threshold = max(rule.min_responses, rule.factor * usual)
    # For each response, how many responses fall in the window that starts with it.
    ends = np.searchsorted(seconds, seconds + window, side="left")
    counts = ends - np.arange(len(seconds))
    bursts: list[tuple[datetime, datetime, int, int, float]] = []
    start_i = end_i = -1
    peak = 0
    for i in np.flatnonzero(counts >= threshold):
        last = int(ends[i]) - 1
        if start_i >= 0 and i <= end_i:  # overlaps the burst being built
            end_i = max(end_i, last)
            peak = max(peak, int(counts[i]))
            continue
        if start_i >= 0:
            bursts.append((times[start_i], times[end_i], end_i - start_i + 1, peak, usual))
        start_i, end_i, peak = int(i), last, int(counts[i])
    if start_i >= 0:
        bursts.append((times[start_i], times[end_i], end_i - start_i + 1, peak, usual))
    return bursts


# --- The dossier frame beside the responses ------------------------------------------------------

FRAME_PER_PAGE = 50


@dataclass(frozen=True)
class FrameCell:
    unit_code: str
    unit_name: str
    area_code: str
    area_name: str
    dossiers: int | None  # None: no count imported for this cell
    responses: int  # counted responses

    @property
    def responses_without_count(self) -> bool:
        """Responses that cannot be weighted: the cell has no dossiers on record."""
        return self.responses > 0 and not self.dossiers

    @property
    def count_without_responses(self) -> bool:
        """Dossiers nobody answered for: the cell is missing from the estimates."""
        return bool(self.dossiers) and self.responses == 0


@dataclass(frozen=True)
class FrameSummary:
    cells: int
    dossiers: int
    responses: int
    responses_without_count: int
    count_without_responses: int


def frame_cells(round_: Round, unit_ids: set[int] | None) -> list[FrameCell]:
    """Every unit x service area cell with a dossier count or counted responses, by codes."""
    counts = cell_counts(round_)
    dossiers = dossier_frame(round_)
    keys = {key for key in set(counts) | set(dossiers) if unit_ids is None or key[0] in unit_ids}
    names = {
        unit_id: (code, name)
        for unit_id, code, name in db.session.execute(
            select(RoundUnit.unit_id, Unit.code, RoundUnit.unit_name)
            .join(Unit, Unit.id == RoundUnit.unit_id)
            .where(RoundUnit.round_id == round_.id)
        )
    }
    areas = {
        area_id: (code, name)
        for area_id, code, name in db.session.execute(
            select(ServiceArea.id, ServiceArea.code, ServiceArea.name).where(
                ServiceArea.id.in_({area for _unit, area in keys})
            )
        )
    }
    cells = [
        FrameCell(
            names.get(unit, ("?", "?"))[0],
            names.get(unit, ("?", "?"))[1],
            areas[area][0],
            areas[area][1],
            dossiers.get((unit, area)),
            counts.get((unit, area), 0),
        )
        for unit, area in keys
    ]
    return sorted(cells, key=lambda c: (c.unit_code, c.area_code))


def frame_view(
    round_: Round, unit_ids: set[int] | None, *, problems_only: bool, page: int
) -> tuple[FrameSummary, Page[FrameCell]]:
    cells = frame_cells(round_, unit_ids)
    summary = FrameSummary(
        cells=len(cells),
        dossiers=sum(c.dossiers or 0 for c in cells),
        responses=sum(c.responses for c in cells),
        responses_without_count=sum(c.responses_without_count for c in cells),
        count_without_responses=sum(c.count_without_responses for c in cells),
    )
    if problems_only:
        cells = [c for c in cells if c.responses_without_count or c.count_without_responses]
    return summary, paginate_list(cells, page, FRAME_PER_PAGE)


# --- The list of rounds -------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundRow:
    round: Round
    counted: int
    excluded: int
    target: int


def round_rows(rounds: list[Round], unit_ids: set[int] | None) -> list[RoundRow]:
    """Each round with its counted and excluded responses and its summed target, within
    ``unit_ids`` when given."""
    rows = []
    for round_ in rounds:
        totals = round_totals(round_, unit_ids)
        target = sum(
            s.target_responses for s in round_.scope if unit_ids is None or s.unit_id in unit_ids
        )
        rows.append(RoundRow(round_, totals.counted, totals.excluded, target))
    return rows
