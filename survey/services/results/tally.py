"""A round's sufficient statistics, maintained as responses arrive (issue 21, point 1).

Every index of a round is a function of per-cell sufficient statistics
(``analysis.satisfaction.stats``): counts, sums and cross-products of the item indicators, per
desk within each unit x service area cell. They add up over responses, so a page never reads
the whole round's answers again once they are known:

- **Stored.** ``round_statistics`` holds them for the responses up to ``through_id`` (and the
  ids just below it that are folded in, ``LOOKBACK``), with each cell's count and sum of
  response ids as its fingerprint. A server that starts reads them in one row.
- **Folded forward.** A page checks the round's newest response id (one index probe) and its
  ``stats_generation``. New responses are read alone and merged in. Ids just below the last
  folded one are looked at again, so a submission that committed after a later one is not
  missed.
- **Checked.** A response changed or deleted (an exclusion, a restore, a hand edit) raises
  ``rounds.stats_generation`` (triggers, migration 0009): the next page compares every cell's
  count and id sum with the database (one GROUP BY over the responses, not the answers) and
  recomputes only the cells that differ. An answer changed or deleted by hand raises
  ``rounds.answers_generation``: everything is recomputed.
- **Reconciled.** ``flask results reconcile`` recomputes everything from the answers and
  reports whether the stored statistics agreed.

Responses are the PSUs (the pages' design); desks as clusters are computed from the answers
each time (``indices.round_index``). Within one process the last tallies are kept in memory,
keyed by what decides them (round, generation, newest response id, template version, codes).
"""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
from flask import current_app
from sqlalchemy import ColumnElement, Executable, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from analysis.satisfaction import (
    PSU,
    CellStats,
    Responses,
    cell_stats,
    keep_blocks,
    merge_stats,
    stats_from_arrays,
    stats_to_arrays,
)
from survey.extensions import db
from survey.models import Answer, Response, Round, RoundStatistics
from survey.models.base import utcnow
from survey.services.responses.counting import NO_DESK, DesignFrame, counted

CHUNK = 50_000
LOOKBACK = 1_000  # ids below the newest folded one read again for late commits
CACHE_SIZE = 8
# The stored row is rewritten after a recomputation, and after folding when it is this far
# behind: a page after one new response does not rewrite a megabyte, and a server that starts
# folds in at most this many responses on top of it (a few tens of milliseconds).
STORE_BEHIND = 2_000

Cell = tuple[str, str]  # (unit code, service area code)
FORMAT = 1  # of the stored payload: another is recomputed, not read
ANSWERED = -1  # in Tally.choices: respondents who answered the priorities question


@dataclass(frozen=True)
class Tally:
    """The counted responses of a round, as sufficient statistics per desk within cell."""

    key: tuple[object, ...]  # what decides it: a table computed from it can be cached by this
    stats: CellStats | None  # None: no counted responses
    cells: dict[Cell, tuple[int, int]]  # cell -> (responses, sum of their ids)
    through_id: int
    recent: frozenset[int]  # folded ids above through_id - LOOKBACK
    generation: tuple[int, int]  # the round's (response, answer) generations it is checked for
    # The priorities question: cell -> {option value: respondents who chose it}, with
    # ANSWERED -> respondents who chose at least one option.
    choices: dict[Cell, dict[int, int]] = field(default_factory=dict)

    def again(self, **changes: object) -> Tally:
        return replace(self, **changes)  # type: ignore[arg-type]

    def chosen(self, frame: DesignFrame) -> dict[tuple[int, int], dict[int, int]]:
        """The priorities question per (unit id, area id) cell: option value -> respondents who
        chose it, and ``ANSWERED`` -> respondents who chose at least one."""
        unit_ids = {code: uid for uid, (code, _name) in frame.units.items()}
        area_ids = {code: aid for aid, code in frame.areas.items()}
        return {
            (unit_ids[unit], area_ids[area]): counts
            for (unit, area), counts in self.choices.items()
            if unit in unit_ids and area in area_ids
        }

    def counts(self, frame: DesignFrame) -> dict[tuple[int, int], int]:
        """Counted responses per (unit id, area id) cell, as ``counting.cell_counts``."""
        unit_ids = {code: uid for uid, (code, _name) in frame.units.items()}
        area_ids = {code: aid for aid, code in frame.areas.items()}
        return {
            (unit_ids[unit], area_ids[area]): n
            for (unit, area), (n, _ids) in self.cells.items()
            if unit in unit_ids and area in area_ids
        }


