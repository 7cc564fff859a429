"""The main job end to end: real server process, real HTTP, real workbooks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from doorstep.forms.instance import parse_instance
from doorstep.forms.record import read_record
from doorstep.server.process import spawn_serve
from doorstep.sync.deployment import open_deployment
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import Store


def doorstep(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "doorstep", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr

    return result


@pytest.fixture
def served(tmp_path: Path):
    """A deployment with the shipped forms, served by `doorstep serve`."""
    office = tmp_path / "office"
    doorstep("init", str(office))
    doorstep(
        "--dir",
        str(office),
        "forms",
        "add",
        *map(str, (office / "forms").glob("*.xlsx")),
    )
    server = spawn_serve(office, log=tmp_path / "serve.log")
    yield office, server.url
    server.stop()


def _device_url(office: Path, base: str, name: str) -> str:
    added = doorstep(
        "--dir", str(office), "device", "add", name, "--server-url", base, "--json"
    )

    return json.loads(added.stdout)["url"]


def _simulated_buildings(office: Path) -> set[str]:
    deployment = open_deployment(office)
    registry, store = FormRegistry(deployment.data_dir), Store(deployment.data_dir)
    buildings = set()
    for stored in store.iter():
        spec = registry.get(stored.form_id, stored.version).spec
        record = read_record(spec, parse_instance(store.read_xml(stored)))
        value = record.values.get("building")
        if value:
            buildings.add(str(value))

    return buildings


def test_serve_simulate_merge_writes_a_workbook_per_building(served):
    office, base = served
    url = _device_url(office, base, "tablet-1")

    simulated = doorstep(
        "simulate",
        "--server",
        url,
        "--devices",
        "3",
        "--per-device",
        "12",
        "--seed",
        "7",
    )
    doorstep("--dir", str(office), "merge")

    assert "36 submissions and 3 resends" in simulated.stdout
    assert "39 x 201" in simulated.stdout
    status = json.loads(doorstep("--dir", str(office), "status", "--json").stdout)
    assert status["submissions"] == 36
    assert len(status["forms"]) == 7, "every shipped form was filled and sent"
    assert status["devices"]["tablet-1"]["submissions"] == 36
    workbooks = sorted((office / "data" / "ledgers").glob("*.xlsx"))
    titles = {load_workbook(path, read_only=True).sheetnames[0] for path in workbooks}
    assert workbooks and titles
    expected = _simulated_buildings(office)
    written = " ".join(path.stem for path in workbooks)
    assert all(building in written for building in expected)


def test_households_lists_are_served_in_the_odk_entity_list_format(served):
    office, base = served
    url = _device_url(office, base, "tablet-1")
    doorstep("simulate", "--server", url, "--devices", "2", "--per-device", "10")

    doorstep("--dir", str(office), "merge")

    lists = office / "data" / "ledgers" / "lists"
    header = (lists / "households.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("name,label,__version,")


def test_corpus_device_submissions_are_accepted_and_merged(served, corpus):
    office, base = served
    tutorial = corpus / "onadata-tutorial"
    doorstep("--dir", str(office), "forms", "add", str(tutorial / "tutorial.xlsx"))
    url = _device_url(office, base, "tablet-1")
    import requests

    answers = [
        requests.post(
            f"{url}/submission?deviceID=collect:corpus",
            files={
                "xml_submission_file": (
                    "s.xml",
                    (tutorial / n).read_bytes(),
                    "text/xml",
                )
            },
        ).status_code
        for n in ("1.xml", "2.xml", "3.xml", "no_age.xml", "nan_net_worth.xml")
    ]
    doorstep("--dir", str(office), "merge")
    exported = office / "export"
    doorstep(
        "--dir",
        str(office),
        "ledger",
        "export",
        "--format",
        "json",
        "--out",
        str(exported),
    )

    assert answers == [201] * 5
    dumped = " ".join(p.read_text(encoding="utf-8") for p in exported.rglob("*.json"))
    for instance_id in ("uuid:8710c719-00a5-41f1-b740-8dd618bb4a59",):
        assert instance_id in dumped or "Efgh" in dumped


def test_demo_runs_the_main_job_and_its_workbooks_open(tmp_path):
    result = doorstep("demo", str(tmp_path / "demo"))

    assert "received      200 submissions" in result.stdout
    workbooks = list((tmp_path / "demo" / "data" / "ledgers").glob("*.xlsx"))
    assert len(workbooks) >= 2
    for path in workbooks:
        assert load_workbook(path).sheetnames


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")

    result = doorstep("demo", str(tmp_path / "busy"), check=False)

    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert "Traceback" not in result.stderr
