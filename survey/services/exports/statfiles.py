"""SPSS (.sav) and Stata (.dta) files written block by block, never held whole in memory.

A response export of a million rows built as one data frame for a writer that wants the whole
frame took 0.6-1.4 GB and twice the time of the CSV (docs/benchmarks.md). These writers take
the rows as blocks of columns (numpy arrays) and write each block's bytes as soon as it is
converted, with numpy doing the conversion: a structured array of the block, one ``tofile``.
The header is written first with the case count left open and completed at the end (the files
are real files, so the count is set by seeking back).

The layouts are those the readers check: the SPSS system file as PSPP documents it
("System File Format", uncompressed, little-endian, UTF-8: record types 1, 2, 3/4, 7 subtypes
3, 4, 11, 13 and 20, 999), as ReadStat writes it; the Stata format 118 (Stata 14 and later,
UTF-8) as Stata's ``help dta`` describes it. Both are read back by pyreadstat, pandas and R in
the tests (``tests/services/exports``).

Strings are fixed-width: the width is the longest value the caller can give (unit names and
codes are known before the rows are read), in UTF-8 bytes, at most 255 (SPSS's limit without
"very long strings") or 2045 (Stata's str#); a longer value is cut at a character boundary.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

# A block's numbers: NaN is a blank; NOT_APPLICABLE marks "not applicable" in an answer column.
NOT_APPLICABLE = -1.0e300

SAV_MAX_STRING = 255
DTA_MAX_STRING = 2045
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class StatColumn:
    """One variable: its name (a letter, then letters, digits, underscores), label, width in
    UTF-8 bytes for a text (0 for a number), value labels, and whether it is a question's
    answer column (which may hold "not applicable", written as the file's missing code)."""

    name: str
    label: str
    text_width: int = 0
    value_labels: Mapping[int, str] = field(default_factory=dict)
    answer: bool = False
    # Stata: a double for the design numbers (ids, weights), a float for the small whole
    # numbers of the answers (exact, and half the size).
    precise: bool = True

    @property
    def text(self) -> bool:
        return self.text_width > 0


Block = Mapping[str, np.ndarray]  # column name -> values (float64, or objects holding str)


def _cut(text: str, limit: int) -> bytes:
    """``text`` in UTF-8, at most ``limit`` bytes, cut at a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", errors="ignore").encode("utf-8")


def _text_bytes(values: np.ndarray, width: int, pad: bytes) -> np.ndarray:
    """Texts as fixed-width byte strings, each distinct value encoded once."""
    if len(values) == 0:
        return np.array([], dtype=f"S{width}")
    distinct, position = np.unique(values.astype(str), return_inverse=True)
    encoded = [_cut(str(v), width).ljust(width, pad) for v in distinct.tolist()]
    return np.array(encoded, dtype=f"S{width}")[position.reshape(-1)]


def _label_text(text: str, limit: int) -> bytes:
    return _cut(" ".join(text.split()), limit)


# --- SPSS ------------------------------------------------------------------------------------

SAV_SYSMIS = -np.finfo(np.float64).max
SAV_HIGHEST = np.finfo(np.float64).max
SAV_LOWEST = np.nextafter(-np.finfo(np.float64).max, 0)


def _sav_short_names(columns: list[StatColumn]) -> list[str]:
    """Unique short names of at most 8 characters (the long names go in subtype 13)."""
    used: set[str] = set()
    names = []
    for number, column in enumerate(columns, start=1):
        short = column.name[:8].upper()
        if short in used:
            short = f"V{number}"[:8]
        used.add(short)
        names.append(short)
    return names


def _sav_segments(column: StatColumn) -> int:
    return 1 if not column.text else (column.text_width + 7) // 8


def _sav_format(column: StatColumn) -> int:
    if column.text:
        return (1 << 16) | (column.text_width << 8)  # A<width>
    return (5 << 16) | (12 << 8) | (0 if column.answer else 2)  # F12.2 (F12.0 for answers)


def _info(subtype: int, size: int, payload: bytes) -> bytes:
    return struct.pack("<iiii", 7, subtype, size, len(payload) // size) + payload


def _sav_dictionary(
    columns: list[StatColumn], *, label: str, now: datetime, na_code: float, na_label: str
) -> bytes:
    shorts = _sav_short_names(columns)
    case_size = sum(_sav_segments(c) for c in columns)
    out = bytearray()
    out += b"$FL2"
    out += b"@(#) SPSS DATA FILE - Hai long".ljust(60, b" ")
    out += struct.pack("<iiiiid", 2, case_size, 0, 0, -1, 100.0)
    out += f"{now.day:02d} {MONTHS[now.month - 1]} {now.year % 100:02d}".encode()
    out += now.strftime("%H:%M:%S").encode()
    out += _label_text(label, 64).ljust(64, b" ")
    out += b"\0\0\0"
    for column, short in zip(columns, shorts, strict=True):
        text = _label_text(column.label, 255)
        missing = [na_code] if column.answer else []
        fmt = _sav_format(column)
        out += struct.pack(
            "<iiiiii",
            2,
            column.text_width if column.text else 0,
            1 if text else 0,
            len(missing),
            fmt,
            fmt,
        )
        out += short.encode().ljust(8, b" ")
        if text:
            out += struct.pack("<i", len(text)) + text.ljust((len(text) + 3) // 4 * 4, b" ")
        for value in missing:
            out += struct.pack("<d", value)
        for _ in range(_sav_segments(column) - 1):
            out += struct.pack("<iiiiii", 2, -1, 0, 0, 0x011D01, 0x011D01) + b" " * 8
    index = 1
    for column in columns:
        labels = dict(column.value_labels)
        if column.answer:
            labels[int(na_code)] = na_label
        if labels and not column.text:
            out += struct.pack("<ii", 3, len(labels))
            for value, name in sorted(labels.items()):
                data = _label_text(name, 120)
                out += struct.pack("<dB", float(value), len(data))
                out += data.ljust((len(data) + 1 + 7) // 8 * 8 - 1, b" ")
            out += struct.pack("<iii", 4, 1, index)
        index += _sav_segments(column)
    # Machine integer info: SPSS 20, IEEE floats, little-endian, UTF-8 (code page 65001).
    out += _info(3, 4, struct.pack("<8i", 20, 0, 0, -1, 1, 1, 2, 65001))
    out += _info(4, 8, struct.pack("<3d", SAV_SYSMIS, SAV_HIGHEST, SAV_LOWEST))
    # Display: a text is nominal and left-aligned, a number a scale, right-aligned.
    display = b"".join(
        struct.pack("<iii", 1, min(c.text_width, 40), 0) if c.text else struct.pack("<iii", 3, 8, 1)
        for c in columns
    )
    out += _info(11, 4, display)
    long_names = "\t".join(f"{s}={c.name}" for s, c in zip(shorts, columns, strict=True))
    out += _info(13, 1, long_names.encode())
    out += _info(20, 1, b"UTF-8")
    out += struct.pack("<ii", 999, 0)
    return bytes(out)


def _sav_dtype(columns: list[StatColumn]) -> np.dtype:
    return np.dtype(
        [(f"c{i}", f"S{_sav_segments(c) * 8}" if c.text else "<f8") for i, c in enumerate(columns)]
    )


def write_sav(
    path: Path,
    columns: list[StatColumn],
    blocks: Iterable[Block],
    *,
    label: str,
    now: datetime,
    na_code: float,
    na_label: str,
) -> int:
    """Write the blocks as an SPSS system file; returns the number of cases. An answer
    column's "not applicable" is ``na_code``, declared user-missing and labelled ``na_label``;
    a blank is the system-missing value."""
    columns = [replace(c, text_width=min(c.text_width, SAV_MAX_STRING)) for c in columns]
    dtype = _sav_dtype(columns)
    cases = 0
    with path.open("wb") as out:
        out.write(
            _sav_dictionary(columns, label=label, now=now, na_code=na_code, na_label=na_label)
        )
        for block in blocks:
            rows = _block_rows(block, columns)
            if rows == 0:
                continue
            record = np.empty(rows, dtype=dtype)
            for i, column in enumerate(columns):
                values = block[column.name]
                if column.text:
                    record[f"c{i}"] = _text_bytes(values, _sav_segments(column) * 8, b" ")
                else:
                    numbers = np.asarray(values, dtype=np.float64)
                    numbers = np.where(numbers == NOT_APPLICABLE, na_code, numbers)
                    record[f"c{i}"] = np.where(np.isnan(numbers), SAV_SYSMIS, numbers)
            record.tofile(out)
            cases += rows
        _patch(out, 80, struct.pack("<i", cases))
    return cases


def _block_rows(block: Block, columns: list[StatColumn]) -> int:
    sizes = {len(block[c.name]) for c in columns}
    if len(sizes) > 1:
        raise ValueError("a block's columns differ in length")
    return sizes.pop() if sizes else 0


def _patch(out: BinaryIO, offset: int, data: bytes) -> None:
    end = out.tell()
    out.seek(offset)
    out.write(data)
    out.seek(end)


# --- Stata -----------------------------------------------------------------------------------

DTA_DOUBLE, DTA_FLOAT = 0xFFF6, 0xFFF7
DTA_MISSING_DOUBLE = np.array([0x7FE0000000000000], dtype="<u8").view("<f8")[0]
DTA_MISSING_DOUBLE_A = np.array([0x7FE0010000000000], dtype="<u8").view("<f8")[0]
DTA_MISSING_FLOAT = np.array([0x7F000000], dtype="<u4").view("<f4")[0]
DTA_MISSING_FLOAT_A = np.array([0x7F000800], dtype="<u4").view("<f4")[0]
DTA_LABEL_A = 0x7FFFFFE6  # ".a" in a value label table (int32)


def _tag(name: str, payload: bytes) -> bytes:
    return f"<{name}>".encode() + payload + f"</{name}>".encode()


def _dta_width(column: StatColumn) -> int:
    return min(max(column.text_width, 1), DTA_MAX_STRING)


def _dta_dtype(columns: list[StatColumn]) -> np.dtype:
    return np.dtype(
        [
            (
                f"c{i}",
                f"S{_dta_width(c)}" if c.text else ("<f8" if c.precise else "<f4"),
            )
            for i, c in enumerate(columns)
        ]
    )


def _dta_value_labels(columns: list[StatColumn], na_label: str) -> bytes:
    tables = bytearray()
    for column in columns:
        labels: dict[int, str] = {int(k): v for k, v in column.value_labels.items()}
        if column.answer:
            labels[DTA_LABEL_A] = na_label
        if not labels or column.text:
            continue
        offsets, values, text = [], [], bytearray()
        for value, name in sorted(labels.items()):
            offsets.append(len(text))
            values.append(value)
            text += _label_text(name, 32000) + b"\0"
        n = len(values)
        table = struct.pack("<ii", n, len(text))
        table += struct.pack(f"<{n}i", *offsets) + struct.pack(f"<{n}i", *values) + bytes(text)
        head = struct.pack("<i", len(table)) + column.name.encode().ljust(129, b"\0") + b"\0" * 3
        tables += _tag("lbl", head + table)
    return _tag("value_labels", bytes(tables))


def write_dta(
    path: Path,
    columns: list[StatColumn],
    blocks: Iterable[Block],
    *,
    label: str,
    now: datetime,
    na_label: str,
) -> int:
    """Write the blocks as a Stata 118 file; returns the number of observations. An answer
    column's "not applicable" is the extended missing value .a, labelled ``na_label``; a blank
    is the system-missing value (.)."""
    k = len(columns)
    data_label = _label_text(label, 80)
    stamp = f"{now.day:02d} {MONTHS[now.month - 1]} {now.year:04d} {now:%H:%M}".encode()
    header = _tag(
        "header",
        _tag("release", b"118")
        + _tag("byteorder", b"LSF")
        + _tag("K", struct.pack("<H", k))
        + _tag("N", struct.pack("<Q", 0))
        + _tag("label", struct.pack("<H", len(data_label)) + data_label)
        + _tag("timestamp", struct.pack("<B", len(stamp)) + stamp),
    )
    start = b"<stata_dta>" + header
    n_offset = start.index(b"<N>") + 3
    types = b"".join(
        struct.pack("<H", _dta_width(c) if c.text else (DTA_DOUBLE if c.precise else DTA_FLOAT))
        for c in columns
    )
    names = b"".join(c.name.encode()[:128].ljust(129, b"\0") for c in columns)
    formats = b"".join(
        (f"%-{min(_dta_width(c), 60)}s" if c.text else ("%10.0g" if c.precise else "%9.0g"))
        .encode()
        .ljust(57, b"\0")
        for c in columns
    )
    label_names = b"".join(
        (c.name.encode() if (c.value_labels or c.answer) and not c.text else b"").ljust(129, b"\0")
        for c in columns
    )
    labels = b"".join(_cut(c.label[:80], 320).ljust(321, b"\0") for c in columns)
    sections = [
        ("variable_types", types),
        ("varnames", names),
        ("sortlist", b"\0\0" * (k + 1)),
        ("formats", formats),
        ("value_label_names", label_names),
        ("variable_labels", labels),
        ("characteristics", b""),
    ]
    map_at = len(start)
    offsets = [0, map_at]
    position = map_at + len(_tag("map", b"\0" * 8 * 14))
    for name, payload in sections:
        offsets.append(position)
        position += len(_tag(name, payload))
    offsets.append(position)  # <data>
    dtype = _dta_dtype(columns)
    rows = 0
    with path.open("wb") as out:
        out.write(start)
        out.write(_tag("map", b"\0" * 8 * 14))
        for name, payload in sections:
            out.write(_tag(name, payload))
        out.write(b"<data>")
        for block in blocks:
            n = _block_rows(block, columns)
            if n == 0:
                continue
            record = np.empty(n, dtype=dtype)
            for i, column in enumerate(columns):
                values = block[column.name]
                if column.text:
                    record[f"c{i}"] = _text_bytes(values, _dta_width(column), b"\0")
                    continue
                numbers = np.asarray(values, dtype=np.float64)
                blank, na = np.isnan(numbers), numbers == NOT_APPLICABLE
                if column.precise:
                    filled = np.where(blank, DTA_MISSING_DOUBLE, numbers)
                    record[f"c{i}"] = np.where(na, DTA_MISSING_DOUBLE_A, filled)
                else:
                    small = np.where(blank | na, 0.0, numbers).astype(np.float32)
                    small[blank] = DTA_MISSING_FLOAT
                    small[na] = DTA_MISSING_FLOAT_A
                    record[f"c{i}"] = small
            record.tofile(out)
            rows += n
        out.write(b"</data>")
        strls = out.tell()
        out.write(_tag("strls", b""))
        value_labels = out.tell()
        out.write(_dta_value_labels(columns, na_label))
        closing = out.tell()
        out.write(b"</stata_dta>")
        end = out.tell()
        table = [*offsets, strls, value_labels, closing, end]
        _patch(out, map_at + len(b"<map>"), struct.pack("<14Q", *table))
        _patch(out, n_offset, struct.pack("<Q", rows))
    return rows
