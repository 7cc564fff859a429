"""The ODK entity example forms from the corpus merge as ODK Central would."""

from __future__ import annotations

from pyxform.xls2xform import convert

from doorstep.sync.entities import NO_BUILDING
from doorstep.sync.ledgers import entity_list_csv, ledger_rows
from doorstep.sync.merge import merge
from doorstep.sync.registry import FormRegistry
from tests.sync.test_merge import submit

TREE_1 = "0d8a3e0c-1f2b-4c5d-9e6f-7a8b9c0d1e2f"
TREE_2 = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"


def registration(iid: str, tree: str, species: str, cm: int, end: str) -> bytes:
    return (
        '<data id="trees_registration" version="2022110901">'
        f"<location>-1.28 36.82 0 5</location><species>{species}</species>"
        f"<circumference>{cm}</circumference><intake_notes/>"
        f'<meta><entity dataset="trees" create="1" id="{tree}">'
        f"<label>{cm}cm {species}</label></entity><instanceID>{iid}</instanceID>"
        f"<instanceName>{species}</instanceName><timeEnd>{end}</timeEnd></meta></data>"
    ).encode()


def follow_up(iid: str, tree: str, cm: int) -> bytes:
    return (
        '<data id="trees_follow_up" version="2022111801">'
        f"<tree>{tree}</tree><species>wallaba</species>"
        f"<prior_circumference>20</prior_circumference><circumference>{cm}"
        f"</circumference><circumference_warning/><meta><instanceID>{iid}"
        "</instanceID><instanceName>t</instanceName></meta></data>"
    ).encode()


def test_trees_are_created_and_follow_ups_become_log_rows(deployment, corpus):
    folder = corpus / "onadata-entities"
    registry = FormRegistry(deployment.data_dir)
    for name in ("trees_registration", "trees_follow_up"):
        registry.publish(convert(str(folder / f"{name}.xlsx")).xform)
    submit(
        deployment,
        registration("uuid:r1", TREE_1, "wallaba", 20, "2022-11-20T10:00:00.000+03:00"),
    )
    submit(
        deployment,
        registration("uuid:r2", TREE_2, "mora", 35, "2022-11-20T11:00:00.000+03:00"),
    )
    submit(deployment, follow_up("uuid:f1", TREE_1, 22))

    summary = merge(deployment)

    assert summary.entities == {"trees": 2}
    assert summary.log_rows == {"trees_follow_up": 1}
    lines = entity_list_csv(deployment, "trees").decode().splitlines()
    assert lines[0] == "name,label,__version,geometry,species,circumference_cm"
    assert lines[1] == f"{TREE_1},20cm wallaba,1,-1.28 36.82 0 5,wallaba,20"
    sheets = ledger_rows(deployment, NO_BUILDING)
    assert [
        row["Select the tree you are visiting"] for row in sheets["trees_follow_up"]
    ] == [TREE_1]
    assert len(sheets["trees"]) == 2
