"""What the result pages, the round report and the index exports show, read off one index table.

Every number comes from ``survey.services.results.indices.round_index`` (the counted responses
weighted by the dossier counts) and ``analysis.satisfaction.compare`` (verdicts against the
target, rank ranges, change between rounds): the pages only choose rows, name them and put them
in order. A unit officer sees the rows of their units (and sub-units) and the province's overall
index for context; rows of other units, and the service areas' province-wide rows, are not shown
to them.

A unit with sub-units has two figures: its own (``Level.UNIT``, the desks of the unit itself) and
its whole subtree as one domain (``Level.UNIT_TREE``), carried as ``Shown.tree``. Ranks compare
own figures of the units only, so a district is never ranked against its own communes' total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from analysis.publishing import PublishingRule, Reason, Severity, assess
from analysis.satisfaction import IndexDefinition, IndexKind, IndexRow, IndexTable, Level
from analysis.satisfaction.compare import (
    Change,
    Comparability,
    Direction,
    RankRange,
    Verdict,
    changes,
    comparability,
    rank_ranges,
    verdict,
)
from survey.extensions import db
from survey.models import (
    Desk,
    ItemRole,
    Round,
    RoundKind,
    RoundState,
    ServiceArea,
    TemplateVersion,
    Unit,
)
from survey.services.access import unit_subtree
from survey.services.questionnaires.frozen import kept_while_frozen
from survey.services.responses.counting import DesignFrame, design_frame
from survey.services.results.indices import round_frame, round_index, template_index
from survey.services.results.tally import ANSWERED, round_tally
from survey.services.rounds.result_settings import (
    Targets,
    publishing_rule,
    round_targets,
    unit_levels,
)
from survey.services.rounds.result_settings import parse_target as read_target

# Flags after which NCHS would suppress the number: shown greyed and marked, never hidden.
UNRELIABLE = frozenset({"n<30", "n_eff<30", "wide_ci", "wide_relative_ci", "no_answers"})
PERCENT_MEASURES = (IndexDefinition.TOP2BOX, IndexDefinition.MEAN_PCT)
UNIT_SORTS = ("index", "low", "name", "code", "n")
DEFAULT_SORT = "index"


def parse_target(
    value: str | None, measure: IndexDefinition, targets: Targets
) -> tuple[float | None, str | None]:
    """The target of the page and what is wrong with the one asked for. A percent typed in the
    page's form ("95,5" or "95.5") replaces the round's targets for this view; without one, or
    with one that is not a percent (its message is the second value), the round's target holds.
    None for a mean score (a target is a percentage)."""
    if measure not in PERCENT_MEASURES:
        return None, None
    if value is None or not value.strip():
        return targets.round, None
    try:
        return read_target(value), None
    except ValueError as exc:
        return targets.round, str(exc)


def parse_sort(value: str | None) -> str:
    return value if value in UNIT_SORTS else DEFAULT_SORT


@dataclass(frozen=True)
class Names:
    """Codes of the table to what people read: units under the names they had when the round
    opened, areas, aspects, elements and criteria in the reader's language."""

    unit_ids: dict[str, int]
    units: dict[str, str]
    unit_levels: dict[str, str]  # unit code -> level code, for the levels' targets
    areas: dict[str, str]
    area_ids: dict[str, int]
    indices: dict[str, str]  # element, aspect and criterion codes
    element_of: dict[str, str]  # criterion code -> element code
    elements: tuple[str, ...]  # element codes in questionnaire order
    criteria: tuple[str, ...]

    def unit(self, code: str | None) -> str:
        return self.units.get(code or "", code or "")

    def area(self, code: str | None) -> str:
        return self.areas.get(code or "", code or "")

    def index(self, code: str) -> str:
        return self.indices.get(code, code)


def round_names(round_: Round, *, english: bool = False, frame: DesignFrame | None = None) -> Names:
    frame = frame or design_frame(round_, with_counts=False)
    scoped = {s.unit_id: s.unit_name for s in round_.scope}
    unit_ids = {code: uid for uid, (code, _name) in frame.units.items()}
    units = {code: scoped.get(uid, name) for uid, (code, name) in frame.units.items()}
    levels = {code: level for code, level in db.session.execute(select(Unit.code, Unit.level_code))}
    areas: dict[str, str] = {}
    area_ids: dict[str, int] = {}
    for area in db.session.scalars(select(ServiceArea)):
        areas[area.code] = (area.name_en if english and area.name_en else area.name) or area.code
        area_ids[area.code] = area.id

    indices, element_of, elements, criteria = _version_names(round_.template_version, english)
    return Names(
        unit_ids,
        units,
        levels,
        areas,
        area_ids,
        dict(indices),
        dict(element_of),
        elements,
        criteria,
    )


