"""A small streaming xlsx writer: the parts of the format a ledger uses.

openpyxl builds an object per cell even in write-only mode, which made
writing workbooks most of a merge's time. This writer turns each row into
XML text directly: strings inline, numbers, dates and times as serial days
with a date format, a bold and an italic header style, a filled style for
cells in conflict, frozen header rows, column widths, and cell comments
(the comments part plus the VML drawing Excel needs to show them).

Output is deterministic: fixed timestamps in the zip and the document
properties, so the same sheets give the same bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.sax.saxutils import escape

from doorstep.sync.xlsx_parts import (
    comments_xml,
    content_types,
    package_rels,
    sheet_rels,
    static_parts,
    vml_xml,
    workbook_rels,
    workbook_xml,
)

HEADER, ENGLISH, DATE, DATETIME, FLAGGED = 1, 2, 3, 4, 5
_EPOCH = datetime(1899, 12, 30)
_EPOCH_DAY = _EPOCH.date().toordinal()
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WIDEST = 60


@dataclass
class XSheet:
    """One sheet to write: header rows, body rows, flagged cells with notes."""

    title: str
    headers: list[list[str]]
    rows: list[list]
    notes: dict[tuple[int, int], str] = field(default_factory=dict)


def xlsx_bytes(sheets: list[XSheet]) -> bytes:
    """The workbook holding ``sheets``, as the bytes of an .xlsx file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        commented = [i + 1 for i, s in enumerate(sheets) if s.notes]
        titles = [s.title for s in sheets]
        _put(book, "[Content_Types].xml", content_types(len(sheets), commented))
        _put(book, "_rels/.rels", package_rels())
        for name, text in static_parts().items():
            _put(book, name, text)
        _put(book, "xl/workbook.xml", workbook_xml(titles))
        _put(book, "xl/_rels/workbook.xml.rels", workbook_rels(len(sheets)))
        for number, sheet in enumerate(sheets, 1):
            _put(book, f"xl/worksheets/sheet{number}.xml", sheet_xml(sheet))
            if sheet.notes:
                _put_comments(book, number, sheet)

    return out.getvalue()


def sheet_xml(sheet: XSheet) -> str:
    """The worksheet part: frozen headers, sized columns, rows, comments."""
    letters = [column_letter(i) for i in range(_width_of(sheet))]
    widths = [0] * len(letters)
    body = [
        _row(r + 1, row, letters, widths, style)
        for r, (row, style) in enumerate(
            [(h, HEADER if i == 0 else ENGLISH) for i, h in enumerate(sheet.headers)]
        )
    ]
    first = len(sheet.headers) + 1
    flagged: dict[int, set[int]] = {}
    for r, i in sheet.notes:
        flagged.setdefault(r, set()).add(i)
    for r, row in enumerate(sheet.rows):
        body.append(_row(first + r, row, letters, widths, 0, flagged.get(r, ())))

    return "".join(
        [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet'
            ' xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
            ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships">',
            _views(first),
            _cols(widths),
            "<sheetData>",
            *body,
            "</sheetData>",
            '<legacyDrawing r:id="rId1"/>' if sheet.notes else "",
            "</worksheet>",
        ]
    )


def column_letter(index: int) -> str:
    """The letters of the 0-based column ``index`` (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters

    return letters


def text_width(text: str) -> int:
    """Columns ``text`` takes in Excel's default font (CJK counts two)."""
    if text.isascii():
        return len(text)

    return sum(2 if ord(ch) >= 0x1100 else 1 for ch in text)


def _row(number, values, letters, widths, style, flags=()) -> str:
    cells = []
    for i, value in enumerate(values):
        if value is None or value == "":
            continue
        flagged = i in flags
        ref = f"{letters[i]}{number}"
        if isinstance(value, str):
            widths[i] = max(widths[i], text_width(value))
            cells.append(_text_cell(ref, value, FLAGGED if flagged else style))
        else:
            widths[i] = max(widths[i], 16 if isinstance(value, datetime) else 10)
            cells.append(_value_cell(ref, value, flagged))

    return f'<row r="{number}">{"".join(cells)}</row>'


def _text_cell(ref: str, value: str, style: int) -> str:
    text = escape(_ILLEGAL.sub("", value))
    styled = f' s="{style}"' if style else ""

    return (
        f'<c r="{ref}"{styled} t="inlineStr">'
        f'<is><t xml:space="preserve">{text}</t></is></c>'
    )


def _value_cell(ref: str, value, flagged: bool) -> str:
    # A flagged date loses its date format for its fill: a conflict on a
    # date property is rare, and the comment names both values anyway.
    style = FLAGGED if flagged else 0
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="{style or DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        serial = value.toordinal() - _EPOCH_DAY
        return f'<c r="{ref}" s="{style or DATE}"><v>{serial}</v></c>'
    styled = f' s="{style}"' if style else ""

    return f'<c r="{ref}"{styled}><v>{value!r}</v></c>'


def _views(first: int) -> str:
    top = f"A{first}"
    return (
        '<sheetViews><sheetView workbookViewId="0">'
        f'<pane ySplit="{first - 1}" topLeftCell="{top}" activePane="bottomLeft"'
        ' state="frozen"/>'
        f'<selection pane="bottomLeft" activeCell="{top}" sqref="{top}"/>'
        "</sheetView></sheetViews>"
    )


def _cols(widths: list[int]) -> str:
    if not widths:
        return ""
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{min(w + 2, _WIDEST)}" customWidth="1"/>'
        for i, w in enumerate(widths, 1)
    )

    return f"<cols>{cols}</cols>"


def _width_of(sheet: XSheet) -> int:
    lengths = [len(r) for r in sheet.headers] + [len(r) for r in sheet.rows]
    return max(lengths, default=0)


def _put_comments(book: zipfile.ZipFile, number: int, sheet: XSheet) -> None:
    first = len(sheet.headers)
    notes = sorted(((r + first, c), text) for (r, c), text in sheet.notes.items())
    _put(book, f"xl/worksheets/_rels/sheet{number}.xml.rels", sheet_rels(number))
    _put(book, f"xl/comments{number}.xml", comments_xml(notes, column_letter))
    _put(book, f"xl/drawings/vmlDrawing{number}.vml", vml_xml(notes, number))


def _put(book: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED

    book.writestr(info, text.encode("utf-8"), compresslevel=1)