@dataclass(frozen=True)
class Reconciliation:
    """What ``reconcile`` found: the stored statistics against a recomputation."""

    round_id: int
    responses: int
    cells: int
    stored: bool  # there were stored statistics to compare
    differing_cells: tuple[Cell, ...]
    max_difference: float  # largest absolute difference of any statistic

    @property
    def agrees(self) -> bool:
        return not self.differing_cells and self.max_difference == 0.0


def labels_key(frame: DesignFrame) -> str:
    """A digest of the unit, area and desk codes the statistics are labelled with: a code
    renamed since they were stored makes them unusable."""
    digest = hashlib.sha256()
    for uid, (code, _name) in sorted(frame.units.items()):
        digest.update(f"u{uid}={code}\x1f".encode())
    for aid, code in sorted(frame.areas.items()):
        digest.update(f"a{aid}={code}\x1f".encode())
    for did, code in sorted(frame.desks.items()):
        digest.update(f"d{did}={code}\x1f".encode())
    return digest.hexdigest()


def newest_response_id(round_: Round) -> int:
    """The round's highest response id, counted or not (an index probe)."""
    return int(
        db.session.scalar(select(func.max(Response.id)).where(Response.round_id == round_.id)) or 0
    )


def _cache() -> OrderedDict[tuple[object, ...], Tally]:
    cache: OrderedDict[tuple[object, ...], Tally] = current_app.extensions.setdefault(
        "hailong_round_tally", OrderedDict()
    )
    return cache


def round_tally(round_: Round, frame: DesignFrame, *, check: bool = False) -> Tally:
    """The round's statistics, up to date with its stored responses; a published round's are
    those of its snapshot (``snapshots``). ``frame``: its labels (the counts in it are not
    used). ``check``: compare every cell with the database even if nothing says it changed."""
    from survey.services.results.indices import template_index
    from survey.services.results.snapshots import published_snapshot

    frozen = published_snapshot(round_)
    if frozen is not None:
        return frozen.tally
    labels = labels_key(frame)
    clean = _session_is_clean()
    with _reading(clean) as connection:
        newest, generation = _state(connection, round_)
        key = (round_.id, round_.template_version_id, generation, newest, labels)
        cache = _cache()
        if key in cache and not check:
            cache.move_to_end(key)
            return cache[key]
        template = template_index(round_.template_version).spec.codes
        base = next((t for t in reversed(cache.values()) if t.key[:2] == key[:2]), None)
        stored_through = _stored_through(round_, labels, connection)
        stored: Tally | None = None
        start: Tally | None
        if (
            base is not None
            and base.key[4] == labels
            and (stored_through is None or base.through_id >= stored_through)
        ):
            # What this worker holds is at least as new as what is stored: no need to read
            # and decode the stored payload.
            start = base
        else:
            stored = _stored(round_, labels, template, connection)
            start = stored
        reader = Reader(round_, frame, connection)
        if start is None or start.generation[1] != generation[1]:
            tally = reader.full(newest, generation)
            changed = True
        else:
            tally = reader.fold(start, newest)
            changed = False
            if check or start.generation != generation:
                tally = reader.check(tally, generation)
                changed = True
    tally = tally.again(key=key, generation=generation)
    if clean:
        behind = stored_through is None or tally.through_id - stored_through >= STORE_BEHIND
        if changed or behind:
            _store(round_, tally, labels)
        cache[key] = tally
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return tally


