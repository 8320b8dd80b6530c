"""Round exports for analysts: one row per counted response, one column per item, with the
design variables (unit, service area, cell, desk, dossiers, weight) needed to redo every estimate.

Rows are read in blocks of ``BLOCK`` responses and converted as columns with numpy
(``_blocks``): the database joins each block's answers into one text of numbers that numpy
parses at once, so 24 million answers never become Python objects. CSV is written block by
block (each distinct text formatted once); XLSX streams row by row; SPSS and Stata files are
built by pyreadstat from a data frame filled block by block into one float32 matrix of answers
(exact for their small whole numbers), so it holds them once at 4 bytes each. Free-text
comments are not exported: they are read after moderation.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
from sqlalchemy import ColumnElement, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection

from survey.extensions import db
from survey.local_time import to_local
from survey.models import (
    Answer,
    AnswerMode,
    Channel,
    Item,
    ItemRole,
    Response,
    Round,
    RoundKind,
    Scale,
    User,
    utcnow,
)
from survey.services.audit import record_event
from survey.services.exports import statfiles
from survey.services.exports.spreadsheets import csv_cell, csv_row, xlsx_row
from survey.services.exports.statfiles import StatColumn
from survey.services.questionnaires.frozen import ItemSpec, questionnaire_spec
from survey.services.questionnaires.scores import score_definitions
from survey.services.responses.counting import counted, design_frame

# "Không áp dụng" is not a score and not a missing answer: every format keeps it apart from a
# blank (not answered), as a labelled missing code (the codebook and the about sheet say so).
NOT_APPLICABLE = "NA"  # CSV and XLSX; R reads it as NA, the analysis command as missing
NOT_APPLICABLE_SPSS = 99  # declared a user-missing value, labelled
NOT_APPLICABLE_STATA = "a"  # the extended missing value .a, labelled
NOT_APPLICABLE_LABEL = "Không áp dụng / not applicable"
CAVEAT = (
    "Trọng số w = N_ô / n_ô cho mỗi ô đơn vị x lĩnh vực: trong một ô, người trả lời được coi "
    "như những người không trả lời. / Weights w = N_cell / n_cell per unit x service area cell: "
    "within a cell, those who answered are taken to be like those who did not."
)
SAMPLE_CAVEAT = (
    "Đợt chọn mẫu: trọng số là nghịch đảo xác suất chọn N_tầng / n_tầng, hiệu chỉnh cho người "
    "không trả lời trong từng tầng (ô) và cắt theo quy tắc ghi cùng lần chọn mẫu; cột weight là "
    "trọng số cuối cùng, cột dossiers là N_tầng (hiệu chỉnh quần thể hữu hạn). / Sampled round: "
    "weights are the inverse selection probabilities N_h / n_h, adjusted for nonresponse within "
    "each stratum (cell) and trimmed by the rule stated with the draw; the weight column holds "
    "the final weights, dossiers is N_h (the finite-population correction)."
)


def weights_caveat(round_: Round) -> str:
    """How the export's weights were made, in both languages, for the kind of round."""
    return SAMPLE_CAVEAT if round_.kind == RoundKind.SAMPLE else CAVEAT


@dataclass(frozen=True)
class Variable:
    name: str  # safe for SPSS, Stata and R: a letter, then letters, digits, underscores
    label: str
    value_labels: dict[int, str] = field(default_factory=dict)
    numeric: bool = True
    item_id: int | None = None
    option: int | None = None  # for one 0/1 column per option of a choice item
    sums: tuple[int, ...] = ()  # a score of the version: the item ids whose points it adds


DESIGN = (
    Variable("response_id", "Mã phiếu (số thứ tự trong cơ sở dữ liệu)"),
    Variable("received_at", "Thời điểm nhận phiếu (giờ Việt Nam)", numeric=False),
    Variable("channel", "Kênh (qr, kiosk, web, paper)", numeric=False),
    Variable("unit", "Mã đơn vị", numeric=False),
    Variable("unit_name", "Tên đơn vị (tại thời điểm mở đợt)", numeric=False),
    Variable("area", "Mã lĩnh vực", numeric=False),
    Variable("cell", "Ô đơn vị x lĩnh vực (tầng của thiết kế)", numeric=False),
    Variable("desk", "Mã quầy", numeric=False),
    Variable("dossiers", "Số hồ sơ của ô trong kỳ (N_ô)"),
    Variable("responses_in_cell", "Số phiếu được tính của ô (n_ô)"),
    Variable("weight", "Trọng số (N_ô / n_ô; đợt chọn mẫu: đã hiệu chỉnh không trả lời)"),
    Variable(
        "mode",
        "Cách trả lời của đợt chọn mẫu (self_web, paper, phone, face_to_face); trống tại quầy",
        numeric=False,
    ),
)
DESIGN_NAMES = frozenset(v.name for v in DESIGN)


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if cleaned[:1].isalpha() else f"q_{cleaned}"


