"""How fast `doorstep serve` takes submissions from Collect, and what each costs.

Usage: ``python benchmarks/bench_ingest.py [--quick]``

Every run starts a fresh deployment with the shipped household registration
form (and the disinfection log, which carries a photo), runs the server as
`doorstep serve` in its own process, and sends each submission as Collect
does: ``HEAD /submission`` then a multipart ``POST``, over kept-alive
connections. Three measurements:

1. ingest with 1, 4 and 16 concurrent clients: submissions per second and
   server CPU milliseconds per submission (from ``/proc/<pid>/stat``);
2. the cost per submission with 1,000 and with 200,000 already stored;
3. the end-of-shift burst: 50 devices x 200 submissions, a tenth with a
   200 KB photo, a twentieth resent: all acknowledged, none lost or doubled.

Results go to ``benchmarks/results/ingest.json``; a summary is printed.
These are measurements, not tests: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from pyxform.xls2xform import convert

from doorstep.forms.simulate import fill
from doorstep.forms.spec import FormSpec, read_spec
from doorstep.sync.deployment import Deployment, init_deployment
from doorstep.sync.devices import DeviceRegistry
from doorstep.sync.registry import FormRegistry
from doorstep.sync.store import BulkItem, Store

# The benchmarks folder is not a package; its shared helpers sit beside us.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Tablet, multipart, start_server, with_instance_id  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "forms" / "templates"
RESULTS = REPO / "benchmarks" / "results" / "ingest.json"
CENTRAL = {"rate_at_4_clients": 90, "cpu_ms": "20-30"}

FULL = {
    "warm": 2000,
    "per_level": {1: 1000, 4: 3000, 16: 3000},
    "stored": (1_000, 200_000),
    "measured": 2000,
    "devices": 50,
    "per_device": 200,
}
QUICK = {
    "warm": 1000,
    "per_level": {1: 200, 4: 400, 16: 400},
    "stored": (1_000, 20_000),
    "measured": 400,
    "devices": 10,
    "per_device": 40,
}


class Forms:
    """Filled forms to send, made once and given fresh instanceIDs."""

    def __init__(self, work: Path, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.household = _spec(work, "household_registration")
        self.disinfection = _spec(work, "disinfection_log")
        self.pool = [fill(self.household, rng, attachments=False) for _ in range(100)]
        self.photo_pool = [fill(self.disinfection, rng) for _ in range(20)]
        self.rng = rng

    def household_xml(self, n: int) -> tuple[bytes, str]:
        filled = self.pool[n % len(self.pool)]
        return with_instance_id(filled.xml, filled.instance_id)

    def with_photo(self, n: int) -> tuple[bytes, str, dict[str, bytes]]:
        filled = self.photo_pool[n % len(self.photo_pool)]
        xml, instance_id = with_instance_id(filled.xml, filled.instance_id)
        photos = {name: self.rng.randbytes(200_000) for name in filled.attachments}

        return xml, instance_id, photos


def _spec(work: Path, name: str) -> FormSpec:
    source = work / f"{name}.md"
    shutil.copy(TEMPLATES / f"{name}.md", source)

    return read_spec(convert(str(source)).xform)


def fresh_deployment(work: Path, name: str, forms: Forms) -> Deployment:
    deployment = init_deployment(work / name, name=f"bench {name}")
    registry = FormRegistry(deployment.data_dir)
    registry.publish(forms.household.xml)
    registry.publish(forms.disinfection.xml)

    return deployment


def run_clients(
    port: int, token: str, bodies: list[bytes], clients: int, head_each: bool = False
) -> dict:
    """Send ``bodies`` over ``clients`` connections; wall time and statuses."""
    statuses: list[int] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        tablet = Tablet(port, token, f"collect:bench{number}", head_each)
        mine = [tablet.send(body) for body in bodies[number::clients]]
        tablet.close()
        with lock:
            statuses.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    return {"seconds": time.perf_counter() - started, "statuses": statuses}


def measure(
    server, token: str, bodies: list[bytes], clients: int, head_each: bool = False
) -> dict:
    """Rate and server CPU per submission for one batch of distinct bodies."""
    cpu_before = server.cpu_seconds()
    run = run_clients(server.port, token, bodies, clients, head_each)
    cpu = server.cpu_seconds() - cpu_before
    created = run["statuses"].count(201)

    return {
        "clients": clients,
        "head_before_each_post": head_each,
        "submissions": len(bodies),
        "acknowledged": created,
        "seconds": round(run["seconds"], 3),
        "per_second": round(len(bodies) / run["seconds"], 1),
        "server_cpu_ms_per_submission": round(cpu * 1000 / len(bodies), 2),
    }


def bench_concurrency(work: Path, forms: Forms, sizes: dict) -> list[dict]:
    deployment = fresh_deployment(work, "concurrency", forms)
    token = DeviceRegistry(deployment.data_dir).add("bench").token
    server = start_server(deployment.root, work / "concurrency.log")
    results, n = [], 0
    try:
        # Warm up as a server that has run for a while: imports, caches, and
        # the 256 folders under data/submissions/ made once, not measured.
        warm = [multipart(forms.household_xml(i)[0]) for i in range(sizes["warm"])]
        run_clients(server.port, token, warm, 4)
        n = len(warm)
        levels = [(c, count, False) for c, count in sizes["per_level"].items()]
        for clients, count, head_each in levels + [(4, sizes["per_level"][4], True)]:
            bodies = [multipart(forms.household_xml(n + i)[0]) for i in range(count)]
            n += count
            results.append(measure(server, token, bodies, clients, head_each))
    finally:
        server.stop()

    return results


def prefill(deployment: Deployment, forms: Forms, count: int) -> None:
    """Top the store up to ``count`` submissions through its bulk path."""
    store = Store(deployment.data_dir)
    form = forms.household
    for start in range(store.count(), count, 10_000):
        items = []
        for n in range(start, min(start + 10_000, count)):
            xml, instance_id = forms.household_xml(n)
            items.append(BulkItem(xml, instance_id, form.form_id, form.version))
        store.put_many(items)


def bench_store_size(work: Path, forms: Forms, sizes: dict) -> list[dict]:
    deployment = fresh_deployment(work, "store_size", forms)
    token = DeviceRegistry(deployment.data_dir).add("bench").token
    results, n = [], 10_000_000
    for stored in sizes["stored"]:
        started = time.perf_counter()
        prefill(deployment, forms, stored)
        fill_seconds = time.perf_counter() - started
        server = start_server(deployment.root, work / "store_size.log")
        try:
            count = sizes["measured"]
            bodies = [multipart(forms.household_xml(n + i)[0]) for i in range(count)]
            n += count
            result = measure(server, token, bodies, 4)
        finally:
            server.stop()
        # Each round adds its own submissions; the next fill tops up to size.
        result.update(already_stored=stored, prefill_seconds=round(fill_seconds, 1))
        results.append(result)

    return results


def bench_burst(work: Path, forms: Forms, sizes: dict) -> dict:
    deployment = fresh_deployment(work, "burst", forms)
    registry = DeviceRegistry(deployment.data_dir)
    tokens = [registry.add(f"tablet-{d}").token for d in range(sizes["devices"])]
    plans = [_device_plan(forms, d, sizes["per_device"]) for d in range(len(tokens))]
    server = start_server(deployment.root, work / "burst.log")
    answers: list[tuple[str, int]] = []
    lock = threading.Lock()

    def device(number: int) -> None:
        tablet = Tablet(server.port, tokens[number], f"collect:dev{number}")
        mine = [(iid, tablet.send(body)) for iid, body in plans[number]]
        tablet.close()
        with lock:
            answers.extend(mine)

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    try:
        threads = [
            threading.Thread(target=device, args=(d,)) for d in range(len(plans))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
    finally:
        server.stop()

    return _burst_report(deployment, plans, answers, seconds, cpu)


def _device_plan(forms: Forms, device: int, count: int) -> list[tuple[str, bytes]]:
    """One device's sends: (instanceID, body), resends included."""
    plan = []
    for n in range(count):
        key = device * 100_000 + n
        if n % 10 == 0:
            xml, instance_id, photos = forms.with_photo(key)
            body = multipart(xml, photos)
        else:
            xml, instance_id = forms.household_xml(key)
            body = multipart(xml)
        plan.append((instance_id, body))
        if n % 20 == 5:
            plan.append((instance_id, body))

    return plan


