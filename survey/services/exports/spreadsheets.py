"""Cells that a spreadsheet program must show as text, never run as a formula.

Round names, unit names, item texts and comments are typed by people; a text beginning with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula by Excel and
LibreOffice when the file is opened (CSV injection). Every export goes through here:

- XLSX: every text is an explicitly typed string cell (``t="inlineStr"``), which no program
  evaluates, so the text stays exactly as typed.
- CSV has no types, so OWASP's guidance is followed: a text beginning with one of those
  characters gets a single quote in front (``'=1+2``), shown as text by every spreadsheet
  program. Numbers are written as numbers. The importers strip that quote again, so an
  exported file imports back unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as a CSV field: texts that a spreadsheet would evaluate are quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[object]) -> list[object]:
    return [csv_cell(v) for v in values]


def csv_unquote(value: str) -> str:
    """What an importer reads from a field ``csv_cell`` wrote (or a person typed the same
    way): the quote before a formula character is dropped."""
    if value.startswith("'") and value[1:2] and value[1:2] in FORMULA_STARTS:
        return value[1:]
    return value


def xlsx_row(sheet: Any, values: Iterable[object]) -> list[object]:
    """A row for a write-only openpyxl sheet: texts as typed string cells (openpyxl itself
    would store a text beginning with ``=`` as a formula)."""
    from openpyxl.cell import WriteOnlyCell

    row: list[object] = []
    for value in values:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row
