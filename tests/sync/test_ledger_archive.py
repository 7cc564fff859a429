"""Ledger archives: earlier months' log rows in a workbook per month."""

from __future__ import annotations

import openpyxl

from doorstep.sync.ledgers import export_ledgers
from doorstep.sync.merge import merge
from tests.sync.test_merge import gate_xml, publish_all, rows, submit, when

NOVEMBER = "2026-11-20T10:00:00.000+08:00"


def archived(deployment):
    publish_all(deployment)
    submit(deployment, gate_xml("uuid:g-nov", "3", "十一月", end=NOVEMBER))
    submit(deployment, gate_xml("uuid:g-dec", "3", "十二月", end=when(2)))
    submit(deployment, gate_xml("uuid:g5", "5", "五号", end=when(2)))

    return merge(deployment)


def test_earlier_months_rows_go_to_the_archive_and_the_ledger_keeps_this_month(
    deployment,
):
    archived(deployment)

    archive = deployment.ledgers_dir / "archive" / "3" / "2026-11.xlsx"
    book = openpyxl.load_workbook(archive)
    assert [c.value for c in book["gate_log"]["D"]][2:] == ["十一月"]
    assert [r["Visitor"] for r in rows(deployment, "3", "gate_log")] == ["十二月"]
    assert not (deployment.ledgers_dir / "archive" / "5").exists()


def test_a_merge_writes_only_the_workbooks_whose_content_changed(deployment):
    archived(deployment)

    submit(deployment, gate_xml("uuid:g5b", "5", "又一位", end=when(2, 11)))
    summary = merge(deployment)

    assert [p.name for p in summary.workbooks] == ["5.xlsx"]


def test_a_late_row_of_an_earlier_month_rewrites_that_archive(deployment):
    archived(deployment)

    submit(deployment, gate_xml("uuid:g-late", "3", "迟到", end=NOVEMBER))
    summary = merge(deployment)

    names = sorted(
        str(p.relative_to(deployment.ledgers_dir)) for p in summary.workbooks
    )
    assert names == ["archive/3/2026-11.xlsx"]


def test_export_writes_the_archives_too(deployment, tmp_path):
    archived(deployment)

    written = export_ledgers(deployment, "xlsx", tmp_path)

    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert "archive/3/2026-11.xlsx" in names
    assert {"3.xlsx", "5.xlsx"} <= set(names)
