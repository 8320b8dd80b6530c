"""What the console shows about rounds: responses per unit against target, per service area, per
desk and per day, the dossier frame beside the responses, and desks with suspicious bursts.

Every count here shows counted responses (``results.counted``, the one definition) and excluded
ones side by side; excluded responses are never added to anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import ColumnElement, Date, and_, func, or_, select
from sqlalchemy import cast as sql_cast

from survey.extensions import db
from survey.local_time import utc_offset
from survey.models import (
    Answer,
    Desk,
    DossierCount,
    Item,
    Response,
    ResponseStatus,
    Round,
    RoundUnit,
    ServiceArea,
    Unit,
)
from survey.models.org import unit_service_areas
from survey.services.paging import Page, paginate_list
from survey.services.responses.counting import cell_counts, counted, dossier_frame
from survey.services.results.charts import Chart, column_chart


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
PER_PAGE = 50


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
    """When a desk's counted responses look stuffed rather than queued.

    A desk is flagged when some window of ``window`` (10 minutes) holds at least the largest of

    - ``min_responses`` (10): fewer is never worth an administrator's time;
    - ``factor`` (3) times the desk's usual number per window;
    - the Poisson critical value: the smallest k with P(X >= k) <= ``alpha`` / (number of
      windows in the desk's active hours) for X ~ Poisson(usual): a desk answering at random at
      its usual rate is hardly ever flagged (a Bonferroni bound over disjoint windows; sliding
      windows make the true rate somewhat higher, which the simulation below measures).

    The usual number per window is the desk's busy-hour rate: the ``busy_percentile`` (90th)
    percentile of its counted responses per clock hour, over the hours in which it had any (or
    its mean per active hour when that is larger), scaled to the window. Measuring it on busy
    hours keeps morning queues from being flagged; a clerk who stuffs a desk in more than a
    tenth of its hours raises that rate and is then caught only by larger bursts.

    ``benchmarks/burst_rule.py`` simulates desks (8 office hours a day for 20 days, Poisson
    arrivals at 2 to 60 an hour, a first-hour rush at up to 3x the rate): none of 200 honest
    desks is flagged at any rate. Of desks stuffed with 15 responses in 5 minutes it catches all
    at 6 an hour, about 4 in 5 at 14 an hour; 20 in 5 minutes nearly all up to 30 an hour; 30 in
    5 minutes nearly all up to 60 an hour. A flag only asks an administrator to look; nothing is
    excluded without their decision."""

    window: timedelta = timedelta(minutes=10)
    min_responses: int = 10
    factor: float = 3.0
    busy_percentile: float = 90.0
    alpha: float = 1e-4


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


def _tally_by(
    round_: Round, unit_ids: set[int] | None, column: Any, *where: ColumnElement[bool]
) -> dict[Any, Tally]:
    rows = db.session.execute(
        select(column, Response.status, func.count())
        .where(Response.round_id == round_.id, _tallied(round_, unit_ids), *where)
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


def desk_totals(round_: Round, desk_id: int) -> Tally:
    by_desk = _tally_by(round_, None, Response.desk_id, Response.desk_id == desk_id)
    return by_desk.get(desk_id, Tally())


@dataclass(frozen=True)
class Breakdown:
    """Counted and excluded responses per unit x service area x desk, from one query: every
    per-unit, per-area and per-desk number on the monitoring page adds these up."""

    # (unit_id, service_area_id, desk_id, status, responses, latest received_at); desk_id is
    # None for a sampled round's answers, which no desk received.
    rows: list[tuple[int, int, int | None, str, int, datetime]]

    def by(self, position: int) -> dict[int, Tally]:
        """Tallies keyed by the id at ``position`` (0 unit, 1 service area, 2 desk)."""
        found: dict[int, list[int]] = {}
        for row in self.rows:
            if row[position] is None:
                continue
            pair = found.setdefault(cast(int, row[position]), [0, 0])
            pair[0 if row[3] == ResponseStatus.COUNTED.value else 1] += row[4]
        return {key: Tally(c, e) for key, (c, e) in found.items()}

    def total(self) -> Tally:
        counted_ = sum(r[4] for r in self.rows if r[3] == ResponseStatus.COUNTED.value)
        return Tally(counted_, sum(r[4] for r in self.rows) - counted_)

    def latest_by_desk(self) -> dict[int, datetime]:
        latest: dict[int, datetime] = {}
        for row in self.rows:
            desk = row[2]
            if desk is not None and (desk not in latest or row[5] > latest[desk]):
                latest[desk] = row[5]
        return latest


def breakdown(round_: Round, unit_ids: set[int] | None) -> Breakdown:
    rows = db.session.execute(
        select(
            Response.unit_id,
            Response.service_area_id,
            Response.desk_id,
            Response.status,
            func.count(),
            func.max(Response.received_at),
        )
        .where(Response.round_id == round_.id, _tallied(round_, unit_ids))
        .group_by(Response.unit_id, Response.service_area_id, Response.desk_id, Response.status)
    )
    return Breakdown([(u, a, d, s, n, at) for u, a, d, s, n, at in rows])


def unit_progress(
    round_: Round, unit_ids: set[int] | None, counts: Breakdown | None = None
) -> list[UnitProgress]:
    """Every unit of the round the reader may see, with its target and its responses."""
    tallies = (counts or breakdown(round_, unit_ids)).by(0)
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


def area_tallies(
    round_: Round, unit_ids: set[int] | None, counts: Breakdown | None = None
) -> list[AreaTally]:
    """Responses per service area: the areas the units in view serve, and any that answered."""
    tallies = (counts or breakdown(round_, unit_ids)).by(1)
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


def desk_tallies(
    round_: Round, unit_ids: set[int] | None, counts: Breakdown | None = None
) -> list[DeskTally]:
    """Every desk of the units in view (inactive ones only if they answered), by unit and
    desk code, with its responses and the time of its last one."""
    counts = counts or breakdown(round_, unit_ids)
    tallies = counts.by(2)
    last = counts.latest_by_desk()
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
    return utc_offset(round_.opens_at)


def _local_day(offset: timedelta) -> Any:
    """The local calendar day of ``received_at``, computed by the database."""
    hours = int(offset.total_seconds() // 3600)
    if db.session.get_bind().dialect.name == "sqlite":
        return func.date(Response.received_at, f"{hours:+d} hours")
    # A bound interval parameter, not SQL text built from the number.
    return sql_cast(Response.received_at + timedelta(hours=hours), Date)


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
    if now < round_.opens_at and not by_day:
        return []  # not started: nothing to draw yet
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
) -> Chart:
    """Stacked columns of counted and excluded responses per day."""
    return column_chart(
        [f"{d.day.day:02d}/{d.day.month:02d}" for d in days],
        [
            (counted_label, "#1f5f9c", [d.counted for d in days]),
            (excluded_label, "#d9822b", [d.excluded for d in days]),
        ],
        ylabel=ylabel,
    )


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
        .where(condition, Response.desk_id.is_not(None))
        .order_by(Response.desk_id, Response.received_at)
    )
    by_desk: dict[int, list[datetime]] = {}
    for desk_id, received_at in rows:
        by_desk.setdefault(cast(int, desk_id), []).append(received_at)
    found: list[tuple[int, datetime, datetime, int, int, float]] = []
    for desk_id, times in by_desk.items():
        for start, end, n, peak, usual in _bursts_in(times, rule):
            found.append((desk_id, start, end, n, peak, usual))
    if not found:
        return []
    desks = _desks_of(round_, {f[0] for f in found})
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
    seconds = np.array(times, dtype="datetime64[us]").astype(np.int64) / 1e6
    return [
        (times[first], times[last], last - first + 1, peak, usual)
        for first, last, peak, usual in burst_windows(seconds, rule)
    ]


def burst_windows(seconds: np.ndarray, rule: BurstRule) -> list[tuple[int, int, int, float]]:
    """Bursts in one desk's sorted response times (seconds since the epoch, UTC) as (index of
    the first response, index of the last, most responses in one window, usual per window)."""
    # Imported here: scipy.stats takes most of a second to import, and only this needs it.
    from scipy.stats import poisson

    if len(seconds) < rule.min_responses:
        return []
    window = rule.window.total_seconds()
    _hours, per_hour = np.unique(np.floor(seconds / 3600), return_counts=True)
    busy = max(float(np.percentile(per_hour, rule.busy_percentile)), float(per_hour.mean()))
    usual = busy * window / 3600
    windows = max(1.0, len(per_hour) * 3600 / window)
    critical = float(poisson.isf(rule.alpha / windows, usual)) + 1
    threshold = max(rule.min_responses, rule.factor * usual, critical)
    # For each response, how many responses fall in the window that starts with it.
    ends = np.searchsorted(seconds, seconds + window, side="left")
    counts = ends - np.arange(len(seconds))
    found: list[tuple[int, int, int, float]] = []
    first = last = -1
    peak = 0
    for i in np.flatnonzero(counts >= threshold):
        end = int(ends[i]) - 1
        if first >= 0 and i <= last:  # overlaps the burst being built
            last = max(last, end)
            peak = max(peak, int(counts[i]))
            continue
        if first >= 0:
            found.append((first, last, peak, usual))
        first, last, peak = int(i), end, int(counts[i])
    if first >= 0:
        found.append((first, last, peak, usual))
    return found


@dataclass(frozen=True)
class PlausibilityRule:
    """When a desk's counted responses exceed what its dossier counts make plausible.

    The dossiers each unit x service area cell handled in the round's period are imported per
    round (``dossier_import``); every response is one citizen with one dossier. A desk is
    flagged when its counted responses in a cell pass ``max_share`` (half) of all the dossiers
    the whole cell handled in the period (every desk of the unit together), and are at least
    ``min_responses``. Half is far above what QR rounds see (10-30 % of citizens answer,
    docs/scaling.md), so an honest desk is not flagged even with a generous count missing;
    a desk that answers for more citizens than it served is. Cells without a count are listed
    by the frame ("responses without dossiers") instead."""

    max_share: float = 0.5
    min_responses: int = 10


PLAUSIBILITY_RULE = PlausibilityRule()


@dataclass(frozen=True)
class ImplausibleDesk:
    desk_id: int
    desk_code: str
    desk_name: str
    unit_name: str
    area_code: str
    area_name: str
    responses: int  # the desk's counted responses in the cell
    dossiers: int  # the cell's dossiers in the period (all the unit's desks)

    @property
    def share(self) -> float:
        return self.responses / self.dossiers if self.dossiers else float("inf")


def find_implausible_desks(
    round_: Round, unit_ids: set[int] | None, rule: PlausibilityRule = PLAUSIBILITY_RULE
) -> list[ImplausibleDesk]:
    """Desks whose counted responses in a cell pass the rule's share of its dossiers, the
    largest share first."""
    condition = counted(round_)
    if unit_ids is not None:
        condition = and_(condition, Response.unit_id.in_(unit_ids))
    rows = db.session.execute(
        select(
            Response.desk_id,
            Desk.code,
            Desk.name,
            RoundUnit.unit_name,
            ServiceArea.code,
            ServiceArea.name,
            DossierCount.dossiers,
            func.count(),
        )
        .join(Desk, Desk.id == Response.desk_id)
        .join(
            RoundUnit,
            and_(RoundUnit.round_id == round_.id, RoundUnit.unit_id == Response.unit_id),
        )
        .join(ServiceArea, ServiceArea.id == Response.service_area_id)
        .join(
            DossierCount,
            and_(
                DossierCount.round_id == round_.id,
                DossierCount.unit_id == Response.unit_id,
                DossierCount.service_area_id == Response.service_area_id,
            ),
        )
        .where(condition)
        .group_by(
            Response.desk_id,
            Desk.code,
            Desk.name,
            RoundUnit.unit_name,
            ServiceArea.code,
            ServiceArea.name,
            DossierCount.dossiers,
        )
    )
    found = []
    for desk_id, desk_code, desk_name, unit_name, area_code, area_name, dossiers, n in rows:
        if n >= rule.min_responses and n > rule.max_share * dossiers:
            found.append(
                ImplausibleDesk(
                    cast(int, desk_id),
                    desk_code,
                    desk_name,
                    unit_name,
                    area_code,
                    area_name,
                    n,
                    dossiers,
                )
            )
    return sorted(found, key=lambda d: (-d.share, d.desk_code, d.area_code))


@dataclass(frozen=True)
class RepeatRule:
    """When one desk's counted responses repeat the same answers more than chance allows.

    Every response keeps a digest of its answer vector (``responses.answers_digest``: every
    answer, comments included). For each desk and vector, with k repeats among the desk's n
    counted responses, the vector's share elsewhere in the round is p = (repeats at the other
    desks + 1) / (responses at the other desks + 2) (add-one smoothing, so a vector never seen
    elsewhere is not taken as impossible). The desk is flagged when k >= ``min_repeats`` (12)
    and P(X >= k) <= ``alpha`` / (number of desks) for X ~ Binomial(n, p): a script that sends
    the same answers a few at a time, under the burst rule's threshold, all day. Answers that
    many citizens give everywhere (all "very satisfied") are as common elsewhere and are not
    flagged; such a desk's volume is the plausibility rule's concern."""

    min_repeats: int = 12
    alpha: float = 1e-4


REPEAT_RULE = RepeatRule()


@dataclass(frozen=True)
class RepeatedAnswers:
    desk_id: int
    desk_code: str
    desk_name: str
    unit_name: str
    digest: str
    repeats: int  # counted responses of the desk with these answers
    responses: int  # counted responses of the desk
    share_elsewhere: float  # the smoothed share of these answers at the round's other desks
    first: datetime
    last: datetime


def find_repeated_answers(
    round_: Round, unit_ids: set[int] | None, rule: RepeatRule = REPEAT_RULE
) -> list[RepeatedAnswers]:
    """Desks repeating one answer vector beyond chance (see ``RepeatRule``), most repeats
    first. Computed over the whole round, reported for the units in view."""
    from scipy.stats import binom  # imported here, as for the burst rule

    rows = db.session.execute(
        select(
            Response.desk_id,
            Response.unit_id,
            Response.answers_digest,
            func.count(),
            func.min(Response.received_at),
            func.max(Response.received_at),
        )
        .where(counted(round_), Response.answers_digest.is_not(None), Response.desk_id.is_not(None))
        .group_by(Response.desk_id, Response.unit_id, Response.answers_digest)
    )
    # The digest is never NULL here (filtered above), whatever its column's type says.
    groups = [
        (cast(int, d), u, str(digest), k, first, last) for d, u, digest, k, first, last in rows
    ]
    per_desk: dict[int, int] = {}
    per_vector: dict[str, int] = {}
    for desk_id, _unit, digest, k, _first, _last in groups:
        per_desk[desk_id] = per_desk.get(desk_id, 0) + k
        per_vector[digest] = per_vector.get(digest, 0) + k
    total = sum(per_desk.values())
    threshold = rule.alpha / max(1, len(per_desk))
    flagged = []
    for desk_id, unit_id, digest, k, first, last in groups:
        if k < rule.min_repeats or (unit_ids is not None and unit_id not in unit_ids):
            continue
        n = per_desk[desk_id]
        p = (per_vector[digest] - k + 1) / (total - n + 2)
        if float(binom.sf(k - 1, n, p)) <= threshold:
            flagged.append((desk_id, digest, k, n, p, first, last))
    if not flagged:
        return []
    desks = _desks_of(round_, {f[0] for f in flagged})
    found = [
        RepeatedAnswers(
            desk_id,
            desks[desk_id][0].code,
            desks[desk_id][0].name,
            desks[desk_id][1],
            digest,
            k,
            n,
            p,
            first,
            last,
        )
        for desk_id, digest, k, n, p, first, last in flagged
    ]
    return sorted(found, key=lambda r: (-r.repeats, r.desk_code))


@dataclass(frozen=True)
class AnswerMatrix:
    """The answers of some responses side by side: one row per response, one column per
    criterion, so that a person can judge a flagged batch. Free-text comments are not shown
    (they are moderated before anyone but analysts reads them): only that there is one."""

    items: list[tuple[int, str]]  # (item id, code) in questionnaire order
    rows: dict[int, dict[int, str]]  # response id -> item id -> the answer as shown

    def answer(self, response_id: int, item_id: int) -> str:
        return self.rows.get(response_id, {}).get(item_id, "")


def answer_matrix(response_ids: list[int]) -> AnswerMatrix:
    if not response_ids:
        return AnswerMatrix([], {})
    rows = db.session.execute(
        select(
            Answer.response_id,
            Item.id,
            Item.code,
            Item.position,
            Answer.value,
            Answer.text,
            Answer.not_applicable,
        )
        .join(Item, Item.id == Answer.item_id)
        .where(Answer.response_id.in_(response_ids))
    )
    items: dict[int, tuple[int, str]] = {}
    matrix: dict[int, dict[int, str]] = {}
    for response_id, item_id, code, position, value, text, not_applicable in rows:
        items[item_id] = (position, code)
        shown = "KAD" if not_applicable else ("✎" if text is not None else str(value))
        cell = matrix.setdefault(response_id, {})
        cell[item_id] = f"{cell[item_id]},{shown}" if item_id in cell else shown
    ordered = sorted(items.items(), key=lambda kv: kv[1])
    return AnswerMatrix([(item_id, code) for item_id, (_p, code) in ordered], matrix)


@dataclass(frozen=True)
class RoundMonitor:
    """Everything the monitoring page shows, for the units the reader may see."""

    elapsed: float
    totals: Tally
    target: int
    units: list[UnitProgress]
    areas: list[AreaTally]
    desks: list[DeskTally]
    days: list[DayTally]
    bursts: list[Burst]
    implausible: list[ImplausibleDesk]
    repeated: list[RepeatedAnswers]

    @property
    def idle_desks(self) -> list[DeskTally]:
        """Active desks without a counted response."""
        return [d for d in self.desks if d.counted == 0 and d.is_active]


def monitor_round(round_: Round, unit_ids: set[int] | None, *, now: datetime) -> RoundMonitor:
    counts = breakdown(round_, unit_ids)
    units = unit_progress(round_, unit_ids, counts)
    return RoundMonitor(
        elapsed=period_elapsed(round_, now),
        totals=counts.total(),
        target=sum(u.target for u in units),
        units=units,
        areas=area_tallies(round_, unit_ids, counts),
        desks=desk_tallies(round_, unit_ids, counts),
        days=daily_tallies(round_, unit_ids, now=now),
        bursts=find_bursts(round_, unit_ids),
        implausible=find_implausible_desks(round_, unit_ids),
        repeated=find_repeated_answers(round_, unit_ids),
    )


# --- The dossier frame beside the responses ------------------------------------------------------


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
    return summary, paginate_list(cells, page, PER_PAGE)


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


def _desks_of(round_: Round, desk_ids: set[int]) -> dict[int, tuple[Desk, str]]:
    """The desks by id, each with its unit's name in the round."""
    return {
        desk.id: (desk, unit_name)
        for desk, unit_name in db.session.execute(
            select(Desk, RoundUnit.unit_name)
            .join(
                RoundUnit,
                and_(RoundUnit.unit_id == Desk.unit_id, RoundUnit.round_id == round_.id),
            )
            .where(Desk.id.in_(desk_ids))
        )
    }