_VersionNames = tuple[dict[str, str], dict[str, str], tuple[str, ...], tuple[str, ...]]


def _version_names(version: TemplateVersion, english: bool) -> _VersionNames:
    """The names of a version's aspects, elements and criteria (and overall question), its
    elements and criteria in order, and each criterion's element. A frozen version cannot
    change: its names are kept per application (eight queries a page otherwise)."""
    return kept_while_frozen(version, "names", lambda: _names_of(version, english), english)


def _names_of(version: TemplateVersion, english: bool) -> _VersionNames:
    def say(vi: str, en: str) -> str:
        return en if english and en else vi

    indices: dict[str, str] = {}
    element_of: dict[str, str] = {}
    elements: list[str] = []
    criteria: list[str] = []
    for aspect in sorted(version.aspects, key=lambda a: (a.position, a.id)):
        indices[aspect.code] = say(aspect.name, aspect.name_en)
        for element in sorted(aspect.elements, key=lambda e: (e.position, e.id)):
            indices[element.code] = say(element.name, element.name_en)
            elements.append(element.code)
            for item in sorted(element.items, key=lambda i: (i.position, i.id)):
                if item.role == ItemRole.CRITERION:
                    indices[item.code] = say(item.text, item.text_en)
                    element_of[item.code] = element.code
                    criteria.append(item.code)
    for item in version.items:
        if item.role == ItemRole.OVERALL:
            indices[item.code] = say(item.text, item.text_en)
    return indices, element_of, tuple(elements), tuple(criteria)


def is_unreliable(row: IndexRow) -> bool:
    return bool(UNRELIABLE.intersection(row.flags)) or not math.isfinite(row.estimate)


@dataclass(frozen=True)
class Shown:
    """One index row as a page shows it: its name, the row, the verdict against the target and,
    for units, the range of ranks it cannot be told apart from."""

    code: str
    name: str
    row: IndexRow
    verdict: Verdict | None = None
    rank: RankRange | None = None
    unit_id: int | None = None
    area_name: str = ""
    tree: Shown | None = None  # a unit with sub-units: the unit and all below it, one domain

    @property
    def unreliable(self) -> bool:
        return is_unreliable(self.row)


@dataclass(frozen=True)
class DeskFigure:
    """A desk's overall index, shown only when the round's publishing rule allows it."""

    code: str
    name: str
    row: IndexRow
    published: bool
    verdict: Verdict | None
    withheld_because: tuple[Reason, ...]  # the rule's reasons (``vi`` and ``en``)


@dataclass(frozen=True)
class UnitFilter:
    """What the units page is narrowed to: a unit level (code), a service area (code; each
    unit's figure in that area), units under one unit (the codes of its subtree)."""

    level: str | None = None
    area: str | None = None
    under: frozenset[str] | None = None
    parent_id: int | None = None
    problems: tuple[str, ...] = ()  # what was wrong with the filters asked for, in words


def unit_filter(
    results: RoundResults, level: str | None, area: str | None, parent: str | None
) -> UnitFilter:
    """The filters of the units page from its query; a value that names nothing is dropped and
    said so (never an error page)."""
    problems: list[str] = []
    levels = {lv.code for lv in unit_levels()}
    chosen_level = (level or "").strip() or None
    if chosen_level is not None and chosen_level not in levels:
        problems.append(
            str(_l("Không có cấp đơn vị “%(v)s”; đang hiện mọi cấp.", v=chosen_level[:40]))
        )
        chosen_level = None
    chosen_area = (area or "").strip() or None
    if chosen_area is not None and chosen_area not in results.names.areas:
        problems.append(
            str(_l("Không có lĩnh vực “%(v)s”; đang hiện mọi lĩnh vực.", v=chosen_area[:40]))
        )
        chosen_area = None
    under: frozenset[str] | None = None
    parent_id: int | None = None
    raw = (parent or "").strip()
    if raw:
        codes = {uid: code for code, uid in results.names.unit_ids.items()}
        number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else None
        if number is None or number not in codes or not results.sees(codes[number]):
            problems.append(str(_l("Không có đơn vị này trong đợt; đang hiện mọi đơn vị.")))
        else:
            parent_id = number
            under = frozenset(codes[u] for u in unit_subtree(number) if u in codes)
    return UnitFilter(chosen_level, chosen_area, under, parent_id, tuple(problems))


