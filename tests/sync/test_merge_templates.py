"""The shipped templates, simulated and merged, make consistent ledgers."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyxform.xls2xform import convert

from doorstep.forms.spec import read_spec
from doorstep.sync.ingest import Ingest
from doorstep.sync.ledgers import entity_list_csv
from doorstep.sync.merge import merge
from doorstep.sync.registry import FormRegistry
from tests.sync.test_merge import exported

TEMPLATES = Path(__file__).resolve().parents[2] / "forms" / "templates"
BEIJING = timezone(timedelta(hours=8))
REGISTER = ("household_registration", "returnee_registration")


def _publish(deployment) -> dict:
    simulate = pytest.importorskip("doorstep.forms.simulate")
    registry = FormRegistry(deployment.data_dir)
    specs = {}
    for path in sorted(TEMPLATES.glob("*.md")):
        xform = convert(str(path)).xform
        registry.publish(xform)
        specs[path.stem] = read_spec(xform)

    return simulate, specs


def _lists(deployment) -> dict[str, list[dict[str, str]]]:
    found = {}
    for name in ("households", "residents"):
        text = entity_list_csv(deployment, name)
        if text:
            found[name] = list(csv.DictReader(io.StringIO(text.decode("utf-8"))))

    return found


def test_simulated_templates_merge_the_same_incrementally_and_rebuilt(
    deployment, tmp_path
):
    simulate, specs = _publish(deployment)
    rng = random.Random(7)
    ingest = Ingest(deployment)
    start = datetime(2026, 12, 1, 9, tzinfo=BEIJING)
    for day in range(3):
        lists = _lists(deployment)
        for form_id, spec in sorted(specs.items()):
            count = 4 if form_id in REGISTER else 2
            for n in range(count):
                when = start + timedelta(days=day, minutes=17 * n)
                filled = simulate.fill(
                    spec, rng, lists=lists, when=when, device_id=f"tablet-{n % 2}"
                )
                result = ingest.submit(
                    filled.xml, filled.attachments, device_id=f"tablet-{n % 2}"
                )
                assert result.accepted, (form_id, result.message)
        summary = merge(deployment)
    incremental = exported(deployment, tmp_path / "a")

    merge(deployment, rebuild=True)

    assert exported(deployment, tmp_path / "b") == incremental
    assert summary.entities.get("households", 0) > 0
    assert summary.entities.get("residents", 0) > 0
    assert "gate_log" in summary.log_rows
    assert summary.unreadable == []
