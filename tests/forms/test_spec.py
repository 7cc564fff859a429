"""Reading a compiled XForm into a FormSpec."""

from __future__ import annotations

import pytest

from doorstep.forms.spec import SpecError, read_spec
from doorstep.forms.xml import XMLError
from tests.conftest import compile_md

FORM = """
    | survey   |
    | | type | name | label::English (en) | label::中文 (zh) | required | save_to |
    | | text          | building | Building | 楼栋 | yes | building |
    | | select_one yn | sick     | Sick     | 发烧 |     |          |
    | | begin group   | flat     | Flat     | 房屋 |     |          |
    | | begin repeat  | people   | People   | 住户 |     |          |
    | | integer       | age      | Age      | 年龄 |     |          |
    | | end repeat    |          |          |      |     |          |
    | | end group     |          |          |      |     |          |
    | | select_one_from_file streets.csv | street | Street | 街道 | | |
    | choices  |
    | | list_name | name | label::English (en) | label::中文 (zh) |
    | | yn        | yes  | Yes                 | 是               |
    | | yn        | no   | No                  | 否               |
    | settings |
    | | form_id   | version |
    | | residents | 2024031 |
    | entities |
    | | list_name | label       |
    | | buildings | ${building} |
"""


@pytest.fixture
def spec(tmp_path):
    return read_spec(compile_md(tmp_path, "residents", FORM))


def test_spec_names_form_version_and_languages(spec):
    assert (spec.form_id, spec.version) == ("residents", "2024031")
    assert spec.languages == ("English (en)", "中文 (zh)")
    assert len(spec.md5) == 32


def test_fields_have_relative_paths_types_and_labels(spec):
    building = spec.field("building")
    age = spec.field("flat/people/age")

    assert (building.type, building.required) == ("string", True)
    assert building.labels == {"English (en)": "Building", "中文 (zh)": "楼栋"}
    assert (age.type, age.repeat) == ("int", "flat/people")


def test_groups_and_repeats_are_told_apart(spec):
    assert "flat" in spec.groups
    assert spec.repeats == ("flat/people",)


def test_choices_inline_and_from_file(spec):
    sick = spec.field("sick")
    street = spec.field("street")

    assert [c.name for c in sick.choices] == ["yes", "no"]
    assert sick.choices[1].labels["中文 (zh)"] == "否"
    assert (street.choices, street.choice_file) == (None, "streets.csv")
    assert "streets.csv" in spec.media


def test_entity_declaration_and_save_to(spec):
    (entity,) = spec.entities

    assert entity.dataset == "buildings"
    assert entity.properties == {"building": "building"}
    assert entity.update is None


def test_xml_without_model_is_refused():
    with pytest.raises(SpecError):
        read_spec("<html><body/></html>")


def test_malformed_xml_is_refused():
    with pytest.raises(XMLError):
        read_spec("<html><head>")


def test_entity_declared_in_a_repeat_is_listed_once():
    from pyxform.xls2xform import convert

    from doorstep.forms.templates import source_path

    xform = convert(str(source_path("household_registration"))).xform

    datasets = sorted(e.dataset for e in read_spec(xform).entities)

    assert datasets == ["households", "residents"]