@dataclass(frozen=True)
class FilterChoices:
    levels: list[tuple[str, str]]  # (code, name) of the levels of the reader's units
    areas: list[tuple[str, str]]  # (code, name) of the areas with responses
    parents: list[tuple[int, str]]  # (id, name) of the reader's units that have sub-units


def filter_choices(results: RoundResults, *, english: bool = False) -> FilterChoices:
    seen = [code for code in results.names.unit_ids if results.sees(code)]
    present = {results.names.unit_levels.get(code) for code in seen}
    levels = [
        (lv.code, (lv.name_en if english and lv.name_en else lv.name))
        for lv in unit_levels()
        if lv.code in present
    ]
    areas = sorted(
        {(r.area or "", results.names.area(r.area)) for r in results._rows(Level.CELL)},
        key=lambda a: a[1],
    )
    parents = sorted(
        (results.names.unit_ids[code], results.names.unit(code))
        for code in results._trees()
        if results.sees(code) and code in results.names.unit_ids
    )
    return FilterChoices(levels, [a for a in areas if a[0]], sorted(parents, key=lambda p: p[1]))


@dataclass(frozen=True)
class HeatMap:
    units: list[Shown]  # the unit's overall row, for the row label
    elements: list[tuple[str, str]]  # (code, name) of the columns: elements, or service areas
    cells: list[list[IndexRow | None]]  # units x columns


@dataclass(frozen=True)
class Priority:
    value: int
    label: str
    chosen: int  # responses that chose it
    share: float  # weighted percent of those who answered the question