def variables(round_: Round) -> list[Variable]:
    """The export's columns: the design variables, then the items in questionnaire order."""
    spec = questionnaire_spec(round_.template_version)
    columns = list(DESIGN)
    for item in spec.items:
        if item.scale == Scale.TEXT:
            continue
        labels = {value: vi for value, vi, _en in item.points()}
        if item.scale == Scale.CHOICE:
            for value, vi, _en in item.points():
                columns.append(
                    Variable(
                        _safe(f"{item.code}_{value}"),
                        f"{item.text} — {vi}",
                        {0: "Không chọn", 1: "Chọn"},
                        item_id=item.id,
                        option=value,
                    )
                )
            continue
        columns.append(Variable(_safe(item.code), item.text, labels, item_id=item.id))
    ids = {item.code: item.id for item in spec.items}
    for score in score_definitions(round_.template_version):
        columns.append(
            Variable(
                _safe(score.code),
                f"{score.name} (0-{score.maximum})",
                sums=tuple(ids[code] for code in score.items if code in ids),
            )
        )
    return columns


BLOCK = 20_000  # responses read and converted at once by ``_blocks``
_NA = statfiles.NOT_APPLICABLE  # stands for "not applicable" in a block's answer matrix


@dataclass
class _Block:
    """A run of export rows as columns: the design variables as arrays (texts as object arrays
    sharing their strings, numbers with NaN for none) and the answer columns as one float
    matrix (NaN blank, ``_NA`` not applicable, whole numbers otherwise)."""

    ids: np.ndarray  # int64
    received: np.ndarray  # object: local time, ISO format to the second
    channel: np.ndarray  # object
    cell: np.ndarray  # int64: index into the round's cells (``_Cells``)
    desk: np.ndarray  # object: desk code
    mode: np.ndarray  # object: how a sampled round's answer came ("" at a desk)
    answers: np.ndarray  # float64 (n, columns after the design variables)


@dataclass
class _Cells:
    """Per unit x area cell: the design variables that depend only on the cell."""

    unit: list[str]
    unit_name: list[str]
    area: list[str]
    label: list[str]
    dossiers: list[int | None]
    responses: list[int]
    weight: list[float | None]


def _blocks(
    round_: Round, columns: list[Variable], last_id: int | None = None
) -> Iterator[tuple[_Block, _Cells]]:
    """The round's export rows, ``BLOCK`` responses at a time, converted with numpy: the same
    values as ``rows`` (which is built on this), without a Python loop over the answers."""
    frame = design_frame(round_)
    position = {(v.item_id, v.option): i for i, v in enumerate(columns) if v.item_id}
    start = len(DESIGN)
    width = len(columns) - start
    choice_items = np.array(
        sorted({v.item_id for v in columns if v.option is not None and v.item_id}),
        dtype=np.int64,
    )
    option_columns = [i - start for i, v in enumerate(columns) if v.option is not None]
    single = sorted(
        (v.item_id, i - start) for i, v in enumerate(columns) if v.item_id and v.option is None
    )
    single_items = np.array([item for item, _c in single], dtype=np.int64)
    single_columns = np.array([column for _i, column in single], dtype=np.int64)
    scores = [(i - start, v.sums) for i, v in enumerate(columns) if v.sums]
    choice_keys = {
        (int(item), option): i - start
        for (item, option), i in position.items()
        if item is not None and option is not None
    }
    cell_index: dict[tuple[int, int], int] = {}
    cells = _Cells([], [], [], [], [], [], [])
    desks = {did: code for did, code in frame.desks.items()}
    channels: dict[str, str] = {}  # one string per channel, shared by every row
    if last_id is None:
        # Bounded above as well as below: without it PostgreSQL's planner preferred the
        # (round, received_at) index and sorted the whole round for every block (CSV at
        # 1,000,000: 68 s, against 23 s for the same blocks with the bound).
        last_id = db.session.scalar(select(func.max(Response.id)).where(counted(round_))) or 0
    for chunk, answers in _read_ahead(counted(round_), last_id):
        ids = np.array([r[0] for r in chunk], dtype=np.int64)
        cell = np.empty(len(chunk), dtype=np.int64)
        for k, r in enumerate(chunk):
            key = (r[3], r[4])
            index = cell_index.get(key)
            if index is None:
                index = cell_index[key] = len(cells.unit)
                unit_code, unit_name = frame.units[key[0]]
                area = frame.areas[key[1]]
                cells.unit.append(unit_code)
                cells.unit_name.append(unit_name)
                cells.area.append(area)
                cells.label.append(f"{unit_code}:{area}")
                cells.dossiers.append(frame.dossiers.get(key))
                cells.responses.append(frame.counts.get(key, 0))
                cells.weight.append(frame.weight(key))
            cell[k] = index
        block = _Block(
            ids=ids,
            received=_local_times([r[1] for r in chunk]),
            channel=np.array([channels.setdefault(r[2], r[2]) for r in chunk], dtype=object),
            cell=cell,
            desk=np.array([desks.get(r[5], "") for r in chunk], dtype=object),
            mode=np.array(
                [channels.setdefault(r[6] or "", r[6] or "") for r in chunk], dtype=object
            ),
            answers=np.full((len(chunk), width), np.nan),
        )
        block.answers[:, option_columns] = 0.0  # an option not chosen, not a question not shown
        if len(answers[0]):
            _fill(block, answers, single_items, single_columns, choice_items, choice_keys, scores)
        yield block, cells


