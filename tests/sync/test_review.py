from __future__ import annotations

from doorstep.sync.ingest import Ingest
from doorstep.sync.review import review_item, review_queue
from tests.conftest import publish_md

VISIT = """
| survey |            |          |          |
|        | type       | name     | label    |
|        | integer    | age      | Age      |
|        | text       | building | Building |
|        | image      | photo    | Photo    |
| settings |          |         |
|          | form_id  | version |
|          | visit    | 1       |
"""


def _xml(instance_id: str, age: str = "30", photo: str = "", version: str = "1"):
    return (
        f'<data id="visit" version="{version}"><age>{age}</age><building>1</building>'
        f"<photo>{photo}</photo><meta><instanceID>{instance_id}</instanceID></meta>"
        "</data>"
    ).encode()


def test_clean_submission_is_not_in_the_queue(deployment):
    publish_md(deployment, "visit", VISIT)
    Ingest(deployment).submit(_xml("uuid:ok"), {})

    assert list(review_queue(deployment)) == []
    assert review_item(deployment, "uuid:ok").problems == []


def test_ill_typed_value_is_stored_and_flagged_with_its_text(deployment):
    publish_md(deployment, "visit", VISIT)
    result = Ingest(deployment).submit(_xml("uuid:bad", age="thirty"), {})

    queue = list(review_queue(deployment))

    assert result.accepted
    assert [item.submission.instance_id for item in queue] == ["uuid:bad"]
    assert queue[0].problems[0].path == "age"
    assert queue[0].problems[0].value == "thirty"
    assert queue[0].record.values["age"] == "thirty"


def test_missing_photo_and_unpublished_version_are_reasons(deployment):
    publish_md(deployment, "visit", VISIT)
    ingest = Ingest(deployment)
    ingest.submit(_xml("uuid:p", photo="a.jpg"), {})
    ingest.submit(_xml("uuid:v", version="5"), {})

    reasons = {i.submission.instance_id: i.reasons for i in review_queue(deployment)}

    assert reasons["uuid:p"] == ["waiting for files: a.jpg"]
    assert reasons["uuid:v"] == ["version 5 was never published"]


def test_unknown_submission_is_none(deployment):
    assert review_item(deployment, "uuid:nothing") is None
