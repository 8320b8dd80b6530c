"""What a round published, frozen (issue 21, point 2).

Publishing a round stores a snapshot (``round_snapshots``): the sufficient statistics and the
priorities counts the numbers come from (``tally``), the dossier counts and the unit tree of
that moment, the publishing rule, the targets and the method statements in both languages, the
index table itself as CSV, and a SHA-256 of the counted response ids. From then on the pages,
the report, the public page, the exports of indices and the API read the snapshot: a dossier
count imported later, a unit moved to another parent or a response excluded by hand does not
change a published number.

``rederive`` recomputes the table from the stored responses (every answer read again) with the
frozen dossier counts and tree, and lists every number that differs from the snapshot, and
whether the set of counted responses is still the one published (``flask results rederive``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from analysis.satisfaction import IndexTable, Level, index_table_from_stats
from survey.extensions import db
from survey.models import Response, Round, RoundSnapshot, RoundState
from survey.services.responses.counting import DesignFrame, counted, design_frame
from survey.services.results import tally as tallies
from survey.services.results.indices import LEVELS, empty_table, template_index
from survey.services.results.method import method_statements
from survey.services.rounds.result_settings import publishing_rule, round_targets

# Every level a page, an export or the API shows of a round, desks included.
FROZEN_LEVELS = (*LEVELS, Level.DESK)
NUMBER_COLUMNS = ("estimate", "se", "df", "ci_low", "ci_high", "n", "n_answering", "n_eff")
KEY_COLUMNS = ("level", "unit", "area", "desk", "kind", "index", "measure")


@dataclass(frozen=True)
class Frozen:
    """A snapshot as the pages read it."""

    id: int
    created_at: datetime
    tally: tallies.Tally
    dossiers: dict[tuple[str, str], float]  # (unit code, area code) -> dossiers
    subtrees: dict[str, tuple[str, ...]]
    responses: int
    responses_hash: str
    numbers_hash: str
    extras: dict[str, object]  # rule, targets, method statements


@dataclass(frozen=True)
class Difference:
    key: tuple[str, ...]  # level, unit, area, desk, kind, index, measure
    column: str
    published: str
    rederived: str


@dataclass(frozen=True)
class Rederivation:
    """A snapshot against its recomputation from the stored responses."""

    round_id: int
    snapshot_id: int
    responses_published: int
    responses_now: int
    same_responses: bool
    rows: int
    differences: tuple[Difference, ...]

    @property
    def agrees(self) -> bool:
        return self.same_responses and not self.differences


def counted_ids_hash(round_: Round) -> tuple[int, str]:
    """How many responses count for the round and a SHA-256 of their ids in order."""
    digest = hashlib.sha256()
    n = 0
    result = db.session.connection().execute(
        select(Response.id).where(counted(round_)).order_by(Response.id)
    )
    try:
        while rows := result.cursor.fetchmany(100_000):
            ids = np.asarray(rows, dtype=np.int64).reshape(-1)
            digest.update(ids.astype("<i8").tobytes())
            n += len(ids)
    finally:
        result.close()
    return n, digest.hexdigest()


def numbers_csv(table: IndexTable) -> bytes:
    """The table as published: one CSV line per row, every digit kept."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = (*KEY_COLUMNS, *NUMBER_COLUMNS, "flags")
    writer.writerow(columns)
    for record in table.to_records(decimals=None):
        writer.writerow(
            [
                _text(record[c]) if c != "flags" else " ".join(record["flags"])  # type: ignore[arg-type]
                for c in columns
            ]
        )
    return out.getvalue().encode()


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def freeze_round(round_: Round) -> RoundSnapshot:
    """Freeze what the round publishes now (the round being published): the statistics checked
    cell by cell against the responses, the frame, the rule and the table."""
    frame = design_frame(round_, with_counts=False)
    tally = tallies.round_tally(round_, frame, check=True)
    dossiers = {
        (frame.units[unit][0], frame.areas[area]): float(n)
        for (unit, area), n in frame.dossiers.items()
    }
    subtrees = frame.subtrees()
    table = _table(round_, frame, tally, dossiers, subtrees)
    numbers = numbers_csv(table)
    n, ids_hash = counted_ids_hash(round_)
    rule = publishing_rule(round_)
    targets = round_targets(round_)
    method = {}
    for language in ("vi", "en"):
        with force_locale(language):
            method[language] = method_statements(
                round_.template_version, table.headline, round_.kind
            )
    extras = {
        "rule": {name: getattr(rule, name) for name in rule.__dataclass_fields__},
        "target": targets.round,
        "level_targets": dict(targets.levels),
        "method": method,
    }
    payload = {
        "tally": tallies.encode(tally).hex(),
        "dossiers": [[u, a, v] for (u, a), v in sorted(dossiers.items())],
        "subtrees": {k: list(v) for k, v in sorted(subtrees.items())},
        "extras": extras,
    }
    snapshot = RoundSnapshot(
        round_id=round_.id,
        responses=n,
        responses_hash=ids_hash,
        numbers_hash=hashlib.sha256(numbers).hexdigest(),
        payload=json.dumps(payload, ensure_ascii=False, default=str).encode(),
        numbers=numbers,
    )
    db.session.add(snapshot)
    db.session.flush()
    return snapshot


