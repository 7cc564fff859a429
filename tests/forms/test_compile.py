"""Compiling XLSForms: every problem located and told in the admin's words."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from doorstep.forms.checks import check_forms
from doorstep.forms.compile import FormProblem, compile_form
from tests.conftest import compile_md, write_md_form

GOOD = """
    | survey |
    |        | type    | name     | label    |
    |        | text    | building | Building |
    |        | integer | age      | Age      |
"""


def only_error(path: Path) -> FormProblem:
    form = compile_form(path)
    errors = [p for p in form.problems if p.level == "error"]
    assert not form.ok
    assert len(errors) == 1

    return errors[0]


def test_problem_text_names_file_sheet_row_and_fix():
    problem = FormProblem(
        "household.xlsx",
        "survey",
        35,
        None,
        "error",
        'the name "meta" is reserved for form metadata',
        "rename the question in the name column",
    )

    assert str(problem) == (
        'household.xlsx:survey:35: the name "meta" is reserved for form metadata'
        " - rename the question in the name column"
    )


def test_problem_text_leaves_out_unknown_parts():
    problem = FormProblem("a.md", None, None, None, "warning", "odd", None)

    assert str(problem) == "a.md: odd"
    assert problem.to_dict()["level"] == "warning"


def test_good_form_compiles_with_spec_and_no_problem(tmp_path):
    form = compile_form(write_md_form(tmp_path, "good", GOOD))

    assert form.ok
    assert form.problems == []
    assert form.spec.field("age").type == "int"
    assert "<h:html" in form.xform


@pytest.mark.parametrize(
    ("survey", "expected"),
    [
        (
            "| | intger | years | Years |",
            'good.md:survey:4:type: the question type "intger" is not',
        ),
        (
            "| | text | meta | Meta |",
            'good.md:survey:4: the name "meta" is reserved for form metadata'
            " - rename the question in the name column",
        ),
        (
            "| | text | age | Again |",
            'good.md:survey:4:name: the name "age" is used twice',
        ),
        ("| | text |  | Nameless |", "good.md:survey:4:name: this question or group"),
        ("| | text | blank |  |", 'good.md:survey:4:label: the question "blank" has'),
        (
            "| | begin group | g | G |",
            'good.md:survey:4:type: "begin group" of "g" has no matching',
        ),
        ("| | end group | | |", 'good.md:survey:4:type: "end group" has no matching'),
        (
            "| | select_one yn | q | Q |",
            "good.md: the form has select questions but no choices sheet",
        ),
        (
            "| | calculate | c | |",
            "good.md:survey:4:calculation: this calculate row has no calculation",
        ),
    ],
)
def test_pyxform_error_becomes_one_located_problem(tmp_path, survey, expected):
    path = write_md_form(tmp_path, "good", GOOD.rstrip() + "\n    " + survey)

    assert str(only_error(path)).startswith(expected)


def test_missing_choice_list_names_row_and_list(tmp_path):
    path = write_md_form(
        tmp_path,
        "lists",
        """
        | survey  |
        |         | type          | name     | label |
        |         | text          | building | B     |
        |         | select_one yn | q        | Q     |
        | choices |
        |         | list_name | name | label |
        |         | other     | a    | A     |
        """,
    )

    problem = only_error(path)

    assert (problem.sheet, problem.row, problem.column) == ("survey", 3, "type")
    assert 'the choice list "yn" is not on the choices sheet' in problem.message


def test_unknown_reference_names_column_and_name(tmp_path):
    path = write_md_form(
        tmp_path,
        "refs",
        """
        | survey |
        |        | type | name     | label | relevant      |
        |        | text | building | B     | ${nope} = 'x' |
        """,
    )

    problem = only_error(path)

    assert (problem.row, problem.column) == (2, "relevant")
    assert problem.message == "${nope} refers to a question that does not exist"


def crashing_workbook(path: Path) -> Path:
    # A number typed into the survey's header row: pyxform 4.5 calls .strip()
    # on it and dies with AttributeError instead of reporting the cell.
    book = Workbook()
    sheet = book.active
    sheet.title = "survey"
    sheet.append(["type", "name", "label", 2024])
    sheet.append(["text", "building", "Building", "x"])
    book.save(path)

    return path


def test_pyxform_crash_becomes_one_clean_error(tmp_path):
    problem = only_error(crashing_workbook(tmp_path / "numbers.xlsx"))

    assert problem.file == "numbers.xlsx"
    assert "AttributeError" in problem.message
    assert "Traceback" not in str(problem)
    assert "\n" not in str(problem)
    assert "headers" in problem.fix


def test_damaged_workbook_is_one_clear_error(tmp_path):
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")

    problem = only_error(path)

    assert "cannot be opened as a spreadsheet" in problem.message


def test_missing_file_and_wrong_extension_are_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")

    assert "does not exist" in only_error(tmp_path / "gone.xlsx").message
    assert "cannot read .txt" in only_error(tmp_path / "notes.txt").message
    assert "folder" in only_error(tmp_path).message


def test_compiled_xform_is_accepted(tmp_path):
    path = tmp_path / "exported.xml"
    path.write_text(compile_md(tmp_path, "good", GOOD), encoding="utf-8")

    form = compile_form(path)

    assert form.ok
    assert form.spec.form_id == "good"


def test_xml_that_is_not_an_xform_is_an_error(tmp_path):
    path = tmp_path / "data.xml"
    path.write_text("<data id='x'><a>1</a></data>")

    assert "not a usable XForm" in only_error(path).message


def test_pyxform_warning_keeps_its_row(tmp_path):
    form = compile_form(
        write_md_form(tmp_path, "photo", GOOD.rstrip() + "\n    | | image | p | P |")
    )

    (warning,) = [p for p in form.problems if p.column == "parameters"]
    assert form.ok
    assert (warning.level, warning.sheet, warning.row) == ("warning", "survey", 4)
    assert "max-pixels" in warning.fix


def test_question_missing_a_translation_is_warned_with_its_row(tmp_path):
    form = compile_form(
        write_md_form(
            tmp_path,
            "bilingual",
            """
            | survey |
            |        | type | name     | label::English (en) | label::中文 (zh) |
            |        | text | building | Building            | 楼栋             |
            |        | text | flat     | Flat                |                  |
            """,
        )
    )

    (warning,) = form.problems
    assert warning.row == 3
    assert warning.message == 'the question "flat" has no label in 中文 (zh)'


def test_form_without_building_field_is_warned(tmp_path):
    form = compile_form(
        write_md_form(
            tmp_path,
            "log",
            """
            | survey |
            |        | type | name | label |
            |        | text | gate | Gate  |
            """,
        )
    )

    (warning,) = form.problems
    assert "ledgers need a building field" in warning.message


def test_phone_and_id_card_without_constraint_are_warned(tmp_path):
    form = compile_form(
        write_md_form(
            tmp_path,
            "people",
            """
            | survey |
            |        | type | name     | label  | constraint                |
            |        | text | building | B      |                           |
            |        | text | phone    | Phone  |                           |
            |        | text | card     | 身份证 |                           |
            |        | text | mobile   | Mobile | regex(., '^1[0-9]{10}$')  |
            |        | text | hotel    | Hotel  |                           |
            """,
        )
    )

    flagged = {(p.row, p.message.split('"')[1]) for p in form.problems}
    assert flagged == {(3, "phone"), (4, "card")}


UPDATE = """
    | survey   |
    |          | type                                | name     | label | save_to |
    |          | text                                | building | B     |         |
    |          | select_one_from_file households.csv | hh       | H     |         |
    |          | integer                             | size     | Size  | size    |
    | entities |
    |          | list_name  | entity_id | update_if   |
    |          | households | ${hh}     | ${size} > 0 |