_NULL_VALUE = -(2**31)  # a blank value in ``_answers``' text: no score is that number
_ANSWERS_TEXT = {
    "postgresql": "SELECT string_agg(response_id || ',' || item_id || ',' || "
    "coalesce(value, :blank) || ',' || not_applicable::int, ',') "
    "FROM answers WHERE response_id BETWEEN :first AND :last",
    "sqlite": "SELECT group_concat(response_id || ',' || item_id || ',' || "
    "coalesce(value, :blank) || ',' || not_applicable, ',') "
    "FROM answers WHERE response_id BETWEEN :first AND :last",
}


_Answers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_Raw = tuple[Sequence[Any], _Answers]  # a block's response rows and its answers


def _read(connection: Connection, condition: ColumnElement[bool], last_id: int) -> Iterator[_Raw]:
    """The counted responses (``condition``) up to ``last_id``, ``BLOCK`` at a time, with their
    answers, as the database gives them."""
    after = 0
    while True:
        result = connection.execute(
            select(
                Response.id,
                Response.received_at,
                Response.channel,
                Response.unit_id,
                Response.service_area_id,
                Response.desk_id,
                Response.mode,
            )
            .where(condition, Response.id > after, Response.id <= last_id)
            .order_by(Response.id)
            .limit(BLOCK)
        )
        try:
            chunk = result.cursor.fetchall()
        finally:
            result.close()
        if not chunk:
            return
        first, after = int(chunk[0][0]), int(chunk[-1][0])
        yield chunk, _answers(connection, first, after)


