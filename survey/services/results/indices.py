"""A round's satisfaction indices, from the stored responses, through ``analysis``.

The responses are those of ``survey.services.responses.counting.counted`` (the one definition
every page, export and estimate shares), weighted by the round's dossier counts per unit x
service area cell (w = N_cell / n_cell). They are read in chunks of ``CHUNK`` responses and
reduced to per-cell sufficient statistics (``analysis.satisfaction.stats``) chunk by chunk, so
memory follows the number of cells, not of responses; the table is then
``analysis.index_table_from_stats``, which equals ``analysis.index_table`` on the same
responses.

Domains are labelled with codes (unit code, service area code, desk code): pages show the names
units had when the round opened (``unit_names``). A round without counted responses gives an
empty table (no rows) rather than an error, so pages can say so.

Tables are cached per application and process, keyed by everything that decides them (the
round, its questionnaire version, the counted responses per cell and their ids, the dossier
frame, the levels): an exclusion, a restored response or a new dossier import is a new key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from flask import current_app
from sqlalchemy import Executable, func, select

from analysis.design import LonelyPSU
from analysis.satisfaction import (
    DEFAULT_LEVELS,
    PSU,
    AspectSpec,
    CellStats,
    ElementSpec,
    IndexDefinition,
    IndexTable,
    ItemSpec,
    Level,
    Responses,
    TemplateSpec,
    Weighting,
    WeightingDiagnostics,
    WeightingMethod,
    cell_stats,
    index_table_from_stats,
    merge_stats,
)
from analysis.satisfaction import ItemRole as AnalysisRole
from analysis.weighting import CAVEAT_EN, CAVEAT_VI
from survey.extensions import db
from survey.models import (
    Answer,
    Item,
    ItemRole,
    Response,
    Round,
    Scale,
    TemplateVersion,
)
from survey.models.templates import DEFAULT_SATISFIED, SCALE_POINTS
from survey.services.questionnaires.frozen import kept_while_frozen
from survey.services.responses.counting import NO_DESK, DesignFrame, counted, design_frame

# What the product reports: the province, each unit on its own desks and, for a unit with
# sub-units, with its whole subtree as one domain (shared/domain.md, "Units and their
# sub-units"), service areas and unit x area cells.
LEVELS = (*DEFAULT_LEVELS, Level.UNIT_TREE)
CHUNK = 50_000
CACHE_SIZE = 8
SCORED_SCALES = (Scale.SAT5, Scale.LEVEL4, Scale.ONESTOP3, Scale.YESNO, Scale.POINTS210)


@dataclass(frozen=True)
class TemplateIndex:
    """A questionnaire version as the analysis sees it, with the database ids of its items."""

    spec: TemplateSpec
    item_ids: dict[int, str]  # item id -> item code, for the scored items only
    priorities: tuple[int, ...] = ()  # the id of the priorities question, if it is asked


def template_index(version: TemplateVersion) -> TemplateIndex:
    """Criteria (in their elements and aspects) and the overall question of ``version``, on
    their scales, satisfied values from the item or the scale's default. A frozen version (one
    a round has used) cannot change: its index is kept per application, as it costs a dozen
    queries of its aspects, elements and items."""
    return kept_while_frozen(version, "template index", lambda: _template_index(version))


def _template_index(version: TemplateVersion) -> TemplateIndex:
    items: list[ItemSpec] = []
    item_ids: dict[int, str] = {}
    elements: list[ElementSpec] = []
    aspects: list[AspectSpec] = []

    def spec_of(item: Item, role: AnalysisRole) -> ItemSpec:
        scale = Scale(item.scale)
        values = tuple(float(v) for v, _vi, _en in SCALE_POINTS[scale])
        satisfied = tuple(item.satisfied_values or DEFAULT_SATISFIED[scale])
        item_ids[item.id] = item.code
        return ItemSpec(item.code, values, tuple(float(v) for v in satisfied), role)

    for aspect in sorted(version.aspects, key=lambda a: (a.position, a.id)):
        element_codes = []
        for element in sorted(aspect.elements, key=lambda e: (e.position, e.id)):
            criteria = [
                i
                for i in sorted(element.items, key=lambda i: (i.position, i.id))
                if i.role == ItemRole.CRITERION and i.scale in SCORED_SCALES
            ]
            if not criteria:
                continue
            items.extend(spec_of(i, AnalysisRole.CRITERION) for i in criteria)
            elements.append(ElementSpec(element.code, tuple(i.code for i in criteria)))
            element_codes.append(element.code)
        if element_codes:
            aspects.append(AspectSpec(aspect.code, tuple(element_codes)))
    overall = [
        i
        for i in sorted(version.items, key=lambda i: (i.position, i.id))
        if i.role == ItemRole.OVERALL and i.scale in SCORED_SCALES
    ]
    items.extend(spec_of(i, AnalysisRole.OVERALL) for i in overall[:1])
    priorities = [i.id for i in version.items if i.role == ItemRole.PRIORITIES][:1]
    return TemplateIndex(
        TemplateSpec(
            tuple(items), tuple(elements), tuple(aspects), IndexDefinition(version.index_definition)
        ),
        item_ids,
        tuple(priorities),
    )


def _cache() -> OrderedDict[tuple[object, ...], IndexTable]:
    cache: OrderedDict[tuple[object, ...], IndexTable] = current_app.extensions.setdefault(
        "hailong_round_index", OrderedDict()
    )
    return cache


def round_frame(round_: Round) -> DesignFrame:
    """The round's design frame with its counts per cell taken from the maintained statistics
    (``tally.round_tally``), not from a GROUP BY over every response."""
    from survey.services.results.snapshots import frozen_frame, published_snapshot
    from survey.services.results.tally import round_tally

    frame = design_frame(round_, with_counts=False)
    frozen = published_snapshot(round_)
    if frozen is not None:
        frame = frozen_frame(frozen, frame)
        frame.statistics = frozen.tally
        return frame
    tally = round_tally(round_, frame)
    frame.counts = tally.counts(frame)
    frame.statistics = tally
    return frame


def round_index(
    round_: Round,
    levels: Sequence[Level | str] = LEVELS,
    *,
    psu: PSU | str = PSU.RESPONSE,
    frame: DesignFrame | None = None,
) -> IndexTable:
    """Every index of the round for the domains of ``levels`` (default ``LEVELS``: the province,
    units, units with their sub-units, service areas and unit x area cells; ``Level.DESK`` adds
    desks), weighted by the dossier
    counts, with intervals and reliability flags. No counted responses: a table with no rows.
    ``frame``: the round's design frame, when the caller has read it already.

    With responses as PSUs (the pages' design) the statistics are the maintained ones
    (``tally``): nothing but the responses that arrived since the last page is read; a
    published round's, with its dossier counts and tree, are those of its snapshot
    (``snapshots``). With desks as PSUs they are computed from the answers."""
    from survey.services.results.snapshots import published_snapshot
    from survey.services.results.tally import round_tally

    chosen = tuple(Level(level) for level in levels)
    psu = PSU(psu)
    by_desk = Level.DESK in chosen or psu == PSU.DESK
    frame = frame or round_frame(round_)
    frozen = published_snapshot(round_) if psu == PSU.RESPONSE else None
    if frozen is not None:
        frame.frozen_subtrees = frozen.subtrees
    trees = frame.subtrees() if Level.UNIT_TREE in chosen else None
    shared = (
        frozen.id if frozen is not None else tuple(sorted(frame.dossiers.items())),
        chosen,
        psu,
        tuple(sorted(trees.items())) if trees else None,
    )
    tally = None
    if psu == PSU.RESPONSE:
        # The statistics the frame's counts came from, so the page reads one state.
        tally = frame.statistics if frame.statistics is not None else round_tally(round_, frame)
        key: tuple[object, ...] = ("tally", tally.key, *shared)
    else:
        n_ids, id_sum, last_id = db.session.execute(
            select(func.count(Response.id), func.sum(Response.id), func.max(Response.id)).where(
                counted(round_)
            )
        ).one()
        key = (
            round_.id,
            round_.template_version_id,
            n_ids,
            id_sum,
            tuple(sorted(frame.counts.items())),
            *shared,
        )
    cache = _cache()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    template = template_index(round_.template_version)
    dossiers = {
        (frame.units[unit][0], frame.areas[area]): float(n)
        for (unit, area), n in frame.dossiers.items()
    }
    if frozen is not None:
        dossiers = dict(frozen.dossiers)
    if tally is not None:
        stats = tally.stats
    else:
        stats = _stats(round_, template, frame, last_id or 0, by_desk=by_desk, psu=psu)
    if stats is None:
        table = empty_table(template.spec, dossiers)
    else:
        weighting = frame.weighting(stats.cell_counts(), dossiers)
        table = index_table_from_stats(
            stats, template.spec, weighting, levels=chosen, subtrees=trees
        )
    cache[key] = table
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return table


def _stats(
    round_: Round,
    template: TemplateIndex,
    frame: DesignFrame,
    last_id: int,
    *,
    by_desk: bool,
    psu: PSU,
) -> CellStats | None:
    """Per-cell statistics of the counted responses up to ``last_id``, chunk by chunk."""
    parts: list[CellStats] = []
    after = 0
    item_ids = np.array(sorted(template.item_ids), dtype=np.int64)
    codes = template.spec.codes
    item_columns = np.array([codes.index(template.item_ids[int(i)]) for i in item_ids])
    while after < last_id:
        chunk = _integers(
            select(
                Response.id,
                Response.unit_id,
                Response.service_area_id,
                func.coalesce(Response.desk_id, NO_DESK),
            )
            .where(counted(round_), Response.id > after, Response.id <= last_id)
            .order_by(Response.id)
            .limit(CHUNK),
            4,
        )
        if len(chunk) == 0:
            break
        ids = chunk[:, 0]
        first, after = int(ids[0]), int(ids[-1])
        answers = _integers(
            select(Answer.response_id, Answer.item_id, Answer.value).where(
                Answer.response_id.between(first, after),
                Answer.not_applicable.is_(False),
                Answer.value.is_not(None),
            ),
            3,
        )
        # The items are chosen here, not in SQL: SQLite would read the answers by item.
        answers = answers[np.isin(answers[:, 1], item_ids)]
        row = np.minimum(np.searchsorted(ids, answers[:, 0]), len(ids) - 1)
        listed = ids[row] == answers[:, 0]  # answers of responses that do not count are not read
        row, answers = row[listed], answers[listed]
        column = item_columns[np.searchsorted(item_ids, answers[:, 1])]
        cell = row * len(codes) + column
        if len(np.unique(cell)) != len(cell):
            raise ValueError(f"round {round_.id}: a response has two answers to the same item")
        matrix = np.full((len(ids), len(codes)), np.nan)
        matrix[row, column] = answers[:, 2]
        responses = Responses.build(
            template.spec,
            response_id=ids,
            unit=_labels(chunk[:, 1], {k: v[0] for k, v in frame.units.items()}),
            area=_labels(chunk[:, 2], frame.areas),
            desk=_labels(chunk[:, 3], frame.desks) if by_desk else None,
            answers=matrix,
        )
        parts.append(cell_stats(responses, template.spec, psu=psu, by_desk=by_desk))
    return merge_stats(parts) if parts else None


def _integers(statement: Executable, columns: int) -> np.ndarray:
    """The rows of a query of integer columns as an (n, columns) int64 array, read straight
    off the driver's cursor: at a million responses SQLAlchemy's row objects would cost several
    times the query itself."""
    result = db.session.connection().execute(statement)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return np.array(rows, dtype=np.int64).reshape(-1, columns)


def _labels(ids: np.ndarray, codes: dict[int, str]) -> np.ndarray:
    """The code of every id, looked up once per distinct id."""
    distinct, position = np.unique(ids, return_inverse=True)
    return np.array([codes[int(i)] for i in distinct], dtype=object)[position]


def empty_table(template: TemplateSpec, dossiers: dict[tuple[str, str], float]) -> IndexTable:
    """A table with no rows, for a round nobody has answered yet: the frame is kept so that the
    pages can still say how many dossiers the round covers."""
    nothing = np.array([], dtype=object)
    numbers = np.array([], dtype=float)
    keys = sorted(dossiers)
    weighting = Weighting(
        method=WeightingMethod.DOSSIERS,
        unit=(),
        area=(),
        responses=np.array([], dtype=np.int64),
        weight=numbers,
        population=numbers,
        fpc=numbers,
        frame_unit=tuple(k[0] for k in keys),
        frame_area=tuple(k[1] for k in keys),
        frame_dossiers=np.array([dossiers[k] for k in keys], dtype=float),
        diagnostics=WeightingDiagnostics(
            issues=(),
            responses=0,
            responses_excluded=0,
            dossiers=float(sum(dossiers.values())),
            dossiers_represented=0.0,
        ),
        caveat_vi=CAVEAT_VI,
        caveat_en=CAVEAT_EN,
    )
    return IndexTable(
        level=nothing,
        unit=nothing,
        area=nothing,
        desk=nothing,
        kind=nothing,
        index=nothing,
        measure=nothing,
        estimate=numbers,
        se=numbers,
        df=numbers,
        ci_low=numbers,
        ci_high=numbers,
        ci_method=nothing,
        n=np.array([], dtype=np.int64),
        n_answering=np.array([], dtype=np.int64),
        n_excluded=np.array([], dtype=np.int64),
        n_eff=numbers,
        deff=numbers,
        coverage=numbers,
        flag_bits=np.array([], dtype=np.int64),
        confidence=0.95,
        headline=template.index_definition,
        weighting=weighting,
        psu=PSU.RESPONSE,
        lonely_psu=LonelyPSU.ADJUST,
    )