def _table(
    round_: Round,
    frame: DesignFrame,
    tally: tallies.Tally,
    dossiers: dict[tuple[str, str], float],
    subtrees: dict[str, tuple[str, ...]],
    levels: tuple[Level, ...] = FROZEN_LEVELS,
) -> IndexTable:
    template = template_index(round_.template_version).spec
    if tally.stats is None:
        return empty_table(template, dossiers)
    weighting = frame.weighting(tally.stats.cell_counts(), dossiers)
    return index_table_from_stats(
        tally.stats, template, weighting, levels=levels, subtrees=subtrees
    )


def _cache() -> OrderedDict[int, Frozen | None]:
    cache: OrderedDict[int, Frozen | None] = current_app.extensions.setdefault(
        "hailong_snapshots", OrderedDict()
    )
    return cache


def published_snapshot(round_: Round) -> Frozen | None:
    """The latest snapshot of a published round; None for a round not published (or published
    before snapshots existed)."""
    if round_.state != RoundState.PUBLISHED:
        return None
    snapshot_id = db.session.scalar(
        select(RoundSnapshot.id)
        .where(RoundSnapshot.round_id == round_.id)
        .order_by(RoundSnapshot.id.desc())
        .limit(1)
    )
    if snapshot_id is None:
        return None
    cache = _cache()
    if snapshot_id in cache:
        cache.move_to_end(snapshot_id)
        return cache[snapshot_id]
    row = db.session.get(RoundSnapshot, snapshot_id)
    assert row is not None  # noqa: S101  # just found
    frozen = _decode(row)
    cache[snapshot_id] = frozen
    while len(cache) > 16:
        cache.popitem(last=False)
    return frozen


def _decode(row: RoundSnapshot) -> Frozen:
    payload = json.loads(row.payload)
    tally = tallies.decode(bytes.fromhex(payload["tally"]))
    if tally is None:
        raise ValueError(f"snapshot {row.id}: unreadable statistics")
    return Frozen(
        id=row.id,
        created_at=row.created_at,
        tally=tally.again(key=("snapshot", row.id)),
        dossiers={(u, a): float(v) for u, a, v in payload["dossiers"]},
        subtrees={k: tuple(v) for k, v in payload["subtrees"].items()},
        responses=row.responses,
        responses_hash=row.responses_hash,
        numbers_hash=row.numbers_hash,
        extras=payload["extras"],
    )


def frozen_frame(frozen: Frozen, frame: DesignFrame) -> DesignFrame:
    """``frame`` with the snapshot's counts, dossiers and tree in place of today's."""
    unit_ids = {code: uid for uid, (code, _name) in frame.units.items()}
    area_ids = {code: aid for aid, code in frame.areas.items()}
    frame.counts = frozen.tally.counts(frame)
    frame.dossiers = {
        (unit_ids[u], area_ids[a]): int(v)
        for (u, a), v in frozen.dossiers.items()
        if u in unit_ids and a in area_ids
    }
    frame.frozen_subtrees = frozen.subtrees
    return frame


def rederive(round_: Round) -> Rederivation:
    """Recompute the published table from every stored answer, with the snapshot's dossier
    counts and tree, and compare it with the snapshot, number by number."""
    frozen = published_snapshot(round_)
    if frozen is None:
        raise ValueError(f"round {round_.id} has no published snapshot")
    row = db.session.get(RoundSnapshot, frozen.id)
    assert row is not None  # noqa: S101
    frame = design_frame(round_, with_counts=False)
    reader = tallies.Reader(round_, frame)
    fresh = reader.full(tallies.newest_response_id(round_), (0, 0))
    table = _table(round_, frame, fresh, frozen.dossiers, frozen.subtrees)
    n, ids_hash = counted_ids_hash(round_)
    published = _rows(row.numbers)
    now = _rows(numbers_csv(table))
    differences: list[Difference] = []
    # In the published table's order (the province first), then rows that are new.
    for key in [*published, *(k for k in now if k not in published)]:
        mine, theirs = published.get(key), now.get(key)
        if mine is None or theirs is None:
            differences.append(
                Difference(
                    key,
                    "row",
                    "" if mine is None else "present",
                    "" if theirs is None else "present",
                )
            )
            continue
        for column in (*NUMBER_COLUMNS, "flags"):
            if not _same_number(mine[column], theirs[column]):
                differences.append(Difference(key, column, mine[column], theirs[column]))
    return Rederivation(
        round_.id,
        frozen.id,
        frozen.responses,
        n,
        ids_hash == frozen.responses_hash,
        len(published),
        tuple(differences),
    )


def _rows(numbers: bytes) -> dict[tuple[str, ...], dict[str, str]]:
    reader = csv.DictReader(io.StringIO(numbers.decode()))
    return {tuple(r[c] for c in KEY_COLUMNS): r for r in reader}


def _same_number(a: str, b: str) -> bool:
    """Equal as published, to 1e-9 relative: the same sums added in another order."""
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
