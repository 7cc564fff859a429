"""Fixtures shared across doorstep's tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pyxform.xls2xform import convert

from doorstep.sync.deployment import Deployment, init_deployment
from doorstep.sync.registry import FormRegistry

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    """The shared corpus of real forms and submissions, beside the clone."""
    if not (CORPUS / "SOURCES.tsv").is_file():
        pytest.skip(
            f"the shared corpus is not at {CORPUS}; it sits beside the "
            "repository on the team's machines and CI, not on a user's"
        )

    return CORPUS


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return init_deployment(tmp_path / "deployment", name="test office")


def write_md_form(folder: Path, name: str, text: str) -> Path:
    """Write a markdown XLSForm (pyxform's table format) to ``folder``."""
    path = folder / f"{name}.md"
    path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")

    return path


def compile_md(folder: Path, name: str, text: str) -> str:
    """Compile an inline markdown XLSForm into XForm XML."""
    return convert(str(write_md_form(folder, name, text))).xform


def publish_md(deployment: Deployment, name: str, text: str) -> str:
    """Compile and publish an inline markdown XLSForm; returns the XForm."""
    xform = compile_md(deployment.root, name, text)
    FormRegistry(deployment.data_dir).publish(xform)

    return xform