def _read_ahead(condition: ColumnElement[bool], last_id: int) -> Iterator[_Raw]:
    """``_read``'s blocks. On PostgreSQL they are read by a thread of their own, on a
    connection of their own in one REPEATABLE READ transaction (every block of one export
    from the same state of the round), up to two blocks ahead: the database works on the
    next block while this process converts and writes the current one (a CSV of 1,000,000
    responses waited 13 s of its 26 on the database). SQLite is read in line."""
    if db.engine.dialect.name != "postgresql":
        yield from _read(db.session.connection(), condition, last_id)
        return
    engine = db.engine
    ready: queue.Queue[_Raw | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: _Raw | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with engine.connect() as connection:
                snapshot = connection.execution_options(isolation_level="REPEATABLE READ")
                with snapshot.begin():
                    for raw in _read(snapshot, condition, last_id):
                        if not put(raw):
                            return
            put(None)
        except BaseException as exc:  # handed to the reader, raised there
            put(exc)

    reader = threading.Thread(target=work, name="export-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=30)


def _answers(connection: Connection, first: int, last: int) -> _Answers:
    """Response id, item id, value (NaN when blank) and not-applicable of every answer of the
    responses with ids from ``first`` to ``last``. The database joins them into one text of
    numbers that numpy parses at once: a million responses' 24 million answers never become
    Python objects (which took longer than reading them)."""
    query = _ANSWERS_TEXT.get(connection.dialect.name)
    if query is None:  # another database: row by row
        found = connection.execute(
            select(Answer.response_id, Answer.item_id, Answer.value, Answer.not_applicable).where(
                Answer.response_id.between(first, last)
            )
        ).all()
        numbers = np.array(
            [(r, i, _NULL_VALUE if v is None else v, int(bool(na))) for r, i, v, na in found],
            dtype=np.int64,
        ).reshape(-1, 4)
    else:
        text = connection.execute(
            sql_text(query), {"blank": _NULL_VALUE, "first": first, "last": last}
        ).scalar()
        numbers = (
            np.fromstring(text, dtype=np.int64, sep=",").reshape(-1, 4)
            if text
            else np.empty((0, 4), dtype=np.int64)
        )
    value = numbers[:, 2].astype(float)
    value[numbers[:, 2] == _NULL_VALUE] = np.nan
    return numbers[:, 0], numbers[:, 1], value, numbers[:, 3] != 0


def _fill(
    block: _Block,
    answers: _Answers,
    single_items: np.ndarray,
    single_columns: np.ndarray,
    choice_items: np.ndarray,
    choice_keys: dict[tuple[int, int], int],
    scores: list[tuple[int, tuple[int, ...]]],
) -> None:
    response, item, value, na = answers
    row = np.searchsorted(block.ids, response)
    listed = (row < len(block.ids)) & (block.ids[np.minimum(row, len(block.ids) - 1)] == response)
    row, item, value, na = row[listed], item[listed], value[listed], na[listed]
    at = np.searchsorted(single_items, item)
    last = max(len(single_items) - 1, 0)
    single = (at < len(single_items)) & (single_items[np.minimum(at, last)] == item)
    columns = single_columns[at[single]]
    block.answers[row[single], columns] = np.where(na[single], _NA, value[single])
    chosen = np.isin(item, choice_items) & ~np.isnan(value)
    for r, i, v in zip(
        row[chosen].tolist(), item[chosen].tolist(), value[chosen].tolist(), strict=True
    ):
        column = choice_keys.get((i, int(v)))
        if column is not None:
            block.answers[r, column] = 1.0
    if scores:
        points: dict[int, np.ndarray] = {}
        valid = single & ~na & ~np.isnan(value)
        for part in {p for _c, parts in scores for p in parts}:
            mine = valid & (item == part)
            sums = np.full(len(block.ids), np.nan)
            sums[row[mine]] = value[mine]
            points[part] = sums
        for column_index, parts in scores:
            block.answers[:, column_index] = np.sum([points[p] for p in parts], axis=0)


def _local_times(stamps: list[Any]) -> np.ndarray:
    """Naive UTC times as naive Vietnam times in ISO format to the second (``to_local``).
    ``stamps``: datetimes, or the ISO texts SQLite's driver gives without conversion."""
    if stamps and isinstance(stamps[0], str):
        stamps = [datetime.fromisoformat(s) for s in stamps]
    utc = np.array(stamps, dtype="datetime64[us]")
    offsets = {to_local(s) - s for s in (stamps[0], stamps[-1])}
    if len(offsets) == 1:
        local = (utc + np.timedelta64(offsets.pop())).astype("datetime64[s]")
        text = np.datetime_as_string(local)
        return text.astype(object)
    return np.array([to_local(s).isoformat(timespec="seconds") for s in stamps], dtype=object)


def rows(
    round_: Round, *, not_applicable: object = None, last_id: int | None = None
) -> Iterator[list[object]]:
    """Export rows in response order. Blank answers are None; not-applicable answers are
    ``not_applicable``. ``last_id``: stop there (a snapshot of an open round)."""
    columns = variables(round_)
    for block, cells in _blocks(round_, columns, last_id):
        answers = block.answers.tolist()
        for k, response_id in enumerate(block.ids.tolist()):
            c = int(block.cell[k])
            row: list[object] = [
                response_id,
                block.received[k],
                block.channel[k],
                cells.unit[c],
                cells.unit_name[c],
                cells.area[c],
                cells.label[c],
                block.desk[k],
                cells.dossiers[c],
                cells.responses[c],
                cells.weight[c],
                block.mode[k],
            ]
            row.extend(
                None if v != v else not_applicable if v == _NA else int(v) for v in answers[k]
            )
            yield row


def write_csv(round_: Round, out: IO[bytes]) -> int:
    """UTF-8 with a byte-order mark, so that Excel shows Vietnamese correctly. Returns rows.
    Written a block at a time from columns (``_blocks``): each distinct text (a unit, a
    desk, an answer code) is formatted once, as the csv module would, and each line joined
    in C; the bytes are those ``csv.writer`` gives for ``rows``."""
    columns = variables(round_)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(csv_row(v.name for v in columns))
    text.flush()
    field = _CsvField()
    count = 0
    done_cells = 0
    cell_fields: list[list[str]] = []
    for block, cells in _blocks(round_, columns):
        for c in range(done_cells, len(cells.unit)):
            cell_fields.append(
                [
                    field(cells.unit[c]),
                    field(cells.unit_name[c]),
                    field(cells.area[c]),
                    field(cells.label[c]),
                ]
            )
        numbers = [
            [
                "" if cells.dossiers[c] is None else str(cells.dossiers[c]),
                str(cells.responses[c]),
                "" if cells.weight[c] is None else str(cells.weight[c]),
            ]
            for c in range(len(cells.unit))
        ]
        done_cells = len(cells.unit)
        n = len(block.ids)
        parts = np.empty((n, len(columns)), dtype=object)
        parts[:, 0] = block.ids.astype(str)
        parts[:, 1] = block.received  # ISO times: nothing to quote or guard
        parts[:, 2] = _mapped(block.channel, field)
        parts[:, 3:7] = np.array(cell_fields, dtype=object)[block.cell]
        parts[:, 7] = _mapped(block.desk, field)
        parts[:, 8:11] = np.array(numbers, dtype=object)[block.cell]
        parts[:, 11] = _mapped(block.mode, field)
        if block.answers.shape[1]:
            distinct, position = np.unique(block.answers, return_inverse=True)
            shown = np.array(
                [
                    "" if v != v else NOT_APPLICABLE if v == _NA else str(int(v))
                    for v in distinct.tolist()
                ],
                dtype=object,
            )
            parts[:, 12:] = shown[position.reshape(block.answers.shape)]
        text.write("".join(",".join(line) + "\r\n" for line in parts.tolist()))
        count += n
    text.flush()
    text.detach()
    return count


class _CsvField:
    """A value as ``csv.writer`` writes it (after ``csv_cell``), remembered per value."""

    def __init__(self) -> None:
        self.seen: dict[object, str] = {}
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="")

    def __call__(self, value: object) -> str:
        found = self.seen.get(value)
        if found is None:
            self.buffer.seek(0)
            self.buffer.truncate()
            self.writer.writerow([csv_cell("" if value is None else value), ""])
            found = self.buffer.getvalue()[:-1]  # the second, empty field keeps "" unquoted
            self.seen[value] = found
        return found


def _mapped(values: np.ndarray, field: _CsvField) -> list[str]:
    return [field(v) for v in values.tolist()]


def codebook(round_: Round) -> list[list[object]]:
    table: list[list[object]] = [["variable", "label", "values"]]
    for v in variables(round_):
        values = "; ".join(f"{k} = {label}" for k, label in v.value_labels.items())
        if _answer_column(v):
            values += f"; {NOT_APPLICABLE} = {NOT_APPLICABLE_LABEL}; empty = not answered"
        table.append([v.name, v.label, values])
    return table


def _answer_column(v: Variable) -> bool:
    """A question's own column (not a choice option's 0/1): it may hold "not applicable"."""
    return v.item_id is not None and v.option is None


def write_xlsx(round_: Round, path: Path) -> int:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("responses")
    sheet.append(xlsx_row(sheet, [v.name for v in variables(round_)]))
    count = 0
    for row in rows(round_, not_applicable=NOT_APPLICABLE):
        sheet.append(xlsx_row(sheet, row))
        count += 1
    book_sheet = book.create_sheet("codebook")
    for line in codebook(round_):
        book_sheet.append(xlsx_row(book_sheet, line))
    about = book.create_sheet("about")
    for line in _about(round_, count):
        about.append(xlsx_row(about, line))
    book.save(path)
    return count


def _about(round_: Round, count: int) -> list[list[object]]:
    return [
        ["round", round_.name],
        [
            "questionnaire",
            f"{round_.template_version.template.code} v{round_.template_version.number}",
        ],
        ["period (UTC)", f"{round_.opens_at.isoformat()} – {round_.closes_at.isoformat()}"],
        ["counted responses", count],
        ["weights", weights_caveat(round_)],
        [
            "not applicable",
            f"'{NOT_APPLICABLE}' in CSV and XLSX, {NOT_APPLICABLE_SPSS} (user-missing) in SPSS, "
            f".{NOT_APPLICABLE_STATA} in Stata, each labelled; blank = not answered",
        ],
        ["comments", "free-text comments are not exported; they are read after moderation"],
    ]


def _stat_columns(round_: Round) -> list[StatColumn]:
    """The export's variables for SPSS and Stata, texts as wide as their longest possible
    value (in UTF-8 bytes): unit codes and names, area and desk codes are known before a row
    is read."""
    frame = design_frame(round_, with_counts=False)

    def widest(values: Iterable[str]) -> int:
        return max((len(v.encode("utf-8")) for v in values), default=1)

    units = [code for code, _name in frame.units.values()]
    areas = list(frame.areas.values())
    widths = {
        "received_at": len("2026-12-31T23:59:59"),
        "channel": widest(c.value for c in Channel),
        "unit": widest(units),
        "unit_name": widest(name for _code, name in frame.units.values()),
        "area": widest(areas),
        "cell": widest(units) + 1 + widest(areas),
        "desk": widest(frame.desks.values()),
        "mode": widest(m.value for m in AnswerMode),
    }
    return [
        StatColumn(
            v.name,
            v.label,
            text_width=0 if v.numeric else max(widths.get(v.name, 1), 1),
            value_labels=v.value_labels,
            answer=_answer_column(v),
            precise=v.name in DESIGN_NAMES,
        )
        for v in variables(round_)
    ]


def _stat_blocks(round_: Round, columns: list[Variable]) -> Iterator[dict[str, np.ndarray]]:
    """The export rows, block by block, as columns: the design numbers in float64, the texts
    as object arrays sharing their strings, the answers with NaN blank and
    ``statfiles.NOT_APPLICABLE`` for not applicable (``_blocks`` leaves responses counted
    after the export starts to the next one)."""
    start = len(DESIGN)
    for block, cells in _blocks(round_, columns):
        c = block.cell

        def numbers(values: list[Any], c: np.ndarray = c) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)[c]

        out: dict[str, np.ndarray] = {
            "response_id": block.ids.astype(float),
            "received_at": block.received,
            "channel": block.channel,
            "unit": np.array(cells.unit, dtype=object)[c],
            "unit_name": np.array(cells.unit_name, dtype=object)[c],
            "area": np.array(cells.area, dtype=object)[c],
            "cell": np.array(cells.label, dtype=object)[c],
            "desk": block.desk,
            "mode": block.mode,
            "dossiers": numbers(cells.dossiers),
            "responses_in_cell": numbers(cells.responses),
            "weight": numbers(cells.weight),
        }
        for i, v in enumerate(columns[start:]):
            out[v.name] = block.answers[:, i]
        yield out


