"""The merge is a pure function of the set of submissions (hypothesis)."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doorstep.sync.deployment import init_deployment
from doorstep.sync.merge import merge
from doorstep.sync.registry import FormRegistry
from tests.conftest import compile_md
from tests.sync.test_merge import (
    FOLLOW_UP,
    GATE,
    HOUSEHOLD,
    exported,
    follow_up_xml,
    gate_xml,
    household_xml,
    submit,
    when,
)

DEVICES = ("tablet-1", "tablet-2", "tablet-3")
FLATS = (("1", "101"), ("1", "102"), ("2", "101"))


@cache
def xforms() -> tuple[str, ...]:
    folder = Path(tempfile.mkdtemp(prefix="doorstep-forms-"))
    return tuple(
        compile_md(folder, name, text)
        for name, text in (
            ("household", HOUSEHOLD),
            ("quarantine_followup", FOLLOW_UP),
            ("gate_log", GATE),
        )
    )


@st.composite
def submission_sets(draw) -> list[tuple[str, bytes, str, str | None]]:
    """(instance id, xml, device, id of the submission it edits)."""
    made: list[tuple[str, bytes, str, str | None]] = []
    count = draw(st.integers(3, 12))
    for n in range(count):
        kind = draw(st.sampled_from(["create", "update", "edit", "gate", "resend"]))
        device = draw(st.sampled_from(DEVICES))
        end = when(draw(st.integers(1, 3)), draw(st.integers(8, 9)))
        building, room = draw(st.sampled_from(FLATS))
        iid = f"uuid:{n}"
        if kind == "create" or (kind == "edit" and not _editable(made)):
            head = draw(st.sampled_from(["张三", "李四"]))
            xml = household_xml(
                iid,
                building,
                room,
                head,
                "1",
                [(head, "", draw(st.sampled_from(["", "2026-12-01"])))],
                end=end,
            )
            made.append((iid, xml, device, None))
        elif kind == "edit":
            target = draw(st.sampled_from(_editable(made)))
            xml = household_xml(
                iid,
                building,
                room,
                "王五",
                "2",
                [("王五", "", "")],
                end=end,
                deprecated=target,
            )
            made.append((iid, xml, device, target))
        elif kind == "update":
            resident = f"{building}-{room}-" + draw(st.sampled_from(["张三", "李四"]))
            temperature = draw(st.sampled_from(["36.5", "37.2"]))
            base = str(draw(st.integers(1, 2)))
            made.append(
                (
                    iid,
                    follow_up_xml(iid, resident, temperature, base=base, end=end),
                    device,
                    None,
                )
            )
        elif kind == "gate":
            made.append((iid, gate_xml(iid, building, "访客", end=end), device, None))
        elif made:
            made.append(draw(st.sampled_from(made)))

    return made


def _editable(made) -> list[str]:
    # An edit goes to the latest of a chain: Ingest refuses to fork one.
    edited = {target for *_, target in made if target}
    return sorted(
        {
            iid
            for iid, xml, _, _ in made
            if b'id="household"' in xml and iid not in edited
        }
    )


@st.composite
def arrivals(draw, order):
    """``order`` (originals moved before their edits) cut into random batches."""
    placed: list = []
    waiting = list(order)
    while waiting:
        ready = [m for m in waiting if m[3] is None or m[3] in {p[0] for p in placed}]
        placed.append(ready[0])
        waiting.remove(ready[0])
    cuts = sorted(draw(st.sets(st.integers(1, max(len(placed) - 1, 1)), max_size=3)))

    return [placed[a:b] for a, b in zip([0, *cuts], [*cuts, len(placed)], strict=True)]


def _ledgers_after(batches, folder: Path) -> dict:
    deployment = init_deployment(folder / "d")
    registry = FormRegistry(deployment.data_dir)
    for xform in xforms():
        registry.publish(xform)
    for batch in batches:
        for _iid, xml, device, _target in batch:
            submit(deployment, xml, device)
        merge(deployment)
    incremental = exported(deployment, folder / "incremental")
    merge(deployment, rebuild=True)
    assert exported(deployment, folder / "rebuilt") == incremental

    return incremental


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), made=submission_sets())
def test_ledgers_are_the_same_whatever_the_arrival_order_and_batches(data, made):
    seed = data.draw(st.randoms())
    order = made[:]
    seed.shuffle(order)
    first = data.draw(arrivals(order))
    second = data.draw(arrivals(order[::-1]))

    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        assert _ledgers_after(first, Path(one)) == _ledgers_after(second, Path(two))
