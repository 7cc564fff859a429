"""Home quarantine: day N of 14, who is due, who missed yesterday, who ends."""

from __future__ import annotations

from datetime import date

from doorstep.sync.ledgers import ledger_rows, quarantine_report
from doorstep.sync.merge import merge
from tests.conftest import publish_md
from tests.sync.test_merge import (
    follow_up_xml,
    household_xml,
    publish_all,
    submit,
    when,
)

RETURNEE = """
| survey |
|        | type | name | label::中文 (zh) | label::English (en) |
|        | text | building | 楼栋 | Building |
|        | text | full_name | 姓名 | Name |
|        | date | return_date | 返京日期 | Date of return |
|        | date | quarantine_end | 隔离结束 | Quarantine end |

| settings |
|          | form_id | version |
|          | returnee_registration | 1 |
"""


def returnee_xml(iid: str, building: str, name: str, back: str, end: str) -> bytes:
    return (
        f'<data id="returnee_registration" version="1"><building>{building}'
        f"</building><full_name>{name}</full_name><return_date>{back}</return_date>"
        f"<quarantine_end>{end}</quarantine_end><meta><instanceID>{iid}"
        f"</instanceID><timeEnd>{when(2)}</timeEnd></meta></data>"
    ).encode()


def quarantine_deployment(deployment):
    publish_all(deployment)
    publish_md(deployment, "returnee_registration", RETURNEE)
    people = [("张三", "", "2026-12-01"), ("李四", "", "")]
    submit(deployment, household_xml("uuid:h3", "3", "101", "张三", "1", people))
    submit(
        deployment,
        household_xml("uuid:h4", "4", "201", "王五", "1", [("王五", "", "2026-11-20")]),
    )
    submit(deployment, follow_up_xml("uuid:f1", "3-101-张三", "36.6", end=when(1)))
    submit(
        deployment,
        follow_up_xml("uuid:f3", "3-101-张三", "36.7", base="2", end=when(3, 20)),
    )
    submit(deployment, returnee_xml("uuid:r", "5", "赵六", "2026-12-02", "2026-12-16"))
    merge(deployment)

    return deployment


def summary(found) -> dict:
    return {
        building: [
            (p.name, p.day, p.days, p.due, p.missed_yesterday, p.ends_today)
            for p in people
        ]
        for building, people in found.items()
    }


def test_quarantine_report_gives_day_due_missed_and_ending(deployment):
    quarantine_deployment(deployment)

    found = quarantine_report(deployment, date(2026, 12, 3))

    # Returned 12-01, 11-20 and 12-02: day 0 is the date of return, day 14
    # the last (12-04 for 王五, who returned on 11-20).
    assert summary(found) == {
        "3": [("张三", 2, 14, False, True, False)],
        "4": [("王五", 13, 14, True, True, False)],
        "5": [("赵六", 1, 14, True, True, False)],
    }


def test_quarantine_ends_after_its_last_day(deployment):
    quarantine_deployment(deployment)

    last = quarantine_report(deployment, date(2026, 12, 4))
    after = quarantine_report(deployment, date(2026, 12, 5))

    assert summary(last)["4"] == [("王五", 14, 14, True, True, True)]
    assert "4" not in after
    assert summary(after)["3"] == [("张三", 4, 14, True, True, False)]


def test_day_of_return_is_day_0_of_14(deployment):
    quarantine_deployment(deployment)

    found = quarantine_report(deployment, date(2026, 12, 1))

    assert summary(found)["3"] == [("张三", 0, 14, False, False, False)]


def test_ledger_quarantine_sheet_is_as_of_the_last_day_collected(deployment):
    quarantine_deployment(deployment)

    [row] = ledger_rows(deployment, "3")["quarantine"]

    assert row["Day N of 14 (2026-12-03)"] == "2/14"
    assert (row["Follow-up due"], row["Missed yesterday"]) == ("", "是 yes")
