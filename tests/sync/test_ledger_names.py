"""Ledger file names: one per building, safe and bounded, whatever the value."""

from __future__ import annotations

import json

import pytest

from doorstep.sync.ledger_names import MAX_BYTES, file_name, file_names
from doorstep.sync.ledgers import export_ledgers, ledger_rows
from doorstep.sync.merge import merge
from tests.sync.test_merge import gate_xml, publish_all, submit

ODD = ["3", "3 ", "  3  ", ".", "..", "a/b", "a_b", "CON", "楼" * 300, "x~1"]


def test_a_plain_building_keeps_its_own_name():
    assert file_name("3") == "3"
    assert file_name("1号楼") == "1号楼"


@pytest.mark.parametrize("value", ["3 ", "  3  ", ".", "..", "a/b", "CON", "x~1"])
def test_a_value_changed_by_sanitising_takes_a_hash(value):
    name = file_name(value)

    assert "~" in name and name not in (".", "..")
    assert "/" not in name and not name.startswith(".")


def test_every_odd_building_gets_its_own_bounded_name():
    names = file_names({v: v for v in ODD})

    assert len(set(names.values())) == len(ODD)
    assert all(len(n.encode()) <= MAX_BYTES + 9 for n in names.values())
    assert names == file_names({v: v for v in reversed(ODD)})


def test_names_differing_only_in_case_or_clashing_with_a_label_are_hashed():
    names = file_names({"A": "A", "a": "a", "1": "1号楼", "1号楼": "1号楼"})

    assert all("~" in n for n in names.values())
    assert len({n.casefold() for n in names.values()}) == 4


def odd_buildings(deployment):
    publish_all(deployment)
    for i, building in enumerate(ODD):
        submit(deployment, gate_xml(f"uuid:g{i}", building, f"v{i}"))

    return merge(deployment)


def test_odd_buildings_each_get_their_own_workbook(deployment, tmp_path):
    summary = odd_buildings(deployment)

    assert len(summary.workbooks) == len(ODD)
    assert {p.parent for p in summary.workbooks} == {deployment.ledgers_dir}
    for i, building in enumerate(ODD):
        [row] = ledger_rows(deployment, building)["gate_log"]
        assert row["Visitor"] == f"v{i}"


def test_a_building_is_found_by_its_workbook_file_name(deployment):
    summary = odd_buildings(deployment)

    hashed = next(p for p in summary.workbooks if p.stem.startswith("3~"))

    [row] = ledger_rows(deployment, hashed.name)["gate_log"]
    assert row["Visitor"] in ("v1", "v2")


def test_a_300_character_building_merges_rebuilds_and_exports(deployment, tmp_path):
    odd_buildings(deployment)
    merge(deployment, rebuild=True)

    for fmt in ("xlsx", "csv", "json"):
        paths = export_ledgers(deployment, fmt, tmp_path / fmt)
        assert all(len(p.name.encode()) < 255 for p in paths)
    documents = [json.loads(p.read_text()) for p in (tmp_path / "json").glob("*.json")]
    assert "楼" * 300 in {d["building"] for d in documents}