@dataclass
class RoundResults:
    """A round's index table read for one reader (``unit_ids``: None = every unit)."""

    round: Round
    table: IndexTable
    names: Names
    unit_ids: set[int] | None
    target: float | None  # of the province and service areas; units: ``target_for``
    targets: Targets = field(default_factory=lambda: Targets(90.0))
    target_error: str | None = None  # what is wrong with the target asked for in the page
    target_asked: bool = False  # the page's form replaces the round's targets
    _ranks: dict[str, RankRange] | None = field(default=None, repr=False)
    frame: DesignFrame | None = field(default=None, repr=False)  # the table's, with its counts

    @property
    def measure(self) -> IndexDefinition:
        return self.table.headline

    @property
    def state(self) -> tuple[object, ...] | None:
        """What decides everything shown from these results (the statistics' state, the
        reader's units, the target), for caching what is drawn from them; None: not known."""
        statistics = self.frame.statistics if self.frame is not None else None
        if statistics is None:
            return None
        units = None if self.unit_ids is None else tuple(sorted(self.unit_ids))
        return (statistics.key, units, self.target, self.target_asked)

    @property
    def empty(self) -> bool:
        return len(self.table) == 0

    @property
    def rule(self) -> PublishingRule:
        """The round's publishing rule (its thresholds are printed in the methods annex)."""
        return publishing_rule(self.round)

    def method_statements(self) -> list[str]:
        """How the indices are built, from the round's questionnaire version."""
        from survey.services.results.method import method_statements

        return method_statements(self.round.template_version, self.measure, self.round.kind)

    @property
    def percent(self) -> bool:
        return self.measure in PERCENT_MEASURES

    def sees(self, unit_code: str | None) -> bool:
        if self.unit_ids is None:
            return True
        uid = self.names.unit_ids.get(unit_code or "")
        return uid is not None and uid in self.unit_ids

    @property
    def scope_size(self) -> int:
        """Units of the round's scope the reader may see."""
        return sum(
            1 for s in self.round.scope if self.unit_ids is None or s.unit_id in self.unit_ids
        )

    @property
    def sees_everything(self) -> bool:
        return self.unit_ids is None

    def target_for(self, row: IndexRow) -> float | None:
        """The target ``row`` is held to: the page's own when asked for; for a unit's rows its
        level's target if the round sets one; the round's target otherwise."""
        if self.target is None or self.target_asked:
            return self.target
        if row.level in (Level.UNIT, Level.UNIT_TREE, Level.CELL, Level.DESK):
            return self.targets.for_level(self.names.unit_levels.get(row.unit or ""))
        return self.target

    @property
    def level_targets(self) -> list[tuple[str, float]]:
        """(level name, target) of the levels whose target differs from the round's."""
        if self.target_asked:
            return []
        names = {lv.code: lv.name for lv in unit_levels()}
        return sorted(
            (names.get(c, c), t) for c, t in self.targets.levels.items() if t != self.target
        )

    def _verdict(self, row: IndexRow) -> Verdict | None:
        target = self.target_for(row)
        return None if target is None else verdict(row, target)

    def _rows(self, level: Level, **keys: str) -> list[IndexRow]:
        return self.table.rows(level=level, measure=self.measure, **keys)

    def province(self) -> Shown | None:
        rows = self._rows(Level.PROVINCE, kind=IndexKind.OVERALL)
        return Shown("", "", rows[0], self._verdict(rows[0])) if rows else None

    def overall_question(self) -> IndexRow | None:
        rows = self._rows(Level.PROVINCE, kind=IndexKind.OVERALL_QUESTION)
        return rows[0] if rows else None

    def ranks(self) -> dict[str, RankRange]:
        """Rank ranges of every unit's own overall index among the units of its level in the
        round (jointly within the level): a district is not ranked against departments, nor
        against its own communes' total."""
        if self._ranks is None:
            by_level: dict[str, list[IndexRow]] = {}
            for row in self._rows(Level.UNIT, kind=IndexKind.OVERALL):
                level = self.names.unit_levels.get(row.unit or "", "")
                by_level.setdefault(level, []).append(row)
            self._ranks = {
                r.row.unit or "": r for rows in by_level.values() for r in rank_ranges(rows)
            }
        return self._ranks

    def _trees(self) -> dict[str, IndexRow]:
        return {r.unit or "": r for r in self._rows(Level.UNIT_TREE, kind=IndexKind.OVERALL)}

    def _tree(self, code: str, trees: dict[str, IndexRow]) -> Shown | None:
        row = trees.get(code)
        if row is None:
            return None
        uid = self.names.unit_ids.get(code)
        return Shown(code, self.names.unit(code), row, self._verdict(row), None, uid)

    def unit_tree(self, code: str) -> Shown | None:
        """The unit with all its sub-units as one domain; None without sub-units (or answers)."""
        return self._tree(code, self._trees()) if self.sees(code) else None

    def units(self, sort: str = DEFAULT_SORT, chosen: UnitFilter | None = None) -> list[Shown]:
        """Every unit the reader may see with its own overall index (ranked within its level)
        and, for a unit with sub-units, ``tree``: the unit with all below it. ``chosen`` keeps
        the units of one level, or under one unit; with a service area, each unit's figure in
        that area (its unit x area cell, not ranked)."""
        chosen = chosen or UnitFilter()
        ranks, trees = self.ranks(), self._trees()

        def kept(code: str) -> bool:
            return (
                self.sees(code)
                and (chosen.level is None or self.names.unit_levels.get(code) == chosen.level)
                and (chosen.under is None or code in chosen.under)
            )

        if chosen.area is not None:
            cells = self._rows(Level.CELL, kind=IndexKind.OVERALL, area=chosen.area)
            shown = [
                Shown(
                    row.unit or "",
                    self.names.unit(row.unit),
                    row,
                    self._verdict(row),
                    None,
                    self.names.unit_ids.get(row.unit or ""),
                    area_name=self.names.area(row.area),
                )
                for row in cells
                if kept(row.unit or "")
            ]
            return sort_units(shown, sort)
        shown = [
            Shown(
                row.unit or "",
                self.names.unit(row.unit),
                row,
                self._verdict(row),
                ranks.get(row.unit or ""),
                self.names.unit_ids.get(row.unit or ""),
                tree=self._tree(row.unit or "", trees),
            )
            for row in self._rows(Level.UNIT, kind=IndexKind.OVERALL)
            if kept(row.unit or "")
        ]
        return sort_units(shown, sort)

    def unit(self, code: str) -> Shown | None:
        """The unit's own overall index (its own desks), with ``tree`` when it has sub-units."""
        rows = self._rows(Level.UNIT, kind=IndexKind.OVERALL, unit=code)
        if not rows or not self.sees(code):
            return None
        tree = self.unit_tree(code)
        return Shown(
            code,
            self.names.unit(code),
            rows[0],
            self._verdict(rows[0]),
            self.ranks().get(code),
            self.names.unit_ids.get(code),
            tree=tree,
        )

    def desks(self, code: str) -> list[DeskFigure]:
        """The unit's desks with their overall index where the round's publishing rule allows
        one (``published``), otherwise only their number of responses; by desk name. A
        sampled round's answers came through no desk: it has none."""
        if not self.sees(code) or self.empty or self.round.kind == RoundKind.SAMPLE:
            return []
        # The desks alone: their rows do not depend on the other levels, which the page's
        # own table holds already (computing them twice was most of the unit page's time
        # after a new response).
        table = round_index(self.round, (Level.DESK,))
        names = {
            desk_code: name
            for desk_code, name in db.session.execute(
                select(Desk.code, Desk.name)
                .join(Unit, Desk.unit_id == Unit.id)
                .where(Unit.code == code)
            )
        }
        rule = self.rule
        out = []
        for row in table.rows(
            level=Level.DESK, kind=IndexKind.OVERALL, measure=self.measure, unit=code
        ):
            judged = assess(row, rule)
            out.append(
                DeskFigure(
                    row.desk or "",
                    names.get(row.desk or "", row.desk or ""),
                    row,
                    judged.publishable,
                    self._verdict(row) if judged.publishable else None,
                    tuple(r for r in judged.reasons if r.severity == Severity.SUPPRESS),
                )
            )
        return sorted(out, key=lambda d: (d.name, d.code))

    def indices_of(self, kind: IndexKind, *, level: Level, **keys: str) -> list[Shown]:
        """Element (or criterion) rows of one domain, in questionnaire order."""
        order = self.names.elements if kind == IndexKind.ELEMENT else self.names.criteria
        found = {r.index: r for r in self._rows(level, kind=kind, **keys)}
        return [
            Shown(code, self.names.index(code), found[code], self._verdict(found[code]))
            for code in order
            if code in found
        ]

    def overall_question_of(self, *, level: Level, **keys: str) -> IndexRow | None:
        rows = self._rows(level, kind=IndexKind.OVERALL_QUESTION, **keys)
        return rows[0] if rows else None

    def heat_map(self, units: list[Shown]) -> HeatMap:
        elements = [(code, self.names.index(code)) for code in self.names.elements]
        found = {(r.unit, r.index): r for r in self._rows(Level.UNIT, kind=IndexKind.ELEMENT)}
        cells = [[found.get((u.code, code)) for code, _ in elements] for u in units]
        return HeatMap(units, elements, cells)

    def area_heat_map(self, units: list[Shown]) -> HeatMap:
        """Units x service areas: each cell's overall index (the columns are the areas any of
        ``units`` has responses in)."""
        found = {
            (r.unit, r.area): r
            for r in self._rows(Level.CELL, kind=IndexKind.OVERALL)
            if self.sees(r.unit)
        }
        shown = {u.code for u in units}
        codes = sorted(
            {area for unit, area in found if unit in shown and area}, key=self.names.area
        )
        areas = [(code, self.names.area(code)) for code in codes]
        cells = [[found.get((u.code, code)) for code, _ in areas] for u in units]
        return HeatMap(units, areas, cells)

    def areas(self) -> list[Shown]:
        """The service areas over the whole province (not shown to unit officers)."""
        if not self.sees_everything:
            return []
        rows = self._rows(Level.AREA, kind=IndexKind.OVERALL)
        shown = [Shown(r.area or "", self.names.area(r.area), r, self._verdict(r)) for r in rows]
        return sorted(shown, key=lambda s: s.name)

    def cells(self, unit: str | None = None) -> list[Shown]:
        """Unit x service area cells the reader may see, by unit then area."""
        keys = {} if unit is None else {"unit": unit}
        rows = self._rows(Level.CELL, kind=IndexKind.OVERALL, **keys)
        shown = [
            Shown(
                r.unit or "",
                self.names.unit(r.unit),
                r,
                self._verdict(r),
                unit_id=self.names.unit_ids.get(r.unit or ""),
                area_name=self.names.area(r.area),
            )
            for r in rows
            if self.sees(r.unit)
        ]
        return sorted(shown, key=lambda s: (s.name, s.area_name))

    def weighting_summary(self) -> dict[str, float]:
        d = self.table.weighting.diagnostics
        return {
            "responses": d.responses,
            "responses_excluded": d.responses_excluded,
            "dossiers": d.dossiers,
            "dossiers_represented": d.dossiers_represented,
            "issues": len(d.issues),
        }


