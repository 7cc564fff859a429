from __future__ import annotations

import pytest

from doorstep.sync.publish import PublishError, publish_form
from tests.conftest import write_md_form

LOOKUP = """
| survey |                                |        |        |
|        | type                           | name   | label  |
|        | select_one_from_file streets.csv | street | Street |
|        | text                           | building | Building |
| settings |         |         |
|          | form_id | version |
|          | lookup  | 1       |
"""


def test_form_missing_its_csv_list_is_published_with_a_warning(deployment):
    path = write_md_form(deployment.root, "lookup", LOOKUP)

    result = publish_form(deployment, path)

    assert result.new
    assert [w.message for w in result.warnings] == [
        "the form uses streets.csv, which was not published with it"
    ]
    assert "--media streets.csv" in str(result.warnings[0])


def test_csv_list_given_as_media_is_published_and_an_unused_file_noted(
    deployment, tmp_path
):
    path = write_md_form(deployment.root, "lookup", LOOKUP)
    streets = tmp_path / "streets.csv"
    streets.write_text("name,label\n1,东街\n", encoding="utf-8")
    stray = tmp_path / "stray.csv"
    stray.write_text("x\n", encoding="utf-8")

    result = publish_form(deployment, path, [streets, stray])

    assert set(result.form.media()) == {"streets.csv", "stray.csv"}
    assert [w.message for w in result.warnings] == [
        "the media file stray.csv is not used by the form"
    ]


def test_form_with_errors_is_not_published(deployment):
    path = write_md_form(
        deployment.root, "bad", "| survey |\n| | type | name |\n| | nope | x |"
    )

    with pytest.raises(PublishError) as raised:
        publish_form(deployment, path)

    assert raised.value.problems
    assert "bad.md" in str(raised.value.problems[0])