@contextmanager
def _reading(clean: bool) -> Iterator[Connection]:
    """The connection the statistics are read through. On PostgreSQL, when this session has
    written nothing, a connection of its own in one REPEATABLE READ transaction: every query
    of one computation sees the same committed state, so a table never mixes the round before
    and after a submission, an exclusion or a restore that commits meanwhile. Otherwise the
    session's own (SQLite serialises writers; uncommitted work must stay visible)."""
    if not clean or db.engine.dialect.name != "postgresql":
        yield db.session.connection()
        return
    with db.engine.connect() as connection:
        snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.begin():
            yield snapshot


def _state(connection: Connection, round_: Round) -> tuple[int, tuple[int, int]]:
    """The round's newest response id and its generations, as ``connection`` sees them."""
    newest = connection.scalar(select(func.max(Response.id)).where(Response.round_id == round_.id))
    generations = connection.execute(
        select(Round.stats_generation, Round.answers_generation).where(Round.id == round_.id)
    ).one()
    return int(newest or 0), (int(generations[0]), int(generations[1]))


def rehearse_fold(round_: Round, frame: DesignFrame) -> None:
    """Read the round's newest response into statistics and drop them: the statements and the
    code a fold runs are then compiled and loaded in this process (gunicorn's master, before
    it forks), not in each worker at its first view after a new response."""
    newest = newest_response_id(round_)
    if newest:
        Reader(round_, frame).read([Response.id <= newest], after=newest - 1)


def reconcile(round_: Round, frame: DesignFrame) -> Reconciliation:
    """Recompute the round's statistics from every answer, compare them with the stored ones
    (brought up to date first), store the recomputation and say whether they agreed."""
    labels = labels_key(frame)
    template = _template_codes(round_)
    newest = newest_response_id(round_)
    generation = _generation(round_)
    reader = Reader(round_, frame)
    stored = _stored(round_, labels, template)
    current = reader.fold(stored, newest) if stored is not None else None
    fresh = reader.full(newest, generation)
    differing, largest = _differences(current, fresh)
    _store(round_, fresh, labels)
    _cache().clear()
    n = sum(count for count, _ids in fresh.cells.values())
    return Reconciliation(round_.id, n, len(fresh.cells), stored is not None, differing, largest)


def _generation(round_: Round) -> tuple[int, int]:
    """The round's response and answer generations (see ``Round.stats_generation``)."""
    return int(round_.stats_generation or 0), int(round_.answers_generation or 0)


def _template_codes(round_: Round) -> tuple[str, ...]:
    from survey.services.results.indices import template_index

    return template_index(round_.template_version).spec.codes


def _differences(current: Tally | None, fresh: Tally) -> tuple[tuple[Cell, ...], float]:
    if current is None:
        return tuple(sorted(fresh.cells)), 0.0
    differing = {
        cell
        for cell in set(current.cells)
        | set(fresh.cells)
        | set(current.choices)
        | set(fresh.choices)
        if current.cells.get(cell) != fresh.cells.get(cell)
        or current.choices.get(cell) != fresh.choices.get(cell)
    }
    largest = 0.0
    mine, theirs = _by_block(current.stats), _by_block(fresh.stats)
    for block in set(mine) | set(theirs):
        if block not in mine or block not in theirs:
            differing.add(block[:2])
            continue
        difference = max(
            float(np.max(np.abs(a - b))) for a, b in zip(mine[block], theirs[block], strict=True)
        )
        if difference:
            differing.add(block[:2])
            largest = max(largest, difference)
    return tuple(sorted(differing)), largest


def _by_block(stats: CellStats | None) -> dict[tuple[str, str, str], tuple[np.ndarray, ...]]:
    if stats is None:
        return {}
    desks = stats.desk if stats.desk is not None else np.full(stats.blocks, "")
    return {
        (str(u), str(a), str(d)): (
            np.asarray([stats.rows[b], stats.psus[b]], dtype=float),
            stats.answering_psus[b].astype(float),
            stats.answering_any[b].astype(float),
            stats.sums[b],
            stats.cross[b].astype(float),
        )
        for b, (u, a, d) in enumerate(zip(stats.unit, stats.area, desks, strict=True))
    }


@dataclass(frozen=True)
class _Part:
    stats: CellStats | None
    ids: np.ndarray
    cells: dict[Cell, tuple[int, int]]
    choices: dict[Cell, dict[int, int]]