def write_sav(round_: Round, path: Path) -> int:
    """The export as an SPSS system file, written block by block (``statfiles``)."""
    columns = variables(round_)
    return statfiles.write_sav(
        path,
        _stat_columns(round_),
        _stat_blocks(round_, columns),
        label=round_.name,
        now=to_local(utcnow()),  # the file's creation stamp, as the analyst's clock
        na_code=float(NOT_APPLICABLE_SPSS),
        na_label=NOT_APPLICABLE_LABEL,
    )


def write_dta(round_: Round, path: Path) -> int:
    """The export as a Stata 118 file, written block by block (``statfiles``)."""
    columns = variables(round_)
    return statfiles.write_dta(
        path,
        _stat_columns(round_),
        _stat_blocks(round_, columns),
        label=round_.name,
        now=to_local(utcnow()),
        na_label=NOT_APPLICABLE_LABEL,
    )


def criteria_weights(items: tuple[ItemSpec, ...], version: Any) -> dict[str, float]:
    """Each criterion's share of the overall index: the overall index is the mean of aspect
    indices, each the mean of its element indices, each the mean of its criteria."""
    weights: dict[str, float] = {}
    by_element: dict[int, list[ItemSpec]] = {}
    for item in items:
        if item.role == ItemRole.CRITERION and item.element_id is not None:
            by_element.setdefault(item.element_id, []).append(item)
    aspects = [a for a in version.aspects if any(e.id in by_element for e in a.elements)]
    for aspect in aspects:
        elements = [e for e in aspect.elements if e.id in by_element]
        for element in elements:
            crits = by_element[element.id]
            for item in crits:
                weights[_safe(item.code)] = 1 / (len(aspects) * len(elements) * len(crits))
    return weights


