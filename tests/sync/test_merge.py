"""Merge: submissions into entities and per-building ledgers."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from doorstep.sync.deployment import Deployment, open_deployment
from doorstep.sync.entities import NO_BUILDING
from doorstep.sync.ingest import Ingest
from doorstep.sync.ledgers import export_ledgers, ledger_rows, resolve_conflict
from doorstep.sync.merge import merge
from doorstep.sync.store import Store
from tests.conftest import publish_md

HOUSEHOLD = """
| survey |
|        | type | name | label::中文 (zh) | label::English (en) | save_to |
|        | text | building | 楼栋 | Building | households#building |
|        | text | room | 房间号 | Room | households#room |
|        | text | head_name | 户主姓名 | Head of household | households#head_name |
|        | text | phone | 联系电话 | Phone | households#phone |
|        | begin repeat | person | 居民 | Residents | |
|        | text | full_name | 姓名 | Name | residents#full_name |
|        | text | id_card | 身份证号 | ID card | residents#id_card |
|        | date | quarantine_start | 隔离开始 | Q. start | residents#quarantine_start |
|        | end repeat | | | | |

| entities |
| | list_name | entity_id | create_if | update_if | label |
| | households | concat(${building},'-',${room}) | true() | false() | ${room} |
| | residents | concat(${building},'-',${room},'-',${full_name}) | true() | false() | ${full_name} |

| settings |
|          | form_id | version |
|          | household | 1 |
"""  # noqa: E501

FOLLOW_UP = """
| survey |
|        | type | name | label::中文 (zh) | label::English (en) | save_to |
|        | text | resident | 居民 | Resident | |
|        | decimal | temperature | 体温 | Temperature | temperature |
|        | text | head_name | 户主 | Head | |

| entities |
|          | list_name | entity_id | label |
|          | residents | ${resident} | |

| settings |
|          | form_id | version |
|          | quarantine_followup | 1 |
"""

GATE = """
| survey |
|        | type | name | label::中文 (zh) | label::English (en) |
|        | text | building | 楼栋 | Building |
|        | text | visitor | 访客 | Visitor |
|        | text | visitor_phone | 电话 | Phone |
|        | decimal | temperature | 体温 | Temperature |

| settings |
|          | form_id | version |
|          | gate_log | 1 |
"""


def when(day: int, hour: int = 10) -> str:
    return f"2026-12-{day:02d}T{hour:02d}:00:00.000+08:00"


def meta(iid: str, end: str, deprecated: str | None = None, entity: str = "") -> str:
    edit = f"<deprecatedID>{deprecated}</deprecatedID>" if deprecated else ""
    return (
        f"<meta>{entity}<instanceID>{iid}</instanceID>{edit}"
        f"<timeEnd>{end}</timeEnd></meta>"
    )


def entity(
    dataset: str, eid: str, label: str, *, create: bool = True, base: str = ""
) -> str:
    mode = 'create="1"' if create else f'update="1" baseVersion="{base}"'
    return (
        f'<entity dataset="{dataset}" id="{eid}" {mode}><label>{label}</label></entity>'
    )


def household_xml(
    iid, building, room, head, phone, people=(), *, end=None, deprecated=None
) -> bytes:
    items = "".join(
        f"<person><full_name>{name}</full_name><id_card>{card}</id_card>"
        f"<quarantine_start>{start}</quarantine_start><meta>"
        + entity("residents", f"{building}-{room}-{name}", name)
        + "</meta></person>"
        for name, card, start in people
    )
    return (
        f'<data id="household" version="1"><building>{building}</building>'
        f"<room>{room}</room><head_name>{head}</head_name><phone>{phone}</phone>"
        f"{items}"
        + meta(
            iid,
            end or when(1),
            deprecated,
            entity("households", f"{building}-{room}", room),
        )
        + "</data>"
    ).encode()


def follow_up_xml(iid, resident, temperature, *, base="1", end=None) -> bytes:
    return (
        f'<data id="quarantine_followup" version="1"><resident>{resident}</resident>'
        f"<temperature>{temperature}</temperature><head_name/>"
        + meta(
            iid,
            end or when(2),
            None,
            entity("residents", resident, "", create=False, base=base),
        )
        + "</data>"
    ).encode()


def gate_xml(iid, building, visitor, *, end=None, phone="13812345678") -> bytes:
    return (
        f'<data id="gate_log" version="1"><building>{building}</building>'
        f"<visitor>{visitor}</visitor><visitor_phone>{phone}</visitor_phone>"
        f"<temperature>36.5</temperature>" + meta(iid, end or when(1)) + "</data>"
    ).encode()


def publish_all(deployment: Deployment) -> None:
    publish_md(deployment, "household", HOUSEHOLD)
    publish_md(deployment, "quarantine_followup", FOLLOW_UP)
    publish_md(deployment, "gate_log", GATE)


def submit(deployment: Deployment, xml: bytes, device: str = "tablet-1") -> None:
    result = Ingest(deployment).submit(xml, {}, device_id=device)
    assert result.accepted, result.message


def exported(deployment: Deployment, out: Path) -> dict:
    """Every building's ledger and every list, as comparable JSON."""
    paths = export_ledgers(deployment, "json", out, unmasked=True)
    return {
        p.name: (json.loads(p.read_text()) if p.suffix == ".json" else p.read_text())
        for p in sorted(paths)
    }


