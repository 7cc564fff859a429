from __future__ import annotations

from doorstep.sync.ingest import Ingest, Outcome
from doorstep.sync.registry import FormRegistry
from tests.conftest import publish_md

GATE = """
| survey |          |          |          |
|        | type     | name     | label    |
|        | text     | visitor  | Visitor  |
|        | text     | building | Building |
|        | image    | photo    | Photo    |
| settings |           |         |
|          | form_id   | version |
|          | gate      | 2       |
"""


def _xml(instance_id: str, visitor: str = "王", version: str = "2", extra: str = ""):
    return (
        f'<data id="gate" version="{version}"><visitor>{visitor}</visitor>'
        f"<building>3</building><photo>p.jpg</photo>"
        f"<meta><instanceID>{instance_id}</instanceID>{extra}</meta></data>"
    ).encode()


def test_new_submission_is_created_and_waits_for_its_photo(deployment):
    publish_md(deployment, "gate", GATE)

    result = Ingest(deployment).submit(_xml("uuid:1"), {}, device_id="collect:x")

    assert result.outcome is Outcome.CREATED
    assert result.submission.expected == ("p.jpg",)
    assert not result.submission.complete
    assert "p.jpg" in result.message


def test_photo_in_a_later_part_completes_the_submission(deployment):
    publish_md(deployment, "gate", GATE)
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:1"), {})

    result = ingest.submit(_xml("uuid:1"), {"p.jpg": b"\xff\xd8"})

    assert result.outcome is Outcome.DUPLICATE
    assert result.submission.complete


def test_attachment_name_with_a_path_keeps_only_its_base_name(deployment):
    publish_md(deployment, "gate", GATE)

    result = Ingest(deployment).submit(_xml("uuid:1"), {"../../etc/p.jpg": b"x"})

    assert set(result.submission.attachments) == {"p.jpg"}


def test_unknown_form_is_refused_with_its_id_named(deployment):
    result = Ingest(deployment).submit(_xml("uuid:1"), {})

    assert result.outcome is Outcome.UNKNOWN_FORM
    assert "'gate'" in result.message


def test_closed_form_refuses_and_closing_form_accepts(deployment):
    publish_md(deployment, "gate", GATE)
    registry, ingest = FormRegistry(deployment.data_dir), Ingest(deployment)

    registry.set_state("gate", "closing")
    assert ingest.submit(_xml("uuid:1"), {}).outcome is Outcome.CREATED
    registry.set_state("gate", "closed")
    assert ingest.submit(_xml("uuid:2"), {}).outcome is Outcome.FORM_CLOSED


def test_unpublished_version_is_stored_and_flagged(deployment):
    publish_md(deployment, "gate", GATE)

    result = Ingest(deployment).submit(_xml("uuid:1", version="9"), {})

    assert result.outcome is Outcome.CREATED
    assert result.submission.flags == ("version 9 was never published",)


def test_edits_follow_the_chain_and_refuse_stale_copies(deployment):
    publish_md(deployment, "gate", GATE)
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:1"), {})
    edit = "<deprecatedID>uuid:1</deprecatedID>"

    first = ingest.submit(_xml("uuid:2", "李", extra=edit), {})
    stale = ingest.submit(_xml("uuid:3", "赵", extra=edit), {})
    unknown = ingest.submit(
        _xml("uuid:4", extra="<deprecatedID>uuid:nope</deprecatedID>"), {}
    )

    assert first.outcome is Outcome.CREATED
    assert stale.outcome is Outcome.EDIT_OUT_OF_DATE
    assert unknown.outcome is Outcome.EDIT_UNKNOWN
    assert ingest.store.get("uuid:3") is None
    kept = ingest.store.get("uuid:4")
    assert "edit of a submission the server never received" in kept.flags


def test_submission_without_instance_id_is_kept_under_its_content_hash(deployment):
    publish_md(deployment, "gate", GATE)
    xml = b'<data id="gate" version="2"><visitor>x</visitor></data>'
    ingest = Ingest(deployment)

    first = ingest.submit(xml, {})
    again = ingest.submit(xml, {})

    assert first.outcome is Outcome.CREATED
    assert first.instance_id.startswith("sha256:")
    assert again.outcome is Outcome.DUPLICATE
    assert "no instanceID" in first.submission.flags


def test_entity_expansion_is_refused_as_malformed(deployment):
    publish_md(deployment, "gate", GATE)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><data id="gate">&b;</data>'
    )

    result = Ingest(deployment).submit(bomb, {})

    assert result.outcome is Outcome.MALFORMED
    assert "DTD" in result.message


def test_unpublished_numeric_version_is_read_with_the_nearest_one(deployment):
    publish_md(deployment, "gate", GATE.replace("| 2       |", "| 100     |"))
    publish_md(
        deployment,
        "gate",
        GATE.replace("| 2       |", "| 200     |").replace("Visitor  |", "Guest    |"),
    )
    registry = FormRegistry(deployment.data_dir)

    assert registry.closest("gate", "120").version == "100"
    assert registry.closest("gate", "190").version == "200"
    assert registry.closest("gate", "200").version == "200"


def test_edit_naming_a_submission_of_another_form_is_refused(deployment):
    publish_md(deployment, "gate", GATE)
    publish_md(deployment, "other", GATE.replace("| gate      |", "| other     |"))
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:1"), {})
    other = _xml("uuid:2", extra="<deprecatedID>uuid:1</deprecatedID>")

    result = ingest.submit(other.replace(b'id="gate"', b'id="other"'), {})

    assert result.outcome is Outcome.EDIT_OUT_OF_DATE
    assert ingest.store.get("uuid:1").replaced_by is None


def test_racing_edits_of_one_original_leave_exactly_one_winner(deployment):
    import threading

    publish_md(deployment, "gate", GATE)
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:orig"), {})
    barrier = threading.Barrier(8)
    outcomes = []

    def edit(n: int) -> None:
        xml = _xml(f"uuid:e{n}", extra="<deprecatedID>uuid:orig</deprecatedID>")
        barrier.wait()
        outcomes.append(ingest.submit(xml, {}).outcome)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count(Outcome.CREATED) == 1
    assert outcomes.count(Outcome.EDIT_OUT_OF_DATE) == 7
    winner = ingest.store.get("uuid:orig").replaced_by
    assert ingest.store.get(winner) is not None
    assert ingest.store.count() == 2


def test_resend_after_the_form_closed_is_still_acknowledged(deployment):
    publish_md(deployment, "gate", GATE)
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:1"), {})
    FormRegistry(deployment.data_dir).set_state("gate", "closed")

    assert ingest.submit(_xml("uuid:1"), {}).outcome is Outcome.DUPLICATE
    assert ingest.submit(_xml("uuid:2"), {}).outcome is Outcome.FORM_CLOSED


def test_device_not_allowed_a_form_is_told_so(deployment):
    publish_md(deployment, "gate", GATE)

    result = Ingest(deployment).submit(_xml("uuid:1"), {}, allowed=lambda f: False)

    assert result.outcome is Outcome.NOT_ALLOWED
    assert "may not send" in result.message