class Reader:
    """Reads counted responses of one round into statistics per desk within cell."""

    def __init__(
        self, round_: Round, frame: DesignFrame, connection: Connection | None = None
    ) -> None:
        from survey.services.results.indices import template_index

        self.round = round_
        self.frame = frame
        self.template = template_index(round_.template_version)
        self.connection = connection if connection is not None else db.session.connection()
        self.units = {k: v[0] for k, v in frame.units.items()}
        self.priorities = list(self.template.priorities)

    def full(self, newest: int, generation: tuple[int, int]) -> Tally:
        part = self.read([Response.id <= newest])
        return Tally(
            (), part.stats, part.cells, newest, _recent(part.ids, newest), generation, part.choices
        )

    def fold(self, start: Tally, newest: int) -> Tally:
        """``start`` with the responses it has not folded in, up to ``newest``."""
        if newest <= start.through_id:
            return start
        low = max(start.through_id - LOOKBACK, 0)
        part = self.read([Response.id <= newest], after=low, skip=start.recent)
        before = np.fromiter(start.recent, dtype=np.int64, count=len(start.recent))
        if part.stats is None:
            return start.again(through_id=newest, recent=_recent(before, newest))
        merged = part.stats if start.stats is None else merge_stats([start.stats, part.stats])
        cells = dict(start.cells)
        for cell, (n, total) in part.cells.items():
            had_n, had_total = cells.get(cell, (0, 0))
            cells[cell] = (had_n + n, had_total + total)
        choices = {cell: dict(counts) for cell, counts in start.choices.items()}
        for cell, counts in part.choices.items():
            mine = choices.setdefault(cell, {})
            for value, n in counts.items():
                mine[value] = mine.get(value, 0) + n
        folded = np.concatenate([before, part.ids])
        return start.again(
            stats=merged,
            cells=cells,
            through_id=newest,
            recent=_recent(folded, newest),
            choices=choices,
        )

    def check(self, tally: Tally, generation: tuple[int, int]) -> Tally:
        """``tally`` with every cell whose count or id sum differs from the database's
        recomputed from its answers."""
        actual: dict[Cell, tuple[int, int]] = {}
        for unit, area, n, total in self.connection.execute(
            select(
                Response.unit_id,
                Response.service_area_id,
                func.count(Response.id),
                func.sum(Response.id),
            )
            .where(counted(self.round), Response.id <= tally.through_id)
            .group_by(Response.unit_id, Response.service_area_id)
        ):
            actual[(self.units[unit], self.frame.areas[area])] = (int(n), int(total))
        wrong = {
            cell
            for cell in set(actual) | set(tally.cells)
            if actual.get(cell) != tally.cells.get(cell)
        }
        if not wrong:
            return tally.again(generation=generation)
        kept = None
        if tally.stats is not None:
            keys = set(wrong)
            keep = np.array(
                [
                    (u, a) not in keys
                    for u, a in zip(
                        tally.stats.unit.tolist(), tally.stats.area.tolist(), strict=True
                    )
                ]
            )
            kept = keep_blocks(tally.stats, keep)
        ids_to_cells = {v[0]: k for k, v in self.frame.units.items()}
        area_ids = {code: aid for aid, code in self.frame.areas.items()}
        redo = [cell for cell in sorted(wrong) if cell in actual]
        part = _Part(None, np.array([], dtype=np.int64), {}, {})
        if redo:
            where = or_(
                *(
                    and_(
                        Response.unit_id == ids_to_cells[unit],
                        Response.service_area_id == area_ids[area],
                    )
                    for unit, area in redo
                )
            )
            part = self.read([Response.id <= tally.through_id, where], join=True)
        parts = [s for s in (kept, part.stats) if s is not None]
        merged = merge_stats(parts) if parts else None
        cells = {cell: value for cell, value in tally.cells.items() if cell not in wrong}
        cells.update({cell: actual[cell] for cell in redo})
        choices = {cell: counts for cell, counts in tally.choices.items() if cell not in wrong}
        choices.update(part.choices)
        recent_ids = self.connection.scalars(
            select(Response.id).where(
                counted(self.round),
                Response.id > tally.through_id - LOOKBACK,
                Response.id <= tally.through_id,
            )
        ).all()
        return tally.again(
            stats=merged,
            cells=cells,
            recent=frozenset(int(i) for i in recent_ids),
            generation=generation,
            choices=choices,
        )

    def read(
        self,
        where: Sequence[ColumnElement[bool]],
        *,
        after: int = -1,
        skip: frozenset[int] = frozenset(),
        join: bool = False,
    ) -> _Part:
        """Statistics of the counted responses above id ``after`` meeting ``where`` (less the
        ``skip`` ids), their ids, each cell's count and id sum, and their priorities, chunk by
        chunk. The lower bound is one parameter, moved up chunk by chunk: SQLite's planner
        takes the first of several ``id >`` bounds for its index range, and with ``id > -1``
        beside ``id > low`` it scanned the whole round to fold in one response."""
        template = self.template
        parts: list[CellStats] = []
        kept_ids: list[np.ndarray] = []
        cells: dict[Cell, tuple[int, int]] = {}
        choices: dict[Cell, dict[int, int]] = {}
        item_ids = np.array(sorted(template.item_ids), dtype=np.int64)
        codes = template.spec.codes
        item_columns = np.array([codes.index(template.item_ids[int(i)]) for i in item_ids])
        while True:
            chunk = _integers(
                self.connection,
                select(
                    Response.id,
                    Response.unit_id,
                    Response.service_area_id,
                    func.coalesce(Response.desk_id, NO_DESK),
                )
                .where(counted(self.round), Response.id > after, *where)
                .order_by(Response.id)
                .limit(CHUNK),
                4,
            )
            if len(chunk) == 0:
                break
            after = int(chunk[-1, 0])
            if skip:
                chunk = chunk[~np.isin(chunk[:, 0], np.fromiter(skip, dtype=np.int64))]
                if len(chunk) == 0:
                    continue
            ids = chunk[:, 0]
            first, last = int(ids[0]), int(ids[-1])
            answers_query = select(Answer.response_id, Answer.item_id, Answer.value).where(
                Answer.response_id.between(first, last),
                Answer.not_applicable.is_(False),
                Answer.value.is_not(None),
            )
            if join:
                answers_query = answers_query.join(
                    Response, Response.id == Answer.response_id
                ).where(counted(self.round), *where)
            answers = _integers(self.connection, answers_query, 3)
            # The items are chosen here, not in SQL: SQLite would read the answers by item.
            answers = answers[np.isin(answers[:, 1], [*item_ids.tolist(), *self.priorities])]
            chosen = np.isin(answers[:, 1], self.priorities)
            if chosen.any():
                self._choices(ids, chunk, answers[chosen], choices)
                answers = answers[~chosen]
            row = np.minimum(np.searchsorted(ids, answers[:, 0]), len(ids) - 1)
            listed = ids[row] == answers[:, 0]  # answers of responses that do not count
            row, answers = row[listed], answers[listed]
            column = item_columns[np.searchsorted(item_ids, answers[:, 1])]
            matrix = np.full((len(ids), len(codes)), np.nan)
            matrix[row, column] = answers[:, 2]
            if np.count_nonzero(~np.isnan(matrix)) != len(answers):
                raise ValueError(
                    f"round {self.round.id}: a response has two answers to the same item"
                )
            responses = Responses.build(
                template.spec,
                response_id=ids,
                unit=_labels(chunk[:, 1], self.units),
                area=_labels(chunk[:, 2], self.frame.areas),
                desk=_labels(chunk[:, 3], self.frame.desks),
                answers=matrix,
            )
            parts.append(cell_stats(responses, template.spec, psu=PSU.RESPONSE, by_desk=True))
            kept_ids.append(ids)
            pairs, group = np.unique(chunk[:, 1:3], axis=0, return_inverse=True)
            group = group.reshape(-1)
            counts = np.bincount(group, minlength=len(pairs))
            totals = np.zeros(len(pairs), dtype=np.int64)
            np.add.at(totals, group, ids)
            for (unit, area), n, total in zip(
                pairs.tolist(), counts.tolist(), totals.tolist(), strict=True
            ):
                cell = (self.units[unit], self.frame.areas[area])
                had_n, had_total = cells.get(cell, (0, 0))
                cells[cell] = (had_n + n, had_total + total)
        if not parts:
            return _Part(None, np.array([], dtype=np.int64), {}, {})
        return _Part(merge_stats(parts), np.concatenate(kept_ids), cells, choices)

    def _choices(
        self,
        ids: np.ndarray,
        chunk: np.ndarray,
        answers: np.ndarray,
        choices: dict[Cell, dict[int, int]],
    ) -> None:
        """Add the chunk's answers to the priorities question to ``choices``."""
        row = np.minimum(np.searchsorted(ids, answers[:, 0]), len(ids) - 1)
        answers, row = answers[ids[row] == answers[:, 0]], row[ids[row] == answers[:, 0]]
        for (unit, area, value), n in zip(
            *np.unique(
                np.column_stack([chunk[row, 1], chunk[row, 2], answers[:, 2]]),
                axis=0,
                return_counts=True,
            ),
            strict=True,
        ):
            counts = choices.setdefault((self.units[int(unit)], self.frame.areas[int(area)]), {})
            counts[int(value)] = counts.get(int(value), 0) + int(n)
        respondents = np.unique(row)
        for (unit, area), n in zip(
            *np.unique(chunk[respondents, 1:3], axis=0, return_counts=True), strict=True
        ):
            counts = choices.setdefault((self.units[int(unit)], self.frame.areas[int(area)]), {})
            counts[ANSWERED] = counts.get(ANSWERED, 0) + int(n)