def sort_units(shown: list[Shown], sort: str) -> list[Shown]:
    def estimate(s: Shown) -> float:
        return s.row.estimate if math.isfinite(s.row.estimate) else -math.inf

    def low(s: Shown) -> float:
        return s.row.ci_low if math.isfinite(s.row.ci_low) else -math.inf

    keys = {
        "index": lambda s: (-estimate(s), s.name),
        "low": lambda s: (-low(s), s.name),
        "name": lambda s: (s.name, s.code),
        "code": lambda s: (s.code,),
        "n": lambda s: (-s.row.n, s.name),
    }
    return sorted(shown, key=keys[parse_sort(sort)])


def round_results(
    round_: Round,
    unit_ids: set[int] | None,
    *,
    target: str | None = None,
    english: bool = False,
) -> RoundResults:
    frame = round_frame(round_)  # read once for the table and the names
    table = round_index(round_, frame=frame)
    targets = round_targets(round_)
    chosen, error = parse_target(target, table.headline, targets)
    return RoundResults(
        round_,
        table,
        round_names(round_, english=english, frame=frame),
        unit_ids,
        chosen,
        targets,
        error,
        bool(target and target.strip()) and error is None,
        frame=frame,
    )


# --- Improvement priorities -------------------------------------------------------------------


def priorities(results: RoundResults, *, english: bool = False) -> list[Priority]:
    """The areas citizens want improved first: for each option of the priorities question, the
    weighted share (w = N_cell / n_cell, as the indices) of the respondents who chose at least
    one option, over the units the reader may see; most chosen first."""
    round_ = results.round
    item = next((i for i in round_.template_version.items if i.role == ItemRole.PRIORITIES), None)
    if item is None or results.empty:
        return []
    frame = results.frame or round_frame(round_)
    weights = {cell: w for cell in frame.counts if (w := frame.weight(cell)) is not None}

    def visible(unit_id: int) -> bool:
        return results.unit_ids is None or unit_id in results.unit_ids

    chosen: dict[int, tuple[int, float]] = {}
    answered = 0.0
    tally = frame.statistics if frame.statistics is not None else round_tally(round_, frame)
    for (unit_id, area_id), counts in tally.chosen(frame).items():
        if not visible(unit_id):
            continue
        weight = weights.get((unit_id, area_id), 0.0)
        for value, n in counts.items():
            if value == ANSWERED:
                answered += n * weight
                continue
            count, weighted = chosen.get(value, (0, 0.0))
            chosen[value] = (count + n, weighted + n * weight)
    labels = {value: (en if english and en else vi) for value, vi, en in item.points()}
    out = [
        Priority(value, labels.get(value, str(value)), count, 100 * weighted / answered)
        for value, (count, weighted) in chosen.items()
        if answered > 0
    ]
    return sorted(out, key=lambda p: (-p.share, p.value))


