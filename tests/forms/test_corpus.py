"""Real forms and submissions from the shared corpus.

SOURCES.tsv records what pyxform 4.5 itself does with each XLSForm; doorstep
must compile the same forms and turn each failure into one located line.
"""

from __future__ import annotations

import csv
import functools
import re
from decimal import Decimal
from pathlib import Path

import pytest

from doorstep.forms.compile import compile_form
from doorstep.forms.instance import parse_instance
from doorstep.forms.record import read_record

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
RESULT = "pyxform_4.5.0_xls2xform_result"


def xlsform_rows() -> list[dict]:
    sources = CORPUS / "SOURCES.tsv"
    if not sources.is_file():
        return []
    with sources.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [row for row in rows if row["kind"] == "xlsform"]


def need_corpus() -> Path:
    if not (CORPUS / "SOURCES.tsv").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS.resolve()}")

    return CORPUS


ROWS = xlsform_rows()
CONVERTING = [r["local_path"] for r in ROWS if r[RESULT].startswith("converts OK")]
FAILING = [(r["local_path"], r[RESULT]) for r in ROWS if r[RESULT].startswith("ERROR")]


@pytest.mark.parametrize("local_path", CONVERTING or ["(corpus absent)"])
def test_corpus_form_that_pyxform_converts_compiles_ok(local_path):
    corpus = need_corpus()

    form = compile_form(corpus / local_path)

    assert form.ok, [str(p) for p in form.problems]
    assert form.spec is not None


@pytest.mark.parametrize(("local_path", "result"), FAILING or [("(absent)", "")])
def test_corpus_form_that_pyxform_rejects_gives_one_located_error(local_path, result):
    corpus = need_corpus()

    form = compile_form(corpus / local_path)

    lines = [str(p) for p in form.problems if p.level == "error"]
    assert len(lines) == 1
    assert lines[0].startswith(Path(local_path).name + ":")
    assert "Traceback" not in lines[0]
    row = re.match(r"ERROR: \[row : (\d+)\]", result)
    if row:
        assert lines[0].startswith(f"{Path(local_path).name}:survey:{row[1]}:")


def test_known_failures_name_their_rows():
    corpus = need_corpus()

    meta = compile_form(corpus / "cht-pih-malawi/household-create.xlsx")
    lists = compile_form(corpus / "hotosm-osm-fieldwork/buildings.xls")

    assert str(meta.problems[0]).startswith(
        'household-create.xlsx:survey:35: the name "meta" is reserved'
    )
    assert str(lists.problems[0]).startswith(
        'buildings.xls:survey:34:type: the choice list "yes_no" is not'
    )


@functools.cache
def spec_of(relative: str):
    form = compile_form(need_corpus() / relative)
    assert form.ok

    return form.spec


# nan_net_worth.xml carries "NAN" in networth_calc, a calculate without a
# type, so a string: it reads without problem. Were it a decimal field, NaN
# would be a problem: xs:decimal has no NaN, and it is what a failed
# calculation leaves behind, which totals in a ledger must not absorb.
TUTORIAL = ["1.xml", "2.xml", "3.xml", "nan_net_worth.xml", "no_age.xml"]


@pytest.mark.parametrize("name", TUTORIAL)
def test_tutorial_submission_reads_without_problem(name):
    spec = spec_of("onadata-tutorial/tutorial.xlsx")
    xml = (CORPUS / "onadata-tutorial" / name).read_bytes()

    record = read_record(spec, parse_instance(xml))

    assert record.problems == []
    assert isinstance(record.values["net_worth"], Decimal)
    assert record.values["location"].lat == pytest.approx(-1.2988729)


def test_tutorial_submission_values_are_typed():
    spec = spec_of("onadata-tutorial/tutorial.xlsx")
    xml = (CORPUS / "onadata-tutorial" / "nan_net_worth.xml").read_bytes()

    values = read_record(spec, parse_instance(xml)).values

    assert values["age"] == 23
    assert values["favorite_toppings"] == ["green_peppers", "pepperoni"]
    assert values["networth_calc"] == "NAN"
    assert values["start_time"].utcoffset().total_seconds() == 3 * 3600


@pytest.mark.parametrize(
    "name",
    [
        "new_repeats_01.xml",
        "new_repeats_02.xml",
        "new_repeats_2012-07-05-14-33-53.xml",
    ],
)
def test_new_repeats_submission_reads_its_repeat_items(name):
    spec = spec_of("onadata-new-repeats/new_repeats.xlsx")
    xml = (CORPUS / "onadata-new-repeats" / name).read_bytes()

    record = read_record(spec, parse_instance(xml))

    assert record.problems == []
    kids = record.values["kids/kids_details"]
    assert kids and all(isinstance(kid["kids_age"], int) for kid in kids)


def test_duplicate_single_node_is_flagged():
    spec = spec_of("onadata-new-repeats/new_repeats.xlsx")
    xml = (CORPUS / "onadata-new-repeats" / "multiple_nodes_error.xml").read_bytes()

    record = read_record(spec, parse_instance(xml))

    (problem,) = record.problems
    assert (problem.path, problem.value) == ("info/name", "Adam")
    assert record.values["info/name"] == "Adam"