def set_ledger_settings(deployment: Deployment, lines: str) -> Deployment:
    path = deployment.root / "doorstep.toml"
    text = path.read_text(encoding="utf-8").replace(
        "[ledgers]\n", f"[ledgers]\n{lines}\n"
    )
    path.write_text(text, encoding="utf-8")

    return open_deployment(deployment.root)


def rows(deployment: Deployment, building: str, sheet: str) -> list[dict]:
    return ledger_rows(deployment, building)[sheet]


def test_same_key_creates_from_two_tablets_make_one_household(deployment):
    publish_all(deployment)
    submit(deployment, household_xml("uuid:a", "3", "101", "张三", "13800000001"))
    submit(
        deployment,
        household_xml("uuid:b", "3", "101", "张三", "13800000001", end=when(1, 11)),
        "tablet-2",
    )

    summary = merge(deployment)

    assert summary.entities == {"households": 1}
    assert summary.conflicts == 0
    [household] = rows(deployment, "3", "households")
    assert household["ID"] == "3-101"
    assert household["Version"] == 2


def test_property_is_last_written_by_time_collected_not_by_arrival(deployment):
    publish_all(deployment)
    submit(
        deployment, household_xml("uuid:late", "3", "101", "新户主", "1", end=when(2))
    )
    submit(
        deployment, household_xml("uuid:early", "3", "101", "旧户主", "1", end=when(1))
    )

    merge(deployment)

    [household] = rows(deployment, "3", "households")
    assert household["Head of household"] == "新户主"


def test_edit_replaces_its_original_and_only_the_latest_of_a_chain_counts(deployment):
    publish_all(deployment)
    submit(deployment, household_xml("uuid:1", "3", "101", "甲", "1"))
    submit(
        deployment,
        household_xml(
            "uuid:2", "3", "101", "乙", "1", end=when(1), deprecated="uuid:1"
        ),
    )
    merge(deployment)
    submit(
        deployment,
        household_xml(
            "uuid:3", "4", "101", "丙", "1", end=when(1), deprecated="uuid:2"
        ),
    )

    summary = merge(deployment)

    assert summary.edits_replaced == 2
    assert summary.submissions == 1
    assert summary.buildings == ["4"]
    [household] = rows(deployment, "4", "households")
    assert (household["Head of household"], household["Version"]) == ("丙", 1)
    assert not (deployment.ledgers_dir / "3.xlsx").exists()


def test_edit_whose_original_is_unknown_is_kept_and_reported(deployment):
    publish_all(deployment)
    xml = household_xml("uuid:e", "3", "101", "甲", "1", deprecated="uuid:gone")
    Store(deployment.data_dir).put(
        xml,
        instance_id="uuid:e",
        form_id="household",
        version="1",
        device_id="import",
        expected=[],
        attachments={},
        deprecated_id="uuid:gone",
    )

    summary = merge(deployment)

    assert summary.unknown_originals == 1
    assert summary.entities == {"households": 1}


def test_offline_updates_of_one_version_conflict_until_resolved(deployment):
    publish_all(deployment)
    resident = "3-101-张三"
    submit(
        deployment, household_xml("uuid:h", "3", "101", "张三", "1", [("张三", "", "")])
    )
    submit(deployment, follow_up_xml("uuid:f1", resident, "37.5"), "tablet-1")
    submit(
        deployment,
        follow_up_xml("uuid:f2", resident, "36.5", end=when(2, 9)),
        "tablet-2",
    )

    summary = merge(deployment)

    assert summary.conflicts == 1
    [shown] = rows(deployment, "3", "residents")
    assert shown["Temperature"] == 37.5
    resolve_conflict(deployment, resident, "temperature", "36.5")
    [shown] = rows(deployment, "3", "residents")
    assert shown["Temperature"] == 36.5
    assert merge(deployment).conflicts == 0


def test_a_later_update_settles_a_conflict(deployment):
    publish_all(deployment)
    resident = "3-101-张三"
    submit(
        deployment, household_xml("uuid:h", "3", "101", "张三", "1", [("张三", "", "")])
    )
    submit(deployment, follow_up_xml("uuid:f1", resident, "37.5"), "tablet-1")
    submit(deployment, follow_up_xml("uuid:f2", resident, "36.5"), "tablet-2")
    assert merge(deployment).conflicts == 1

    submit(
        deployment,
        follow_up_xml("uuid:f3", resident, "36.8", base="3", end=when(3)),
        "tablet-1",
    )

    assert merge(deployment).conflicts == 0
    [shown] = rows(deployment, "3", "residents")
    assert shown["Temperature"] == 36.8