def _recent(ids: np.ndarray, newest: int) -> frozenset[int]:
    return frozenset(int(i) for i in ids[ids > newest - LOOKBACK])


def _integers(connection: Connection, statement: Executable, columns: int) -> np.ndarray:
    """The rows of a query of integer columns as an (n, columns) int64 array, read straight
    off the driver's cursor."""
    result = connection.execute(statement)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return np.array(rows, dtype=np.int64).reshape(-1, columns)


def _labels(ids: np.ndarray, codes: dict[int, str]) -> np.ndarray:
    distinct, position = np.unique(ids, return_inverse=True)
    return np.array([codes[int(i)] for i in distinct], dtype=object)[position]


# --- Stored statistics -------------------------------------------------------------------------


def _stored_through(round_: Round, labels: str, connection: Connection) -> int | None:
    """How far the stored statistics go (their ``through_id``), if they were made for this
    questionnaire version and these codes: one small row, without the payload."""
    row = connection.execute(
        select(
            RoundStatistics.template_version_id,
            RoundStatistics.labels_key,
            RoundStatistics.through_id,
        ).where(RoundStatistics.round_id == round_.id)
    ).first()
    if row is None or row.template_version_id != round_.template_version_id:
        return None
    return int(row.through_id) if row.labels_key == labels else None


