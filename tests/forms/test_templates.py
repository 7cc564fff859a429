"""The shipped form library: every template compiles cleanly, in both languages."""

from __future__ import annotations

import functools
import re

import pytest
from openpyxl import load_workbook
from pyxform.xls2xform import convert

from doorstep.forms.spec import FormSpec, read_spec
from doorstep.forms.templates import (
    TEMPLATES,
    TemplateError,
    copy_templates,
    read_sheets,
    source_path,
    write_xlsx,
)

ZH, EN = "中文 (zh)", "English (en)"
# Every template lands in a building's ledger; these are about one flat.
FLAT_FORMS = ("household_registration", "returnee_registration", "vulnerable_needs")


@functools.cache
def compiled(name: str) -> tuple[str, tuple[str, ...]]:
    warnings: list[str] = []
    xform = convert(str(source_path(name)), warnings=warnings).xform

    return xform, tuple(warnings)


def spec_of(name: str) -> FormSpec:
    return read_spec(compiled(name)[0])


def test_the_library_holds_the_seven_community_forms():
    assert len(TEMPLATES) == 7
    assert {"household_registration", "gate_log", "supplies_stock"} <= set(TEMPLATES)
    assert all(source_path(name).is_file() for name in TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_compiles_with_no_warnings(name):
    xform, warnings = compiled(name)

    assert warnings == ()
    assert f'id="{name}"' in xform


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_settings_name_the_form_and_chinese_first(name):
    spec = spec_of(name)

    assert spec.form_id == name
    assert re.fullmatch(r"20\d{8}", spec.version)
    assert spec.languages[0] == ZH and EN in spec.languages
    assert " / " in spec.title


@pytest.mark.parametrize("name", TEMPLATES)
def test_xlsx_copy_compiles_to_the_same_xform_as_the_markdown(name, tmp_path):
    workbook = write_xlsx(name, tmp_path / f"{name}.xlsx")
    warnings: list[str] = []

    xform = convert(str(workbook), warnings=warnings).xform

    assert warnings == []
    assert xform == compiled(name)[0]


def test_xlsx_copy_has_one_worksheet_per_table_with_text_cells(tmp_path):
    workbook = load_workbook(write_xlsx("gate_log", tmp_path))

    assert workbook.sheetnames == ["survey", "choices", "settings"]
    settings = list(workbook["settings"].values)
    assert settings[0][:2] == ("form_id", "version")
    assert settings[1][:2] == ("gate_log", "2026120401")


def test_copy_templates_writes_every_template_as_xlsx(tmp_path):
    paths = copy_templates(tmp_path / "forms")

    assert [p.name for p in paths] == [f"{n}.xlsx" for n in TEMPLATES]
    assert all(p.stat().st_size > 0 for p in paths)


def test_unknown_template_name_is_refused_with_the_choices():
    with pytest.raises(TemplateError, match="household_registration"):
        source_path("households")


def test_markdown_notes_outside_tables_belong_to_no_sheet():
    sheets = read_sheets(source_path("household_registration"))

    assert list(sheets) == ["survey", "choices", "entities", "settings"]
    assert sheets["survey"][0][:2] == ["type", "name"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_names_its_building_for_the_ledger(name):
    building = spec_of(name).field("building")

    assert building is not None


@pytest.mark.parametrize("name", FLAT_FORMS)
def test_flat_templates_record_unit_and_room(name):
    spec = spec_of(name)

    assert spec.field("unit") is not None
    assert spec.field("room") is not None


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_question_has_chinese_and_english_labels(name):
    spec = spec_of(name)
    questions = [f for f in spec.fields if f.labels]

    assert questions
    for question in questions:
        assert question.labels.get(ZH) and question.labels.get(EN), question.path
        for choice in question.choices or ():
            assert choice.labels.get(ZH) and choice.labels.get(EN), choice.name


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_answered_field_is_shown_to_the_volunteer(name):
    # A field with no calculation and no preload must carry a label, or the
    # volunteer could never fill it.
    spec = spec_of(name)
    hidden = [
        f.path
        for f in spec.fields
        if not (f.labels or f.calculate or f.preload or f.path.startswith("meta/"))
    ]

    assert hidden == []


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_records_when_it_was_filled(name):
    spec = spec_of(name)

    assert spec.field("start").preload == "timestamp"
    assert spec.field("end").preload == "timestamp"
    assert spec.field("meta/instanceID") is not None


def test_household_registration_keys_households_and_residents_by_flat():
    entities = {e.dataset: e for e in spec_of("household_registration").entities}

    households, residents = entities["households"], entities["residents"]
    assert "/data/building" in households.id_calculate
    assert "/data/room" in households.id_calculate
    assert households.repeat is None
    assert residents.repeat == "resident"
    assert "full_name" in residents.id_calculate
    assert {"building", "unit", "room", "head_name", "status"} <= set(
        households.properties
    )
    assert {"full_name", "id_number", "close_contact"} <= set(residents.properties)


def test_household_registration_upserts_by_looking_in_the_tablet_list():
    # Create when the flat is not on the tablet's list yet, update when it is;
    # the conditions live in the binds of the entity's attributes.
    xform = compiled("household_registration")[0]
    key = "concat( /data/building ,'-', /data/unit ,'-', /data/room )"
    lookup = f"count(instance('households')/root/item[name={key}])"

    assert f'nodeset="/data/meta/entity/@create" calculate="{lookup} = 0"' in xform
    assert f'nodeset="/data/meta/entity/@update" calculate="{lookup} &gt; 0"' in xform
    assert 'src="jr://file-csv/households.csv"' in xform


def test_quarantine_followup_updates_the_resident_picked_from_the_list():
    spec = spec_of("quarantine_followup")
    (entity,) = spec.entities

    assert entity.dataset == "residents"
    assert entity.update == "1" and entity.create is None
    assert "residents.csv" in spec.media
    assert b"jr://file-csv/residents.csv" in spec.xml
    assert spec.field("resident").choice_file == "residents.csv"


def test_returnee_quarantine_ends_fourteen_days_after_return():
    calculate = spec_of("returnee_registration").field("quarantine_end").calculate

    assert "/data/return_date" in calculate and "+ 14" in calculate


def test_disinfection_photo_is_kept_small():
    xform = compiled("disinfection_log")[0]

    assert 'orx:max-pixels="1024"' in xform


def test_supplies_can_be_kept_at_the_office():
    building = spec_of("supplies_stock").field("building")

    assert "office" in [c.name for c in building.choices]


def test_shipped_library_passes_doorsteps_own_checks_with_no_warning(tmp_path):
    from doorstep.forms.checks import check_forms
    from doorstep.forms.templates import copy_templates

    compiled = check_forms(copy_templates(tmp_path))

    assert [str(p) for form in compiled for p in form.problems] == []
    assert all(form.ok for form in compiled)
