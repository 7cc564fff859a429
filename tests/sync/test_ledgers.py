"""Ledgers: workbooks, exports and entity lists written from the merge."""

from __future__ import annotations

import datetime

import openpyxl
import pytest

from doorstep.sync.ledgers import (
    LedgerError,
    building_counts,
    entity_list_csv,
    export_ledgers,
    ledger_rows,
)
from doorstep.sync.merge import merge
from tests.conftest import publish_md
from tests.sync.test_merge import (
    follow_up_xml,
    gate_xml,
    household_xml,
    publish_all,
    submit,
)

CARD = "110101199001011234"


def conflicted(deployment):
    publish_all(deployment)
    submit(
        deployment,
        household_xml(
            "uuid:h", "3", "101", "张三", "13812345678", [("张三", CARD, "2026-12-01")]
        ),
    )
    submit(deployment, follow_up_xml("uuid:f1", "3-101-张三", "37.5"), "tablet-1")
    submit(deployment, follow_up_xml("uuid:f2", "3-101-张三", "36.5"), "tablet-2")
    submit(deployment, gate_xml("uuid:g", "3", "王五"))

    return merge(deployment)


def test_workbook_has_bilingual_frozen_headers_and_real_dates(deployment):
    summary = conflicted(deployment)

    book = openpyxl.load_workbook(summary.workbooks[0])

    assert book.sheetnames[0] == "summary"
    residents = book["residents"]
    assert [c.value for c in residents[1]][:3] == ["编号", "名称", "姓名"]
    assert [c.value for c in residents[2]][:3] == ["ID", "Label", "Name"]
    assert residents.freeze_panes == "A3"
    assert residents["E3"].value == datetime.datetime(2026, 12, 1)
    assert residents.column_dimensions["A"].width > 10
    gate = book["gate_log"]
    assert gate["A3"].value == datetime.datetime(2026, 12, 1)


def test_conflict_cell_is_filled_and_names_both_values(deployment):
    summary = conflicted(deployment)

    residents = openpyxl.load_workbook(summary.workbooks[0])["residents"]

    headers = [c.value for c in residents[2]]
    flagged = residents.cell(3, headers.index("Temperature") + 1)
    assert flagged.fill.fgColor.rgb == "FFFFC7CE"
    assert "37.5" in flagged.comment.text and "36.5" in flagged.comment.text
    assert "tablet-1" in flagged.comment.text and "tablet-2" in flagged.comment.text


def test_id_card_and_phone_numbers_are_masked_unless_asked(deployment, tmp_path):
    conflicted(deployment)

    [resident] = ledger_rows(deployment, "3")["residents"]
    [household] = ledger_rows(deployment, "3")["households"]
    paths = export_ledgers(deployment, "csv", tmp_path / "open", unmasked=True)

    assert resident["ID card"] == "1101**********1234"
    assert household["Phone"] == "138****5678"
    residents_csv = next(
        p for p in paths if p.name == "residents.csv" and p.parent.name == "3"
    )
    assert CARD in residents_csv.read_text(encoding="utf-8-sig")


def test_exports_write_each_format(deployment, tmp_path):
    conflicted(deployment)

    for fmt in ("xlsx", "csv", "json"):
        paths = export_ledgers(deployment, fmt, tmp_path / fmt)
        assert {p.suffix for p in paths} == {f".{fmt}", ".csv"}
        assert all(p.exists() for p in paths)


def test_unknown_format_is_refused(deployment, tmp_path):
    conflicted(deployment)

    with pytest.raises(LedgerError, match="use one of xlsx, csv, json"):
        export_ledgers(deployment, "pdf", tmp_path)


def test_entity_list_is_served_in_the_odk_format_unmasked(deployment):
    conflicted(deployment)

    text = entity_list_csv(deployment, "residents").decode("utf-8")

    assert text.splitlines()[0] == (
        "name,label,__version,full_name,id_card,quarantine_start,temperature"
    )
    assert text.splitlines()[1] == f"3-101-张三,张三,3,张三,{CARD},2026-12-01,36.5"
    assert entity_list_csv(deployment, "nothing") is None
    assert entity_list_csv(deployment, "../merge") is None


def test_ledgers_before_any_merge_say_to_merge_first(deployment):
    with pytest.raises(LedgerError, match="run `doorstep merge` first"):
        ledger_rows(deployment, "3")


def test_unknown_building_names_the_buildings_there_are(deployment):
    conflicted(deployment)

    with pytest.raises(LedgerError, match="buildings with ledgers: 3"):
        ledger_rows(deployment, "9")


def test_building_counts_count_follow_ups_in_their_residents_building(deployment):
    assert building_counts(deployment) == {}
    conflicted(deployment)

    assert building_counts(deployment) == {"3": 4}