def _burst_report(deployment, plans, answers, seconds: float, cpu: float) -> dict:
    store = Store(deployment.data_dir)
    distinct = {iid for plan in plans for iid, _ in plan}
    missing = [iid for iid in distinct if store.get(iid) is None]
    incomplete = (
        [iid for iid in distinct if not store.get(iid).complete]
        if not (missing)
        else []
    )
    sends = len(answers)

    return {
        "devices": len(plans),
        "sends": sends,
        "distinct_submissions": len(distinct),
        "resends": sends - len(distinct),
        "with_photo": sum(len(b) > 100_000 for plan in plans for _, b in plan),
        "acknowledged_201": sum(1 for _, status in answers if status == 201),
        "stored": store.count(),
        "lost": len(missing),
        "stored_twice": store.count() - len(distinct) + len(missing),
        "incomplete": len(incomplete),
        "seconds": round(seconds, 2),
        "per_second": round(sends / seconds, 1),
        "server_cpu_ms_per_send": round(cpu * 1000 / sends, 2),
    }


def summary(results: dict) -> str:
    lines = [f"doorstep ingest benchmark ({results['mode']}, {results['machine']})"]
    for row in results["concurrency"]:
        mode = " (HEAD before every POST)" if row["head_before_each_post"] else ""
        lines.append(
            f"  {row['clients']:>2} clients: {row['per_second']:>7.1f} submissions/s, "
            f"{row['server_cpu_ms_per_submission']:.2f} ms server CPU each "
            f"({row['acknowledged']}/{row['submissions']} got 201){mode}"
        )
    four = results["concurrency"][1]
    lines.append(
        f"  at 4 clients: {four['per_second'] / CENTRAL['rate_at_4_clients']:.1f}x "
        f"ODK Central's ~{CENTRAL['rate_at_4_clients']}/s (target 5x)"
    )
    for row in results["store_size"]:
        lines.append(
            f"  {row['already_stored']:>7,} stored: {row['per_second']:.1f}/s, "
            f"{row['server_cpu_ms_per_submission']:.2f} ms CPU each"
        )
    small, large = results["store_size"]
    key = "server_cpu_ms_per_submission"
    ratio = large[key] / small[key]
    lines.append(f"  cost at the larger store / the smaller: {ratio:.2f}x CPU")
    burst = results["burst"]
    lines.append(
        f"  burst: {burst['devices']} devices, {burst['sends']} sends "
        f"({burst['resends']} resends, {burst['with_photo']} with a 200 KB photo) "
        f"in {burst['seconds']} s; {burst['acknowledged_201']} got 201, "
        f"{burst['lost']} lost, {burst['stored_twice']} stored twice, "
        f"{burst['incomplete']} incomplete"
    )

    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="where the deployments are made (default: the system temp folder)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    work = Path(tempfile.mkdtemp(prefix="doorstep-bench-", dir=args.work))
    try:
        forms = Forms(work)
        results = {
            "mode": "as Collect: one HEAD per session, then a POST per form;"
            " kept-alive connections",
            "quick": args.quick,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "work_folder": str(work.parent),
            "reference_odk_central": CENTRAL,
            "concurrency": bench_concurrency(work, forms, sizes),
            "store_size": bench_store_size(work, forms, sizes),
            "burst": bench_burst(work, forms, sizes),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(summary(results))
    print(f"results written to {RESULTS}")

    return 0


if __name__ == "__main__":
    sys.exit(main())
