"""`doorstep forms check`: one line per problem, a summary, a fitting exit code."""

from __future__ import annotations

import json

from click.testing import CliRunner
from openpyxl import Workbook

from doorstep.cli.forms_cmd import forms
from tests.conftest import write_md_form

GOOD = """
    | survey |
    |        | type    | name     | label    |
    |        | text    | building | Building |
    |        | integer | age      | Age      |
"""

RESERVED = """
    | survey |
    |        | type | name     | label    |
    |        | text | building | Building |
    |        | text | meta     | Meta     |
"""


def check(*args: str):
    return CliRunner().invoke(forms, ["check", *args])


def test_good_form_exits_0_with_a_summary(tmp_path):
    result = check(str(write_md_form(tmp_path, "good", GOOD)))

    assert result.exit_code == 0
    assert result.output == ("1 form checked: 1 ok, 0 failed; 0 errors, 0 warnings\n")


def test_form_with_error_prints_located_line_and_exits_1(tmp_path):
    result = check(
        str(write_md_form(tmp_path, "good", GOOD)),
        str(write_md_form(tmp_path, "reserved", RESERVED)),
    )

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        'reserved.md:survey:3: the name "meta" is reserved for form metadata'
        " - rename the question in the name column",
        "2 forms checked: 1 ok, 1 failed; 1 errors, 0 warnings",
    ]


def test_warnings_alone_exit_0(tmp_path):
    form = GOOD.rstrip() + "\n    | | image | photo | Photo |"

    result = check(str(write_md_form(tmp_path, "photo", form)))

    assert result.exit_code == 0
    assert result.output.startswith("photo.md:survey:4:parameters: photos from")


def test_pyxform_crash_prints_no_traceback(tmp_path):
    book = Workbook()
    book.active.title = "survey"
    book.active.append(["type", "name", "label", 7])
    book.active.append(["text", "building", "Building", "x"])
    book.save(tmp_path / "crash.xlsx")

    result = check(str(tmp_path / "crash.xlsx"))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("crash.xlsx: pyxform could not read this form")


def test_missing_file_is_a_problem_not_a_usage_error(tmp_path):
    result = check(str(tmp_path / "gone.xlsx"))

    assert result.exit_code == 1
    assert result.output.startswith("gone.xlsx: the file does not exist")


def test_no_path_is_a_usage_error():
    result = check()

    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_json_lists_each_form_and_its_problems(tmp_path):
    result = check(
        "--json",
        str(write_md_form(tmp_path, "good", GOOD)),
        str(write_md_form(tmp_path, "reserved", RESERVED)),
    )

    data = json.loads(result.output)
    assert result.exit_code == 1
    assert [(d["ok"], len(d["problems"])) for d in data] == [(True, 0), (False, 1)]
    assert data[1]["problems"][0]["row"] == 3
    assert data[1]["problems"][0]["level"] == "error"