SELECT_GATE = """
| survey |
|        | type | name | label::中文 (zh) | label::English (en) | calculation |
|        | select_one bld | building | 楼栋 | Building | |
|        | text | visitor | 访客 | Visitor | |
|        | calculate | left | | | 2 + 1 |

| choices |
|         | list_name | name | label::中文 (zh) | label::English (en) |
|         | bld | 1 | 1号楼 | Building 1 |

| settings |
|          | form_id | version |
|          | gate_select | 1 |
"""


def select_gate(deployment):
    publish_md(deployment, "gate_select", SELECT_GATE)
    submit(
        deployment,
        b'<data id="gate_select" version="1"><building>1</building>'
        b"<visitor>\xe7\x8e\x8b\xe4\xba\x94</visitor><left>3</left><meta>"
        b"<instanceID>uuid:s1</instanceID>"
        b"<timeEnd>2026-12-01T10:00:00.000+08:00</timeEnd></meta></data>",
    )

    return merge(deployment)


def test_a_building_chosen_from_a_list_is_named_by_its_label(deployment):
    summary = select_gate(deployment)

    assert summary.buildings == ["1"]
    assert [p.name for p in summary.workbooks] == ["1号楼.xlsx"]
    assert ledger_rows(deployment, "1号楼")["summary"][0]["Count"] == "1号楼"


def test_an_unlabelled_calculate_gets_a_common_bilingual_header(deployment):
    summary = select_gate(deployment)

    ws = openpyxl.load_workbook(summary.workbooks[0])["gate_select"]
    headers = [[c.value for c in row] for row in ws.iter_rows(max_row=2)]
    assert ("结存", "Left") in list(zip(*headers, strict=True))


def test_collected_is_shown_in_the_deployments_time_zone(deployment):
    conflicted(deployment)
    assert rows_of(deployment)["Collected"] == "2026-12-01T10:00:00"

    deployment.settings.setdefault("deployment", {})["timezone"] = "UTC"
    merge(deployment)

    assert rows_of(deployment)["Collected"] == "2026-12-01T02:00:00"


def test_an_unknown_time_zone_is_refused_with_the_setting_named(deployment):
    conflicted(deployment)
    deployment.settings.setdefault("deployment", {})["timezone"] = "Mars/Base"

    with pytest.raises(LedgerError, match=r"\[deployment\] timezone"):
        ledger_rows(deployment, "3")


def rows_of(deployment) -> dict:
    return ledger_rows(deployment, "3")["gate_log"][0]


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "json"])
def test_exports_mask_every_personal_number_lists_included(deployment, tmp_path, fmt):
    conflicted(deployment)

    paths = export_ledgers(deployment, fmt, tmp_path)

    texts = [p.read_text(encoding="utf-8-sig") for p in paths if p.suffix != ".xlsx"]
    assert texts and not any(CARD in t or "13812345678" in t for t in texts)
    listed = (tmp_path / "lists" / "residents.csv").read_text(encoding="utf-8")
    assert "1101**********1234" in listed
    assert CARD in entity_list_csv(deployment, "residents").decode("utf-8")


LABELLED_GATE = """
| survey |
|        | type | name | label::中文 (zh) | label::English (en) |
|        | text | building | 楼栋 | Building |
|        | text | sfz | 身份证号 | ID |

| settings |
|          | form_id | version |
|          | gate_labelled | 1 |
"""


def test_a_field_personal_by_its_label_alone_is_masked(deployment, tmp_path):
    publish_md(deployment, "gate_labelled", LABELLED_GATE)
    submit(
        deployment,
        f'<data id="gate_labelled" version="1"><building>3</building>'
        f"<sfz>{CARD}</sfz><meta><instanceID>uuid:l1</instanceID>"
        "<timeEnd>2026-12-01T10:00:00.000+08:00</timeEnd></meta></data>".encode(),
    )
    merge(deployment)

    [row] = ledger_rows(deployment, "3")["gate_labelled"]

    assert row["ID"] == "1101**********1234"


def test_csv_exports_keep_formula_like_text_inert(deployment, tmp_path):
    publish_all(deployment)
    submit(
        deployment,
        household_xml(
            "uuid:h", "3", "101", "=2+2", "13812345678", [("=2+2", CARD, "")]
        ),
    )
    submit(deployment, gate_xml("uuid:g", "3", "=HYPERLINK(1)"))
    merge(deployment)

    export_ledgers(deployment, "csv", tmp_path)

    gate = (tmp_path / "3" / "gate_log.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(1)" in gate
    listed = (tmp_path / "lists" / "residents.csv").read_text(encoding="utf-8")
    assert ",'=2+2," in listed
    assert ",=2+2," in entity_list_csv(deployment, "residents").decode("utf-8")
