"""Benchmark the merge: full rebuild and an incremental merge of 1,000.

Builds N synthetic submissions straight into a deployment's store (one bulk
write, not N ingests), as a working group's month would: households
registered (two residents each, some flats registered twice), quarantine
follow-ups updating residents, and gate-log rows. Then it measures, each in
a fresh process so peak memory is the merge's own:

- a full rebuild over N - 1,000 submissions: seconds and peak RSS;
- an incremental merge of the last 1,000: seconds and peak RSS.

Usage: python benchmarks/bench_merge.py [--full] [--sizes 10000,100000]
(--full adds 1,000,000). Results go to benchmarks/results/merge.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from doorstep.sync.deployment import init_deployment
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import BulkItem, Store
from pyxform.xls2xform import convert

RESULTS = Path(__file__).resolve().parent / "results" / "merge.json"
INCREMENT = 1_000
BUILDINGS = 30

FORMS = {
    "household": """
    | survey |
    |        | type | name | label::中文 (zh) | label::English (en) | save_to |
    |        | text | building | 楼栋 | Building | households#building |
    |        | text | room | 房间号 | Room | households#room |
    |        | text | head_name | 户主 | Head | households#head_name |
    |        | text | phone | 电话 | Phone | households#phone |
    |        | begin repeat | person | 居民 | Residents | |
    |        | text | full_name | 姓名 | Name | residents#full_name |
    |        | text | id_card | 身份证号 | ID card | residents#id_card |
    |        | date | quarantine_start | 隔离开始 | Q. start | residents#quarantine_start |
    |        | end repeat | | | | |
    | entities |
    | | list_name | entity_id | create_if | update_if | label |
    | | households | concat(${building},'-',${room}) | true() | false() | ${room} |
    | | residents | concat(${building},'-',${room},'-',${full_name}) | true() | false() | ${full_name} |
    | settings |
    | | form_id | version |
    | | household | 1 |
    """,  # noqa: E501
    "quarantine_followup": """
    | survey |
    |        | type | name | label::中文 (zh) | label::English (en) | save_to |
    |        | text | resident | 居民 | Resident | |
    |        | decimal | temperature | 体温 | Temperature | temperature |
    | entities |
    | | list_name | entity_id | label |
    | | residents | ${resident} | |
    | settings |
    | | form_id | version |
    | | quarantine_followup | 1 |
    """,
    "gate_log": """
    | survey |
    |        | type | name | label::中文 (zh) | label::English (en) |
    |        | text | building | 楼栋 | Building |
    |        | text | visitor | 访客 | Visitor |
    |        | text | visitor_phone | 电话 | Phone |
    |        | decimal | temperature | 体温 | Temperature |
    | settings |
    | | form_id | version |
    | | gate_log | 1 |
    """,
}


def publish(deployment, folder: Path) -> None:
    registry = FormRegistry(deployment.data_dir)
    for name, text in FORMS.items():
        path = folder / f"{name}.md"
        path.write_text(textwrap.dedent(text).strip() + "\n", encoding="utf-8")
        registry.publish(convert(str(path)).xform)


def synthetic(n: int, start: int, rng: random.Random, flats: int):
    """Submissions ``start`` .. ``start + n - 1`` of the synthetic month."""
    for i in range(start, start + n):
        kind = rng.random()
        building, room = rng.randrange(BUILDINGS) + 1, rng.randrange(flats) + 101
        day = 1 + i * 28 // max(flats * 10, 1) % 28
        end = f"2026-11-{day:02d}T{rng.randrange(8, 20):02d}:{i % 60:02d}:00+08:00"
        device = f"tablet-{rng.randrange(12)}"
        if kind < 0.3:
            yield _household(i, building, room, end, rng), device, "household"
        elif kind < 0.6:
            person = f"{building}-{room}-居民{rng.randrange(2)}"
            yield _follow_up(i, person, end, rng), device, "quarantine_followup"
        else:
            yield _gate(i, building, end, rng), device, "gate_log"


def _meta(i: int, end: str, entity: str = "") -> str:
    return (
        f"<meta>{entity}<instanceID>uuid:{i:08d}</instanceID>"
        f"<timeEnd>{end}</timeEnd></meta>"
    )


def _household(i, building, room, end, rng) -> str:
    # A flat registered twice is registered with the same answers, so
    # conflicts come from the offline follow-ups alone.
    flat = building * 10_000 + room
    people = "".join(
        f"<person><full_name>居民{k}</full_name><id_card>1101011990{flat:07d}{k}"
        f"</id_card><quarantine_start>{'2026-11-10' if flat % 10 == 0 else ''}"
        f'</quarantine_start><meta><entity dataset="residents" create="1" '
        f'id="{building}-{room}-居民{k}"><label>居民{k}</label></entity></meta>'
        "</person>"
        for k in range(2)
    )
    entity = (
        f'<entity dataset="households" create="1" id="{building}-{room}">'
        f"<label>{room}</label></entity>"
    )
    return (
        f'<data id="household" version="1"><building>{building}</building>'
        f"<room>{room}</room><head_name>户主{flat % 97}</head_name>"
        f"<phone>138{flat:08d}</phone>{people}{_meta(i, end, entity)}</data>"
    )


def _follow_up(i, person, end, rng) -> str:
    # Mostly updates from distinct versions; one in a hundred shares its
    # base version with others, as offline tablets sometimes do.
    base = 1 if rng.random() < 0.01 else 1000 + i
    entity = (
        f'<entity dataset="residents" update="1" id="{person}" '
        f'baseVersion="{base}"><label/></entity>'
    )
    return (
        f'<data id="quarantine_followup" version="1"><resident>{person}'
        f"</resident><temperature>{36 + rng.randrange(20) / 10:.1f}"
        f"</temperature>{_meta(i, end, entity)}</data>"
    )


def _gate(i, building, end, rng) -> str:
    return (
        f'<data id="gate_log" version="1"><building>{building}</building>'
        f"<visitor>访客{i % 1000}</visitor><visitor_phone>139{i:08d}"
        f"</visitor_phone><temperature>36.{rng.randrange(10)}</temperature>"
        f"{_meta(i, end)}</data>"
    )


def load(store: Store, n: int, start: int, rng: random.Random, flats: int) -> None:
    batch = []
    for xml, device, form_id in synthetic(n, start, rng, flats):
        instance_id = xml.split("<instanceID>", 1)[1].split("<", 1)[0]
        batch.append(BulkItem(xml.encode(), instance_id, form_id, "1", device))
        if len(batch) == 20_000:
            store.put_many(batch)
            batch = []
    store.put_many(batch)


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from doorstep.sync.deployment import open_deployment
from doorstep.sync.merge import merge
started = time.perf_counter()
summary = merge(open_deployment(Path(sys.argv[1])), rebuild=sys.argv[2] == "1")
print(json.dumps({"seconds": round(time.perf_counter() - started, 2),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "new": summary.new, "entities": summary.entities,
    "buildings": len(summary.buildings), "conflicts": summary.conflicts,
    "steps": summary.seconds}))
"""


def timed_merge(root: Path, rebuild: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), "1" if rebuild else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def bench(n: int, folder: Path) -> dict:
    deployment = init_deployment(folder / f"d{n}")
    publish(deployment, folder)
    rng = random.Random(n)
    flats = max(n // (BUILDINGS * 8), 4)
    store = Store(deployment.data_dir)
    started = time.perf_counter()
    load(store, n - INCREMENT, 0, rng, flats)
    loaded = time.perf_counter() - started

    rebuild = timed_merge(deployment.root, rebuild=True)
    load(store, INCREMENT, n - INCREMENT, rng, flats)
    incremental = timed_merge(deployment.root, rebuild=False)

    return {
        "submissions": n,
        "load_seconds": round(loaded, 1),
        "rebuild": rebuild,
        "incremental_1000": incremental,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--full", action="store_true", help="add 1,000,000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.full else [])

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as tmp:
        for n in sizes:
            result = bench(n, Path(tmp))
            print(json.dumps(result, ensure_ascii=False))
            results[str(n)] = result
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
