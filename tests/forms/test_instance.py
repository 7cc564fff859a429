"""A submission's envelope: which form, which version, which instance."""

from __future__ import annotations

import pytest

from doorstep.forms.instance import InstanceError, find, parse_instance


def test_envelope_is_read_from_attributes_and_meta():
    instance = parse_instance(
        b'<tutorial id="tutorial" version="3"><name>Li</name><meta>'
        b"<instanceID>uuid:2</instanceID><deprecatedID>uuid:1</deprecatedID>"
        b"</meta></tutorial>"
    )

    assert (instance.form_id, instance.version) == ("tutorial", "3")
    assert (instance.instance_id, instance.deprecated_id) == ("uuid:2", "uuid:1")
    assert instance.id_derived is False
    assert instance.text("name") == "Li"


def test_missing_instance_id_is_derived_from_content():
    xml = b'<data id="f"><a>1</a></data>'

    first, again = parse_instance(xml), parse_instance(xml)

    assert first.id_derived
    assert first.instance_id.startswith("sha256:")
    assert first.instance_id == again.instance_id


def test_submission_without_form_id_is_refused():
    with pytest.raises(InstanceError, match="which form"):
        parse_instance(b"<data><a>1</a></data>")


def test_entity_expansion_is_refused():
    xml = b'<!DOCTYPE d [<!ENTITY e "x">]><data id="f">&e;</data>'

    with pytest.raises(InstanceError, match="DTD"):
        parse_instance(xml)


def test_find_ignores_namespaces():
    instance = parse_instance(b'<data xmlns="urn:x" id="f"><g><a>1</a></g></data>')

    assert find(instance.root, "g/a").text == "1"
    assert find(instance.root, "g/b") is None
