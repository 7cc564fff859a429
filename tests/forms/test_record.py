"""Reading submissions into typed records: nothing dropped, problems listed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from doorstep.forms.instance import parse_instance
from doorstep.forms.record import Problem, read_record
from doorstep.forms.schema import GeoPoint, record_schema
from doorstep.forms.spec import read_spec
from tests.conftest import compile_md

TYPES = """
    | survey  |
    |         | type              | name     | label    |
    |         | integer           | age      | Age      |
    |         | decimal           | temp     | Temp     |
    |         | date              | seen     | Seen     |
    |         | datetime          | at       | At       |
    |         | time              | clock    | Clock    |
    |         | geopoint          | where    | Where    |
    |         | select_one yn     | sick     | Sick     |
    |         | select_multiple s | symptoms | Symptoms |
    |         | image             | photo    | Photo    |
    |         | text              | note     | Note     |
    | choices |
    |         | list_name | name  | label |
    |         | yn        | yes   | Yes   |
    |         | yn        | no    | No    |
    |         | s         | cough | Cough |
    |         | s         | fever | Fever |
"""

NESTED = """
    | survey |
    |        | type         | name      | label     |
    |        | text         | building  | Building  |
    |        | begin repeat | flats     | Flats     |
    |        | text         | flat      | Flat      |
    |        | begin group  | household | Household |
    |        | begin repeat | residents | Residents |
    |        | text         | name      | Name      |
    |        | integer      | age       | Age       |
    |        | end repeat   |           |           |
    |        | end group    |           |           |
    |        | end repeat   |           |           |
"""


@pytest.fixture
def types(tmp_path):
    return read_spec(compile_md(tmp_path, "types", TYPES))


def read(spec, body: str):
    xml = f'<data id="{spec.form_id}">{body}</data>'.encode()

    return read_record(spec, parse_instance(xml))


def test_each_type_reads_as_its_python_value(types):
    record = read(
        types,
        "<age>35</age><temp>37.5</temp><seen>2024-03-01</seen>"
        "<at>2024-03-01T09:30:00.000+08:00</at><clock>09:30:00</clock>"
        "<where>31.2 121.5 4.0 10</where><sick>no</sick>"
        "<symptoms>cough fever</symptoms><photo>a.jpg</photo><note>hi</note>",
    )

    assert record.problems == []
    assert record.values == {
        "age": 35,
        "temp": Decimal("37.5"),
        "seen": date(2024, 3, 1),
        "at": datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        "clock": time(9, 30),
        "where": GeoPoint(31.2, 121.5, 4.0, 10.0),
        "sick": "no",
        "symptoms": ["cough", "fever"],
        "photo": "a.jpg",
        "note": "hi",
    }


def test_empty_answers_are_none_without_problem(types):
    record = read(types, "<age/><temp></temp><where/><symptoms/><note/>")

    assert record.problems == []
    assert record.values == dict.fromkeys(["age", "temp", "where", "symptoms", "note"])


@pytest.mark.parametrize(
    ("element", "text"),
    [
        ("age", "thirty"),
        ("age", "3.5"),
        ("temp", "NaN"),
        ("seen", "01/03/2024"),
        ("at", "yesterday"),
        ("where", "north"),
        ("where", "95 10"),
        ("sick", "maybe"),
        ("symptoms", "cough sneeze"),
    ],
)
def test_ill_typed_answer_is_kept_as_text_and_listed(types, element, text):
    record = read(types, f"<{element}>{text}</{element}>")

    (problem,) = record.problems
    assert record.values[element] == text
    assert (problem.path, problem.value) == (element, text)


def test_unknown_element_is_kept_and_listed(types):
    record = read(types, "<age>4</age><extra><deep>x</deep></extra>")

    assert record.values == {"age": 4, "extra/deep": "x"}
    assert record.problems == [Problem("extra/deep", "the form has no such field", "x")]


def test_server_added_metadata_is_kept_without_problem(types):
    record = read(
        types,
        "<formhub><uuid>abc</uuid></formhub><meta><instanceID>uuid:1"
        "</instanceID><deprecatedID>uuid:0</deprecatedID></meta>",
    )

    assert record.problems == []
    assert record.values["meta/deprecatedID"] == "uuid:0"


def test_second_copy_of_a_single_answer_is_a_problem(types):
    record = read(types, "<age>4</age><age>5</age>")

    assert record.values == {"age": 4}
    assert record.problems == [
        Problem("age", "this answer appears more than once; the first is kept", "5")
    ]


def test_nested_repeats_become_lists_of_dicts(tmp_path):
    spec = read_spec(compile_md(tmp_path, "nested", NESTED))

    record = read(
        spec,
        "<building>7</building>"
        "<flats><flat>101</flat><household>"
        "<residents><name>Li</name><age>70</age></residents>"
        "<residents><name>Wang</name><age>old</age></residents>"
        "</household></flats>"
        "<flats><flat>102</flat><household/></flats>",
    )

    assert record.values == {
        "building": "7",
        "flats": [
            {
                "flat": "101",
                "household/residents": [
                    {"name": "Li", "age": 70},
                    {"name": "Wang", "age": "old"},
                ],
            },
            {"flat": "102"},
        ],
    }
    (problem,) = record.problems
    assert problem.path == "flats[1]/household/residents[2]/age"


def test_unknown_element_inside_repeat_is_keyed_relative_to_the_item(tmp_path):
    spec = read_spec(compile_md(tmp_path, "nested", NESTED))

    record = read(spec, "<flats><flat>1</flat><pets>2</pets></flats>")

    assert record.values == {"flats": [{"flat": "1", "pets": "2"}]}
    assert record.problems[0].path == "flats[1]/pets"


def test_choices_from_a_csv_file_accept_any_name(tmp_path):
    spec = read_spec(
        compile_md(
            tmp_path,
            "file",
            """
            | survey |
            |        | type                                | name | label |
            |        | select_one_from_file households.csv | hh   | H     |
            """,
        )
    )

    record = read(spec, "<hh>h-17</hh>")

    assert (record.values, record.problems) == ({"hh": "h-17"}, [])


def test_namespaced_submission_reads_like_a_plain_one(types):
    xml = b'<data xmlns="http://www.w3.org/2002/xforms" id="types"><age>3</age></data>'

    record = read_record(types, parse_instance(xml))

    assert (record.values, record.problems) == ({"age": 3}, [])


def test_schema_load_agrees_with_read_record(types):
    texts = {"age": "35", "where": "1 2", "symptoms": "fever", "note": ""}

    loaded = record_schema(types).load(texts)

    assert loaded == {
        "age": 35,
        "where": GeoPoint(1.0, 2.0),
        "symptoms": ["fever"],
        "note": None,
    }
    assert (
        read(
            types, "<age>35</age><where>1 2</where><symptoms>fever</symptoms><note/>"
        ).values
        == loaded
    )


def test_empty_entity_element_of_an_update_form_is_no_problem(tmp_path):
    spec = read_spec(
        compile_md(
            tmp_path,
            "update",
            """
            | survey   |
            |          | type                                | name | label | save_to |
            |          | select_one_from_file households.csv | hh   | H     |         |
            |          | integer                             | size | Size  | size    |
            | entities |
            |          | list_name  | entity_id |
            |          | households | ${hh}     |
            """,
        )
    )

    record = read(
        spec,
        '<hh>h1</hh><size>3</size><meta><entity dataset="households" id="h1"'
        ' update="1"/></meta>',
    )

    assert (record.values, record.problems) == ({"hh": "h1", "size": 3}, [])