def analysis_spec(round_: Round, data_file: str) -> dict[str, Any]:
    """A SPEC.json for ``python -m analysis estimate`` that reproduces the round's overall
    index (top-2-box composite) and the overall question from the CSV export."""
    spec = questionnaire_spec(round_.template_version)
    weights = criteria_weights(spec.items, round_.template_version)
    satisfied = sorted(
        {v for item in spec.items if _safe(item.code) in weights for v in _satisfied(item)}
    )
    estimates: list[dict[str, Any]] = [
        {
            "id": "overall_index",
            "statistic": "composite",
            "items": list(weights),
            "item_weights": list(weights.values()),
            "success": satisfied,
        }
    ]
    for item in spec.items:
        if item.role == ItemRole.OVERALL:
            estimates.append(
                {
                    "id": f"overall_question_{item.code}",
                    "statistic": "proportion",
                    "variable": _safe(item.code),
                    "success": list(_satisfied(item)),
                    "ci": "beta",
                }
            )
    return {
        "data": data_file,
        # A cell with one response is a lonely PSU: the result pages treat it as R's "adjust".
        "design": {
            "ids": [],
            "strata": "cell",
            "weights": "weight",
            "fpc": ["dossiers"],
            "lonely_psu": "adjust",
        },
        "calibration": None,
        "estimates": estimates,
        "note": weights_caveat(round_),
    }