def _stored(
    round_: Round, labels: str, template: tuple[str, ...], connection: Connection | None = None
) -> Tally | None:
    """The stored statistics, if they were made for this questionnaire version and these
    codes; read through ``connection`` (default: the session's)."""
    reading = connection if connection is not None else db.session.connection()
    row = reading.execute(
        select(RoundStatistics).where(RoundStatistics.round_id == round_.id)
    ).first()
    if row is None or row.template_version_id != round_.template_version_id:
        return None
    if row.labels_key != labels:
        return None
    tally = decode(row.payload)
    if tally is None:
        current_app.logger.warning("round %s: stored statistics unreadable", round_.id)
        return None
    if tally.stats is not None and tally.stats.items != template:
        return None
    generation = (int(row.generation), int(row.answers_generation))
    return tally.again(through_id=int(row.through_id), generation=generation)


def decode(payload: bytes) -> Tally | None:
    """The statistics ``encode`` wrote, or None if they cannot be read (another format)."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if int(arrays["format"][0]) != FORMAT:
            return None
        stats = None if "rows" not in arrays else stats_from_arrays(arrays)
        cells = {
            (str(u), str(a)): (int(n), int(t))
            for u, a, n, t in zip(
                arrays["cell_unit"].tolist(),
                arrays["cell_area"].tolist(),
                arrays["cell_n"].tolist(),
                arrays["cell_ids"].tolist(),
                strict=True,
            )
        }
        recent = frozenset(int(i) for i in arrays["recent"].tolist())
        choices: dict[Cell, dict[int, int]] = {}
        for u, a, value, n in zip(
            arrays["choice_unit"].tolist(),
            arrays["choice_area"].tolist(),
            arrays["choice_value"].tolist(),
            arrays["choice_n"].tolist(),
            strict=True,
        ):
            choices.setdefault((str(u), str(a)), {})[int(value)] = int(n)
    except (OSError, ValueError, KeyError, IndexError):
        return None
    through = int(arrays["through_id"][0]) if "through_id" in arrays else 0
    return Tally((), stats, cells, through, recent, (0, 0), choices)


def encode(tally: Tally) -> bytes:
    """The statistics as one ``.npz`` payload (no pickled objects), deflated at level 1:
    ``numpy.savez_compressed``'s default level took 48 ms for the demo round's 1.2 MB (it grows
    with cells and desks, not responses), level 1 about 10 ms for nearly the same size
    (380 KB against 350 KB)."""
    arrays = {} if tally.stats is None else stats_to_arrays(tally.stats)
    ordered = sorted(tally.cells)
    arrays["cell_unit"] = np.array([u for u, _a in ordered], dtype=str)
    arrays["cell_area"] = np.array([a for _u, a in ordered], dtype=str)
    arrays["cell_n"] = np.array([tally.cells[c][0] for c in ordered], dtype=np.int64)
    arrays["cell_ids"] = np.array([tally.cells[c][1] for c in ordered], dtype=np.int64)
    arrays["recent"] = np.array(sorted(tally.recent), dtype=np.int64)
    arrays["format"] = np.array([FORMAT], dtype=np.int64)
    arrays["through_id"] = np.array([tally.through_id], dtype=np.int64)
    chosen = [(c, v, n) for c in sorted(tally.choices) for v, n in sorted(tally.choices[c].items())]
    arrays["choice_unit"] = np.array([c[0] for c, _v, _n in chosen], dtype=str)
    arrays["choice_area"] = np.array([c[1] for c, _v, _n in chosen], dtype=str)
    arrays["choice_value"] = np.array([v for _c, v, _n in chosen], dtype=np.int64)
    arrays["choice_n"] = np.array([n for _c, _v, n in chosen], dtype=np.int64)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def _session_is_clean() -> bool:
    """Whether this session's transaction has written nothing: statistics computed with
    uncommitted responses in view must not be kept, as those may yet be rolled back."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        return db.session.scalar(select(func.txid_current_if_assigned())) is None
    driver = connection.connection.dbapi_connection
    return not getattr(driver, "in_transaction", False)


def _store(round_: Round, tally: Tally, labels: str) -> None:
    """Write the statistics in a transaction of their own, so that a page that only reads
    commits nothing of the request's; a lock held elsewhere or a lost race just skips it."""
    payload = encode(tally)
    values = {
        "template_version_id": round_.template_version_id,
        "labels_key": labels,
        "generation": tally.generation[0],
        "answers_generation": tally.generation[1],
        "through_id": tally.through_id,
        "payload": payload,
        "computed_at": utcnow(),
    }
    started = time.perf_counter()
    try:
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")
            else:
                connection.exec_driver_sql("PRAGMA busy_timeout = 500")
            done = connection.execute(
                update(RoundStatistics)
                .where(RoundStatistics.round_id == round_.id)
                .values(**values)
            ).rowcount
            if not done:
                connection.execute(insert(RoundStatistics).values(round_id=round_.id, **values))
    except SQLAlchemyError as exc:
        current_app.logger.info("round %s: statistics not stored (%s)", round_.id, exc)
        return
    current_app.logger.debug(
        "round %s: statistics stored (%d bytes, %.3f s)",
        round_.id,
        len(payload),
        time.perf_counter() - started,
    )
