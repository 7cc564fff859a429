"""Simulated submissions: plausible, deterministic, and readable as real ones."""

from __future__ import annotations

import functools
import random
import re
import zlib
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pyxform.xls2xform import convert

from doorstep.forms import fakes
from doorstep.forms.instance import find, parse_instance
from doorstep.forms.record import read_record
from doorstep.forms.simulate import Filled, fill
from doorstep.forms.spec import FormSpec, read_spec
from doorstep.forms.templates import TEMPLATES, source_path
from doorstep.forms.xml import local_name

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
CORPUS_FORMS = (
    "onadata-tutorial/tutorial.xlsx",
    "onadata-new-repeats/new_repeats.xlsx",
    "onadata-misc/household.xlsx",
    "onadata-entities/trees_registration.xlsx",
    "onadata-entities/trees_follow_up.xlsx",
    "pyxform-fixtures/xlsform_spec_test.xlsx",
    "pyxform-fixtures/UCL_Biomass_Plot_Form.xlsx",
    "onadata-misc/external_choice_form_v1.xlsx",
)
WHEN = datetime.fromisoformat("2026-12-04T09:30:00+08:00")


@functools.cache
def template_spec(name: str) -> FormSpec:
    return read_spec(convert(str(source_path(name))).xform)


@functools.cache
def corpus_spec(relative: str) -> FormSpec:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"the shared corpus has no {relative} (looked in {CORPUS})")

    return read_spec(convert(str(path)).xform)


def problems(spec: FormSpec, filled: Filled) -> list:
    return read_record(spec, parse_instance(filled.xml)).problems


def entity_rows(spec: FormSpec, submissions: list[Filled]) -> dict[str, list[dict]]:
    """The entity lists a tablet would hold after ``submissions``."""
    lists: dict[str, dict[str, dict]] = {}
    for filled in submissions:
        root = parse_instance(filled.xml).root
        for decl in spec.entities:
            for scope, base in scopes(root, decl.repeat):
                entity = find(scope, decl.path[len(base) :])
                row = lists.setdefault(decl.dataset, {}).setdefault(
                    entity.get("id"), {"__version": "0"}
                )
                label = find(entity, "label")
                row["name"] = entity.get("id")
                row["label"] = label.text if label is not None else ""
                row["__version"] = str(int(row["__version"]) + 1)
                for prop, path in decl.properties.items():
                    row[prop] = find(scope, path[len(base) :]).text or ""

    return {name: list(rows.values()) for name, rows in lists.items()}


def scopes(root, repeat: str | None):
    if repeat is None:
        return [(root, "")]
    *outer, name = repeat.split("/")
    parent = find(root, "/".join(outer)) if outer else root

    return [(item, repeat + "/") for item in parent if local_name(item.tag) == name]


@pytest.mark.parametrize(
    "name",
    TEMPLATES,
)
def test_template_simulations_read_back_without_problems(name):
    spec = template_spec(name)
    rng = random.Random(name)

    found = [p for _ in range(50) for p in problems(spec, fill(spec, rng, when=WHEN))]

    assert found == []


@pytest.mark.parametrize("relative", CORPUS_FORMS)
def test_corpus_form_simulations_read_back_without_problems(relative):
    spec = corpus_spec(relative)
    rng = random.Random(relative)

    found = [p for _ in range(20) for p in problems(spec, fill(spec, rng, when=WHEN))]

    assert found == []


def test_nested_repeats_nest_in_the_instance():
    spec = corpus_spec("onadata-misc/household.xlsx")

    root = parse_instance(fill(spec, random.Random(3), when=WHEN).xml).root

    women = [c for c in root if local_name(c.tag) == "woman"]
    assert 1 <= len(women) <= 4
    assert all(find(w, "child/name").text for w in women)


def test_same_rng_seed_gives_the_same_submission():
    spec = template_spec("household_registration")

    first = fill(spec, random.Random(7), when=WHEN, device_id="collect:a")
    second = fill(spec, random.Random(7), when=WHEN, device_id="collect:a")

    assert first == second
    assert first != fill(spec, random.Random(8), when=WHEN)


def test_root_carries_form_id_and_version_and_instance_id():
    spec = template_spec("gate_log")

    filled = fill(spec, random.Random(1), when=WHEN)
    instance = parse_instance(filled.xml)

    assert instance.root.tag == spec.root_name
    assert (instance.form_id, instance.version) == ("gate_log", spec.version)
    assert re.fullmatch(r"uuid:[0-9a-f-]{36}", filled.instance_id)
    assert instance.instance_id == filled.instance_id
    assert instance.text("start") == "2026-12-04T09:30:00.000+08:00"


def test_version_attribute_is_left_out_when_the_form_has_none():
    spec = corpus_spec("onadata-tutorial/tutorial.xlsx")

    xml = fill(spec, random.Random(1), when=WHEN).xml

    assert xml.startswith(b'<data id="tutorial">')


