"""Benchmark the merge: cold and warm rebuilds and an incremental merge of 1,000.

Builds N synthetic submissions straight into a deployment's store (one bulk
write, not N ingests), as a community's months would look: a fixed
population (BUILDINGS buildings of FLATS flats, two residents each, some
flats registered twice), quarantine follow-ups updating residents, and
gate-log rows, PER_DAY submissions a day, so that a larger N spans more
months rather than more flats. Then it measures, each in a fresh process:

- a cold rebuild over N - 1,000 submissions (the facts cache discarded);
- a warm rebuild over the same (every submission's facts cached);
- an incremental merge of the last 1,000 (the next day's submissions).

Peak memory is sampled every 20 ms over the merge process and all its
children (/proc), summed; ``rusage_bound_mb`` adds the largest child's peak
(RUSAGE_CHILDREN) once per worker to the main process's peak, an upper bound.

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
from datetime import date, timedelta
from pathlib import Path

from pyxform.xls2xform import convert

from doorstep.sync.deployment import init_deployment
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import BulkItem, Store

RESULTS = Path(__file__).resolve().parent / "results" / "merge.json"
INCREMENT = 1_000
BUILDINGS = 30
FLATS = 150
PER_DAY = 3_000
FIRST_DAY = date(2026, 1, 1)

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


def synthetic(n: int, start: int, rng: random.Random):
    """Submissions ``start`` .. ``start + n - 1``, PER_DAY a day."""
    for i in range(start, start + n):
        kind = rng.random()
        building, room = rng.randrange(BUILDINGS) + 1, rng.randrange(FLATS) + 101
        day = FIRST_DAY + timedelta(days=i // PER_DAY)
        end = f"{day}T{rng.randrange(8, 20):02d}:{i % 60:02d}:00+08:00"
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


def load(store: Store, n: int, start: int, rng: random.Random) -> None:
    batch = []
    for xml, device, form_id in synthetic(n, start, rng):
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
mode = sys.argv[2]
started = time.perf_counter()
summary = merge(open_deployment(Path(sys.argv[1])), rebuild=mode != "incremental",
    cold=mode == "cold")
usage = resource.getrusage
print(json.dumps({"seconds": round(time.perf_counter() - started, 2),
    "main_peak_mb": round(usage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "child_peak_mb": round(usage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    "new": summary.new, "entities": summary.entities,
    "buildings": len(summary.buildings), "conflicts": summary.conflicts,
    "workbooks_written": len(summary.workbooks), "steps": summary.seconds}))
"""
WORKERS = 2


def timed_merge(root: Path, mode: str) -> dict:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss_kb(child.pid))
        time.sleep(0.02)
    out, err = child.communicate()
    if child.returncode:
        raise RuntimeError(err)
    result = json.loads(out)
    result["sampled_peak_mb"] = round(peak / 1024)
    workers = WORKERS if result["child_peak_mb"] > 0 else 0
    bound = result["main_peak_mb"] + workers * result["child_peak_mb"]
    result["rusage_bound_mb"] = bound

    return result


def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and its descendants, in KiB."""
    parents, rss = {}, {}
    for stat in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in stat.read_text().splitlines())
        except (OSError, ValueError):
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields.get("PPid", "0"))
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    family = {root}
    for _ in range(4):
        family |= {pid for pid, parent in parents.items() if parent in family}

    return sum(rss.get(pid, 0) for pid in family)


def bench(n: int, folder: Path) -> dict:
    deployment = init_deployment(folder / f"d{n}")
    publish(deployment, folder)
    rng = random.Random(n)
    store = Store(deployment.data_dir)
    started = time.perf_counter()
    load(store, n - INCREMENT, 0, rng)
    loaded = time.perf_counter() - started

    cold = timed_merge(deployment.root, "cold")
    warm = timed_merge(deployment.root, "warm")
    load(store, INCREMENT, n - INCREMENT, rng)
    incremental = timed_merge(deployment.root, "incremental")

    return {
        "submissions": n,
        "load_seconds": round(loaded, 1),
        "cold_rebuild": cold,
        "warm_rebuild": warm,
        "incremental_1000": incremental,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--full", action="store_true", help="add 1,000,000")
    parser.add_argument("--label", default="current", help="key in the results")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.full else [])

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as tmp:
        for n in sizes:
            result = bench(n, Path(tmp))
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.setdefault(args.label, {})[str(n)] = result
            RESULTS.parent.mkdir(exist_ok=True)
            text = json.dumps(results, indent=1, ensure_ascii=False)
            RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
