"""A ledger written as an Excel workbook (by the streaming writer in xlsx.py).

Two header rows, 中文 over English, frozen; columns sized to their content;
dates as real dates; a cell in conflict filled and carrying a comment that
names every value. The same ledger gives the same file content whenever it
is written.
"""

from __future__ import annotations

from pathlib import Path

from doorstep.sync.files import write_atomic
from doorstep.sync.xlsx import XSheet, xlsx_bytes


def workbook_bytes(sheets: list) -> bytes:
    """``sheets`` (ledger_sheets.Sheet) as the bytes of an .xlsx file."""
    return xlsx_bytes(
        [
            XSheet(
                _title(sheet.title),
                [[c.zh for c in sheet.columns], [c.en for c in sheet.columns]],
                sheet.rows,
                sheet.flags,
            )
            for sheet in sheets
        ]
    )


def write_workbook(path: Path, sheets: list) -> None:
    """Write ``sheets`` (ledger_sheets.Sheet) to ``path`` atomically."""
    write_atomic(path, workbook_bytes(sheets), mode=0o600)


def _title(title: str) -> str:
    # Excel refuses these characters in sheet names and more than 31 of them.
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)

    return cleaned[:31] or "sheet"