def test_household_keys_collide_across_two_devices():
    spec = template_spec("household_registration")
    keys = {}
    for device in ("collect:a", "collect:b"):
        rng = random.Random(device)
        fills = [fill(spec, rng, device_id=device, when=WHEN) for _ in range(25)]
        keys[device] = {row["name"] for row in entity_rows(spec, fills)["households"]}

    assert keys["collect:a"] & keys["collect:b"]


def test_household_entity_id_is_building_unit_room():
    spec = template_spec("household_registration")

    instance = parse_instance(fill(spec, random.Random(2), when=WHEN).xml)
    entity = find(instance.root, "meta/entity")

    flat = [instance.text(f) for f in ("building", "unit", "room")]
    assert entity.get("id") == "-".join(flat)
    assert (entity.get("create"), entity.get("update")) == ("true", "false")
    assert find(entity, "label").text == "{}号楼{}单元{}".format(*flat)


def test_flat_already_on_the_list_is_updated_from_its_version():
    spec = template_spec("household_registration")
    first = fill(spec, random.Random(5), when=WHEN)
    lists = entity_rows(spec, [first])
    lists["households"][0]["__version"] = "3"

    again = fill(spec, random.Random(5), when=WHEN, lists=lists)
    entity = find(parse_instance(again.xml).root, "meta/entity")

    assert (entity.get("create"), entity.get("update")) == ("false", "true")
    assert entity.get("baseVersion") == "3"


def test_returnee_quarantine_ends_fourteen_days_after_return():
    spec = template_spec("returnee_registration")

    instance = parse_instance(fill(spec, random.Random(4), when=WHEN).xml)

    returned = date.fromisoformat(instance.text("return_date"))
    assert returned <= WHEN.date()
    ends = date.fromisoformat(instance.text("quarantine_end"))
    assert ends == returned + timedelta(days=14)


def test_followup_picks_a_listed_resident_and_counts_the_day():
    returnee = template_spec("returnee_registration")
    returns = [fill(returnee, random.Random(i), when=WHEN) for i in range(5)]
    lists = entity_rows(returnee, returns)
    spec = template_spec("quarantine_followup")

    instance = parse_instance(fill(spec, random.Random(9), when=WHEN, lists=lists).xml)

    row = next(r for r in lists["residents"] if r["name"] == instance.text("resident"))
    assert instance.text("building") == row["building"]
    day = (WHEN.date() - date.fromisoformat(row["return_date"])).days
    assert instance.text("quarantine_day") == str(day)
    entity = find(instance.root, "meta/entity")
    assert entity.get("id") == row["name"] and entity.get("baseVersion") == "1"


def test_values_keep_the_templates_constraints():
    spec = template_spec("household_registration")
    rng = random.Random(11)

    for _ in range(30):
        root = parse_instance(fill(spec, rng, when=WHEN).xml).root
        assert 1 <= int(find(root, "unit").text) <= 6
        assert re.fullmatch(r"[1-6]0[12]", find(root, "room").text)
        assert re.fullmatch(r"1[3-9]\d{9}", find(root, "phone").text)
        for card in root.iter("id_number"):
            assert fakes.id_check(card.text[:17]) == card.text[17]


def test_gate_temperatures_stay_in_the_plausible_range():
    spec = template_spec("gate_log")
    rng = random.Random(12)

    readings = [
        float(parse_instance(fill(spec, rng, when=WHEN).xml).text("temperature"))
        for _ in range(30)
    ]

    assert all(35 <= t <= 42 for t in readings)


def test_vehicle_pass_is_only_answered_for_vehicles():
    spec = template_spec("gate_log")
    rng = random.Random(13)

    for _ in range(30):
        instance = parse_instance(fill(spec, rng, when=WHEN).xml)
        is_vehicle = instance.text("visitor_kind") == "vehicle"
        assert bool(instance.text("vehicle_pass")) == is_vehicle


def test_photo_is_a_real_png_named_in_the_xml():
    spec = template_spec("disinfection_log")

    filled = fill(spec, random.Random(6), when=WHEN)

    name = parse_instance(filled.xml).text("photo")
    data = filled.attachments[name]
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    assert len(zlib.decompress(data[idat + 4 : idat + 4 + length])) == 8 * (1 + 24)


def test_attachments_can_be_left_out():
    spec = template_spec("disinfection_log")

    filled = fill(spec, random.Random(6), when=WHEN, attachments=False)

    assert filled.attachments == {}
    assert parse_instance(filled.xml).text("photo") == ""


def test_invented_id_numbers_carry_a_valid_check_character():
    rng = random.Random(14)

    cards = [fakes.id_card(rng, birth_year=1950 + i) for i in range(20)]

    assert all(len(c) == 18 and fakes.id_check(c[:17]) == c[17] for c in cards)
    assert fakes.id_check("11010519491231002") == "X"