def test_same_person_under_two_ids_is_a_probable_duplicate(deployment):
    deployment = set_ledger_settings(
        deployment, 'duplicate_keys = { residents = ["full_name", "id_card"] }'
    )
    publish_all(deployment)
    card = "110101199001011234"
    submit(
        deployment,
        household_xml("uuid:1", "3", "101", "张三", "1", [("张三", card, "")]),
    )
    submit(
        deployment,
        household_xml(
            "uuid:2", "3", "102", "李四", "1", [("张三", card, ""), ("李四", "", "")]
        ),
    )

    summary = merge(deployment)

    assert summary.duplicates == 1
    state = json.loads((deployment.ledgers_dir / "merge.json").read_text())
    assert state["duplicate_groups"] == [
        [["residents", "3-101-张三"], ["residents", "3-102-张三"]]
    ]


def test_log_rows_go_to_their_building_and_the_rest_to_a_ledger_of_their_own(
    deployment,
):
    publish_all(deployment)
    submit(deployment, gate_xml("uuid:g1", "5", "王五"))
    submit(deployment, gate_xml("uuid:g2", "", "赵六"))

    summary = merge(deployment)

    assert summary.buildings == ["5", NO_BUILDING]
    assert summary.log_rows == {"gate_log": 2}
    [row] = rows(deployment, "5", "gate_log")
    assert (row["Visitor"], row["Date"]) == ("王五", "2026-12-01")
    assert row["Phone"] == "138****5678"
    assert rows(deployment, NO_BUILDING, "gate_log")[0]["Visitor"] == "赵六"


def test_building_field_setting_names_another_field(deployment):
    deployment = set_ledger_settings(
        deployment, 'building_field = { gate_log = "visitor" }'
    )
    publish_all(deployment)
    submit(deployment, gate_xml("uuid:g1", "5", "7"))

    assert merge(deployment).buildings == ["7"]


def test_follow_up_rows_sit_in_their_residents_building(deployment):
    publish_all(deployment)
    submit(
        deployment, household_xml("uuid:h", "3", "101", "张三", "1", [("张三", "", "")])
    )
    submit(deployment, follow_up_xml("uuid:f", "3-101-张三", "36.6"))

    merge(deployment)

    [row] = rows(deployment, "3", "quarantine_followup")
    assert row["Resident"] == "3-101-张三"


def test_incremental_merges_and_a_rebuild_give_identical_ledgers(deployment, tmp_path):
    publish_all(deployment)
    batches = [
        [
            household_xml(
                "uuid:h", "3", "101", "张三", "1", [("张三", "1", "2026-12-01")]
            ),
            gate_xml("uuid:g", "3", "王五"),
        ],
        [
            follow_up_xml("uuid:f", "3-101-张三", "37.1"),
            household_xml(
                "uuid:h2",
                "3",
                "101",
                "张三",
                "2",
                [("张三", "1", "")],
                end=when(2),
                deprecated="uuid:h",
            ),
        ],
        [gate_xml("uuid:g3", "", "赵六", end=when(4))],
    ]
    for batch in batches:
        for xml in batch:
            submit(deployment, xml)
        merge(deployment)
    incremental = exported(deployment, tmp_path / "a")
    workbooks = workbook_values(deployment)

    warm = merge(deployment, rebuild=True)
    warm_ledgers = exported(deployment, tmp_path / "b"), workbook_values(deployment)
    cold = merge(deployment, cold=True)

    assert warm.new == cold.new == 5
    assert warm_ledgers == (incremental, workbooks)
    assert exported(deployment, tmp_path / "c") == incremental
    assert workbook_values(deployment) == workbooks


def workbook_values(deployment: Deployment) -> dict:
    found = {}
    for path in sorted(deployment.ledgers_dir.glob("**/*.xlsx")):
        book = openpyxl.load_workbook(path)
        found[str(path.relative_to(deployment.ledgers_dir))] = {
            ws.title: [[c.value for c in row] for row in ws.iter_rows()]
            for ws in book.worksheets
        }

    return found


def test_changed_ledger_settings_start_the_merge_over(deployment):
    publish_all(deployment)
    submit(deployment, gate_xml("uuid:g1", "5", "7"))
    assert merge(deployment).buildings == ["5"]

    deployment = set_ledger_settings(
        deployment, 'building_field = { gate_log = "visitor" }'
    )
    summary = merge(deployment)

    assert summary.buildings == ["7"]
    assert summary.new == 1
    assert not (deployment.ledgers_dir / "5.xlsx").exists()


def test_merging_again_without_news_changes_nothing(deployment, tmp_path):
    publish_all(deployment)
    submit(deployment, gate_xml("uuid:g1", "5", "王五"))
    merge(deployment)
    before = exported(deployment, tmp_path / "a")

    summary = merge(deployment)

    assert summary.new == 0
    assert summary.workbooks == []
    assert exported(deployment, tmp_path / "b") == before
