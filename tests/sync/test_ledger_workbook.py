"""The streaming xlsx writer: openpyxl reads back what a ledger needs."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl

from doorstep.sync.xlsx import XSheet, column_letter, text_width, xlsx_bytes


def sheet() -> XSheet:
    return XSheet(
        "gate_log",
        [["日期", "访客", "体温"], ["Date", "Visitor", "Temperature"]],
        [
            [date(2026, 12, 1), "王五 <&>", 36.5],
            [datetime(2026, 12, 2, 9, 30), "bad\x01char", 37],
            [None, "", True],
        ],
        {(0, 2): "冲突 Conflict: 36.5; 37.5"},
    )


def read(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


def test_values_come_back_typed_with_dates_as_dates():
    ws = read(xlsx_bytes([sheet()]))["gate_log"]

    assert [c.value for c in ws[3]] == [datetime(2026, 12, 1), "王五 <&>", 36.5]
    assert [c.value for c in ws[4]] == [datetime(2026, 12, 2, 9, 30), "badchar", 37]
    assert ws["A3"].is_date and ws["A3"].number_format == "yyyy-mm-dd"
    assert ws["C5"].value is True and ws["A5"].value is None


def test_headers_are_bold_and_italic_frozen_and_columns_sized():
    ws = read(xlsx_bytes([sheet()]))["gate_log"]

    assert ws["A1"].font.b and ws["A2"].font.i
    assert ws.freeze_panes == "A3"
    assert ws.column_dimensions["B"].width == text_width("王五 <&>") + 2


def test_flagged_cell_is_filled_and_carries_its_comment():
    ws = read(xlsx_bytes([sheet()]))["gate_log"]

    assert ws["C3"].fill.fgColor.rgb == "FFFFC7CE"
    assert ws["C3"].comment.text == "冲突 Conflict: 36.5; 37.5"
    assert ws["C4"].comment is None


def test_many_sheets_keep_their_order_and_the_bytes_are_the_same_every_time():
    sheets = [sheet(), XSheet("summary", [["项目"], ["Item"]], [["a"]])]

    data = xlsx_bytes(sheets)

    assert read(data).sheetnames == ["gate_log", "summary"]
    assert data == xlsx_bytes(sheets)


def test_column_letters_and_widths():
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "ZZ",
        "AAA",
    ]
    assert (text_width("abc"), text_width("楼栋 1")) == (3, 6)


def test_text_that_looks_like_a_formula_is_written_as_text():
    formulas = XSheet("log", [["备注"], ["Notes"]], [["=1+1"], ["=HYPERLINK(1)"]])

    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([formulas])))

    for cell in (book.active["A3"], book.active["A4"]):
        assert cell.data_type == "s"
    assert book.active["A3"].value == "=1+1"