def _satisfied(item: ItemSpec) -> tuple[int, ...]:
    values = db.session.scalar(select(Item.satisfied_values).where(Item.id == item.id))
    return tuple(values or ())


def write_spec(round_: Round, out: IO[bytes], data_file: str) -> None:
    out.write(json.dumps(analysis_spec(round_, data_file), ensure_ascii=False, indent=2).encode())


def export_name(round_: Round, now: datetime, extension: str) -> str:
    """The download's file name, dated by the day in Vietnam at ``now`` (naive UTC)."""
    day = to_local(now)
    if extension == "bundle":
        return f"hailong-round{round_.id}-{day:%Y%m%d}-reproduce.zip"
    return f"hailong-round{round_.id}-{day:%Y%m%d}.{extension}"


# The formats of one round's counted responses, with what a browser is told they are.
RESPONSE_FORMATS: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "zip": "application/zip",  # the CSV with the SPEC.json that reads it
    "bundle": "application/zip",  # the reproduction bundle: data, codebook, R/Stata/SPSS scripts
}


def write_responses(round_: Round, fmt: str, path: Path, *, now: datetime) -> int:
    """Write the round's counted responses to ``path`` in one of RESPONSE_FORMATS; "zip" holds
    the CSV and a SPEC.json for ``python -m analysis estimate`` beside it; "bundle" the
    reproduction bundle (``survey.services.exports.bundle``). Returns the number of responses
    written."""
    if fmt == "csv":
        with path.open("wb") as f:
            return write_csv(round_, f)
    if fmt == "xlsx":
        return write_xlsx(round_, path)
    if fmt == "sav":
        return write_sav(round_, path)
    if fmt == "dta":
        return write_dta(round_, path)
    if fmt == "zip":
        data_file = export_name(round_, now, "csv")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
            with bundle.open(data_file, "w", force_zip64=True) as f:
                count = write_csv(round_, f)
            with bundle.open("SPEC.json", "w") as f:
                write_spec(round_, f, data_file)
        return count
    if fmt == "bundle":
        # Imported here: the bundle is built on this module (an import at the top would loop).
        from survey.services.exports.bundle import write_bundle

        return write_bundle(round_, path)
    raise ValueError(f"unknown export format {fmt!r}")


def export_for_staff(round_: Round, fmt: str, folder: Path, *, actor: User, now: datetime) -> Path:
    """A download from the console: the file in ``folder``, and an audit event saying who took
    the round's response data and in what form."""
    path = folder / export_name(round_, now, fmt)
    count = write_responses(round_, fmt, path, now=now)
    record_event(
        action="round.export",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        after={"format": fmt, "responses": count},
    )
    db.session.commit()
    return path
