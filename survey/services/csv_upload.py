"""Reading an uploaded CSV file: the one reader behind every upload of the console (the
organisation's units, desks and service areas; a round's dossier counts and dossier codes).

It accepts what Excel and LibreOffice write: UTF-8 with or without a byte-order mark, commas or
semicolons, quoted fields spanning lines, and the leading quote our own exports put before a
text that would otherwise be a formula. It refuses, each with a message that says what to do:
a file too large or with too many rows, UTF-16 and other encodings, binary files (NUL bytes),
broken quoting, an empty file, a header without a required column or with one twice, and a row
with more cells than the header. Blank rows are left out. Nothing is read half-way: either the
whole file's rows, or every reason it cannot be read.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from survey.services.exports.spreadsheets import csv_unquote

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000


@dataclass(frozen=True)
class CsvProblem:
    line: int | None  # line in the file, 1 being the header; None for the whole file
    column: str | None
    reason: Any  # a lazily translated message


@dataclass(frozen=True)
class CsvRecords:
    """The data rows (the line each starts on, its cells) and where each known column is."""

    rows: list[tuple[int, list[str]]]
    positions: dict[str, int]

    def value(self, cells: list[str], column: str) -> str:
        """The cell of ``column``, stripped and NFC-normalised ("" when absent)."""
        at = self.positions.get(column)
        return clean(cells[at]) if at is not None and at < len(cells) else ""


def clean(text: str) -> str:
    """Surrounding spaces removed, Vietnamese letters in one normal form (NFC)."""
    return unicodedata.normalize("NFC", text.strip())


def read_csv_upload(
    data: bytes,
    columns: Mapping[str, tuple[str, ...]],
    required: Collection[str],
    *,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> tuple[CsvRecords | None, list[CsvProblem]]:
    """The file's rows under a header naming ``columns`` by any of their aliases (case and
    spaces ignored), or every reason it cannot be read."""
    if len(data) > max_bytes:
        mb = max_bytes // (1024 * 1024)
        return None, [CsvProblem(None, None, _l("Tệp quá lớn: tối đa %(mb)s MB.", mb=mb))]
    text, problem = _decode(data)
    if text is None:
        return None, [problem] if problem else []
    if not text.strip():
        return None, [CsvProblem(None, None, _l("Tệp trống."))]
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for cells in reader:
            records.append((start, [csv_unquote(cell) for cell in cells]))  # as exported
            start = reader.line_num + 1
            if len(records) > max_rows + 1:
                return None, [
                    CsvProblem(None, None, _l("Tệp quá nhiều dòng: tối đa %(n)s.", n=max_rows))
                ]
    except csv.Error:
        return None, [
            CsvProblem(
                reader.line_num,
                None,
                _l("Dòng CSV hỏng: dấu ngoặc kép không đóng hoặc đặt sai chỗ."),
            )
        ]
    if not records or not any(cell.strip() for cell in records[0][1]):
        return None, [CsvProblem(1, None, _l("Tệp trống hoặc thiếu dòng tiêu đề."))]
    positions, problems = _header(records[0][1], columns, required)
    if problems:
        return None, problems
    width = len(records[0][1])
    rows: list[tuple[int, list[str]]] = []
    for line, cells in records[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > width and any(cell.strip() for cell in cells[width:]):
            problems.append(
                CsvProblem(
                    line,
                    None,
                    _l(
                        "Dòng có nhiều ô hơn dòng tiêu đề; nếu tên có dấu phẩy, hãy đặt tên "
                        "trong ngoặc kép."
                    ),
                )
            )
            continue
        rows.append((line, cells))
    if problems:
        return None, problems
    return CsvRecords(rows, positions), []


def _decode(data: bytes) -> tuple[str | None, CsvProblem | None]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, CsvProblem(
            None,
            None,
            _l("Tệp mã hoá UTF-16; hãy lưu lại bằng “CSV UTF-8 (Comma delimited)” rồi tải lên."),
        )
    if b"\x00" in data:
        return None, CsvProblem(None, None, _l("Tệp không phải tệp CSV dạng văn bản."))
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, CsvProblem(
            line,
            None,
            _l(
                "Tệp không phải UTF-8 (ký tự đầu tiên không đọc được ở dòng này). Hãy lưu lại "
                "bằng “CSV UTF-8 (Comma delimited)” rồi tải lên."
            ),
        )


def _header(
    cells: list[str], columns: Mapping[str, tuple[str, ...]], required: Collection[str]
) -> tuple[dict[str, int], list[CsvProblem]]:
    names = [clean(cell).lstrip("\ufeff").lower() for cell in cells]
    positions: dict[str, int] = {}
    problems = []
    for column, aliases in columns.items():
        found = [i for i, name in enumerate(names) if name in aliases]
        if len(found) > 1:
            problems.append(
                CsvProblem(1, column, _l("Cột %(column)s xuất hiện hai lần.", column=column))
            )
        elif found:
            positions[column] = found[0]
        elif column in required:
            problems.append(
                CsvProblem(1, column, _l("Thiếu cột %(column)s trong dòng tiêu đề.", column=column))
            )
    return positions, problems