# --- Change since an earlier round ------------------------------------------------------------


def earlier_rounds(round_: Round, unit_ids: set[int] | None) -> list[Round]:
    """Rounds on the same questionnaire template that opened before this one, latest first;
    for a unit officer only those that include one of their units."""
    template_id = round_.template_version.template_id
    found = [
        r
        for r in db.session.scalars(
            select(Round)
            .where(
                Round.id != round_.id,
                Round.state != RoundState.DRAFT.value,
                Round.opens_at < round_.opens_at,
            )
            .order_by(Round.opens_at.desc(), Round.id.desc())
        )
        if r.template_version.template_id == template_id
    ]
    if unit_ids is None:
        return found
    return [r for r in found if any(s.unit_id in unit_ids for s in r.scope)]


def pick_earlier(candidates: list[Round], since: str | None) -> Round | None:
    """The round asked for if it is one of the candidates; else the latest one."""
    if since:
        for candidate in candidates:
            if str(candidate.id) == since:
                return candidate
    return candidates[0] if candidates else None


@dataclass(frozen=True)
class UnitChange:
    code: str
    name: str
    change: Change

    @property
    def significant(self) -> bool:
        return self.change.direction in (Direction.UP, Direction.DOWN)


def comparability_of(results: RoundResults, earlier: Round) -> Comparability:
    """What this round's indices compare with in ``earlier`` (shared/domain.md, "Comparing
    rounds"): everything when both questionnaire versions define the indices the same way,
    otherwise the shared criteria, elements and aspects only, and never the overall index."""
    return comparability(
        template_index(results.round.template_version).spec,
        template_index(earlier.template_version).spec,
    )