"""

CREATE = """
    | survey   |
    |          | type | name     | label | save_to |
    |          | text | building | B     |         |
    |          | text | head     | Head  | head    |
    | entities |
    |          | list_name  | label    |
    |          | households | ${head}  |
"""


def test_update_form_alone_is_warned_that_no_form_creates_its_list(tmp_path):
    (form,) = check_forms([write_md_form(tmp_path, "update", UPDATE)])

    (warning,) = form.problems
    assert '"households", which none of the checked forms creates' in warning.message


def test_update_form_with_its_creating_form_is_not_warned(tmp_path):
    paths = [
        write_md_form(tmp_path, "update", UPDATE),
        write_md_form(tmp_path, "create", CREATE),
    ]

    assert [f.problems for f in check_forms(paths)] == [[], []]


def test_duplicate_choice_name_points_at_the_choices_row(tmp_path):
    path = write_md_form(
        tmp_path,
        "choices",
        """
        | survey  |
        |         | type          | name     | label |
        |         | text          | building | B     |
        |         | select_one yn | q        | Q     |
        | choices |
        |         | list_name | name | label |
        |         | yn        | yes  | Yes   |
        |         | yn        | yes  | Sure  |
        """,
    )

    problem = only_error(path)

    assert (problem.sheet, problem.row, problem.column) == ("choices", 3, "name")
    assert "allow_choice_duplicates" in problem.fix


def test_misspelt_settings_sheet_is_a_warning(tmp_path):
    form = compile_form(
        write_md_form(
            tmp_path,
            "misspelt",
            GOOD + "\n    | settngs |\n    | | form_id |\n    | | x |",
        )
    )

    (warning,) = form.problems
    assert form.ok
    assert "looks like a misspelt settings sheet" in warning.message
