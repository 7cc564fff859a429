"""A ledger written as an Excel workbook (openpyxl, write-only for speed).

Two header rows, 中文 over English, frozen; columns sized to their content;
dates as real dates; a cell in conflict filled and carrying a comment that
names every value. The workbook's own properties carry a fixed date, so
that the same ledger gives the same file content whenever it is written.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import date, datetime
from pathlib import Path

from doorstep.sync.files import write_atomic
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill

_FIXED = datetime(2020, 1, 1)
_CONFLICT = PatternFill("solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
_HEADER = Font(bold=True)
_ENGLISH = Font(italic=True, color="FF595959")
_WIDEST = 60


def write_workbook(path: Path, sheets: list) -> None:
    """Write ``sheets`` (ledgers.Sheet) to ``path`` atomically."""
    book = Workbook(write_only=True)
    book.properties.creator = "doorstep"
    book.properties.created = _FIXED
    book.properties.modified = _FIXED
    for sheet in sheets:
        _write_sheet(book.create_sheet(_title(sheet.title)), sheet)
    out = io.BytesIO()
    book.save(out)

    write_atomic(path, out.getvalue(), mode=0o600)


def _write_sheet(ws, sheet) -> None:
    ws.freeze_panes = "A3"
    widths = [max(_width(c.zh), _width(c.en)) for c in sheet.columns]
    for row in sheet.rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], _width(_shown(value)))
    for i, width in enumerate(widths):
        letter = _letter(i)
        ws.column_dimensions[letter].width = min(width + 2, _WIDEST)

    ws.append([_header(ws, c.zh, _HEADER) for c in sheet.columns])
    ws.append([_header(ws, c.en, _ENGLISH) for c in sheet.columns])
    for r, row in enumerate(sheet.rows):
        ws.append(
            [_cell(ws, value, sheet.flags.get((r, i))) for i, value in enumerate(row)]
        )


def _header(ws, text: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = font

    return cell


def _cell(ws, value, flag: str | None):
    # Plain values are far cheaper to write than cells; openpyxl already
    # gives a date or datetime value a date number format.
    if not flag:
        return value
    cell = WriteOnlyCell(ws, value=value)
    cell.fill = _CONFLICT
    cell.comment = Comment(flag, "doorstep", width=320, height=120)
    cell.alignment = Alignment(wrap_text=False)

    return cell


def _shown(value) -> str:
    if isinstance(value, datetime):
        return "2020-01-01 00:00"
    if isinstance(value, date):
        return "2020-01-01"

    return "" if value is None else str(value)


def _width(text: str) -> int:
    # A CJK character takes two columns in Excel's default font.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters

    return letters


def _title(title: str) -> str:
    # Excel refuses these characters in sheet names and more than 31 of them.
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)

    return cleaned[:31] or "sheet"