def unit_changes(results: RoundResults, earlier: Round) -> list[UnitChange]:
    """Each unit's overall index now minus in ``earlier``, with its interval (independent
    samples, Satterthwaite df), for the units the reader may see that are in both rounds; none
    when the two rounds define the overall index differently."""
    if not comparability_of(results, earlier).same_definition:
        return []
    before = round_index(earlier)
    if results.empty or len(before) == 0:
        return []
    found = changes(results.table, before, level=Level.UNIT)
    out = [
        UnitChange(c.current.unit or "", results.names.unit(c.current.unit), c)
        for c in found
        if c.current.kind == IndexKind.OVERALL
        and c.current.measure == results.measure
        and results.sees(c.current.unit)
    ]
    return sorted(out, key=lambda u: u.name)


def province_change(results: RoundResults, earlier: Round) -> Change | None:
    if not comparability_of(results, earlier).same_definition:
        return None
    before = round_index(earlier)
    found = [
        c
        for c in changes(results.table, before, level=Level.PROVINCE)
        if c.current.kind == IndexKind.OVERALL and c.current.measure == results.measure
    ]
    return found[0] if found else None


def shared_changes(results: RoundResults, earlier: Round) -> list[UnitChange]:
    """The province's change on each aspect, element and criterion the two rounds define the
    same way, in questionnaire order: what a comparison across questionnaire versions rests on.
    Empty for a unit officer (province-wide rows mix in other units)."""
    if not results.sees_everything or results.empty:
        return []
    before = round_index(earlier)
    if len(before) == 0:
        return []
    comparable = comparability_of(results, earlier)
    order = {code: n for n, code in enumerate((*results.names.elements, *results.names.criteria))}
    found = [
        UnitChange(c.current.index, results.names.index(c.current.index), c)
        for c in changes(results.table, before, level=Level.PROVINCE)
        if c.current.kind in (IndexKind.ASPECT, IndexKind.ELEMENT, IndexKind.CRITERION)
        and c.current.measure == results.measure
        and comparable.compares(c.current)
    ]
    kinds = {IndexKind.ASPECT: 0, IndexKind.ELEMENT: 1, IndexKind.CRITERION: 2}
    return sorted(
        found, key=lambda u: (kinds[u.change.current.kind], order.get(u.code, len(order)))
    )


# --- A QR round and a sampled round of the same period, side by side ---------------------------


@dataclass(frozen=True)
class Companion:
    """The province's overall index of one round of the period, for showing beside another."""

    round: Round
    kind: str
    row: IndexRow | None  # None: no counted response yet


def companions(round_: Round, table: IndexTable | None = None) -> list[Companion]:
    """The round itself and every round of the other kind (QR or sampled) whose period overlaps
    it, each with its own province-level overall index: shown side by side, never pooled (a
    convenience sample and a probability sample answer different questions). ``table``: the
    round's own, when the page has it."""
    other = RoundKind.QR if round_.kind == RoundKind.SAMPLE else RoundKind.SAMPLE
    rounds = db.session.scalars(
        select(Round)
        .where(
            Round.kind == other.value,
            Round.state != RoundState.DRAFT.value,
            Round.opens_at < round_.closes_at,
            Round.closes_at > round_.opens_at,
        )
        .order_by(Round.opens_at, Round.id)
    ).all()
    if not rounds:
        return []
    found = []
    for each in [round_, *rounds]:
        # The page's own table for the round being viewed; the others' are cached.
        found_table = table if each is round_ and table is not None else round_index(each)
        row = None
        if len(found_table):
            try:
                row = found_table.find(Level.PROVINCE, kind=IndexKind.OVERALL)
            except ValueError:
                row = None
        found.append(Companion(each, each.kind, row))
    return found
