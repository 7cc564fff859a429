"""A client that talks to a doorstep server exactly as ODK Collect does.

Used by ``doorstep simulate`` and the demo to play volunteers' tablets: it
downloads the form list, each form and its media, fills forms with
``doorstep.forms.simulate``, and sends each submission the way Collect does
(``HEAD /submission``, then a multipart ``POST`` with
``xml_submission_file`` and one part per attachment, ``?deviceID=`` on every
request). Standard library only, so it runs wherever doorstep does.
"""

from __future__ import annotations

import csv
import io
import random
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from xml.etree.ElementTree import Element

from doorstep.forms.simulate import fill
from doorstep.forms.spec import FormSpec, read_spec
from doorstep.forms.xml import local_name, parse_xml

_BEIJING = timezone(timedelta(hours=8))


class CollectError(Exception):
    """The server answered in a way Collect would not accept."""


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class DeviceTally:
    """What one simulated device sent and how the server answered."""

    device_id: str
    sent: int = 0
    resent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    instance_ids: list[str] = field(default_factory=list)


class CollectClient:
    """One simulated tablet talking to one server URL."""

    def __init__(self, server_url: str, device_id: str, timeout: float = 30) -> None:
        self.server = server_url.rstrip("/")
        self.device_id = device_id
        self.timeout = timeout

    def form_list(self) -> list[dict[str, str]]:
        answer = self.request("GET", "/formList")
        _expect_openrosa(answer, 200)
        if "text/xml" not in answer.headers.get("content-type", ""):
            raise CollectError("the form list is not served as text/xml")

        return [_entry(node) for node in parse_xml(answer.body)]

    def download(self, entry: dict[str, str]) -> tuple[FormSpec, dict[str, bytes]]:
        """A form's spec and its media files, as Collect would fetch them."""
        answer = self.request("GET", entry["downloadUrl"])
        _expect_openrosa(answer, 200)
        spec = read_spec(answer.body)
        media = {}
        if entry.get("manifestUrl"):
            listing = self.request("GET", entry["manifestUrl"])
            _expect_openrosa(listing, 200)
            for item in parse_xml(listing.body):
                fields = {local_name(c.tag): (c.text or "") for c in item}
                media[fields["filename"]] = self.request(
                    "GET", fields["downloadUrl"]
                ).body

        return spec, media

    def submit(self, xml: bytes, attachments: dict[str, bytes]) -> Answer:
        """HEAD then POST, as Collect sends one finalized form."""
        probe = self.request("HEAD", "/submission")
        if probe.status != 204:
            raise CollectError(
                f"HEAD /submission answered {probe.status}, not 204: Collect "
                "would say this is not an OpenRosa submission endpoint"
            )
        parts = [("xml_submission_file", "submission.xml", "text/xml", xml)]
        parts += [
            (name, name, _content_type(name), data)
            for name, data in attachments.items()
        ]
        body, boundary = _multipart(parts)

        return self.request(
            "POST",
            "/submission",
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    def request(
        self, method: str, url: str, body: bytes | None = None, headers=None
    ) -> Answer:
        target = url if url.startswith("http") else self.server + url
        sep = "&" if "?" in target else "?"
        target += f"{sep}deviceID=collect%3A{self.device_id}"
        request = urllib.request.Request(target, data=body, method=method)
        request.add_header("X-OpenRosa-Version", "1.0")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return Answer(reply.status, reply.read(), _lower(reply.headers))
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.read(), _lower(err.headers))


def simulate_device(
    server_url: str,
    device_number: int,
    submissions: int,
    *,
    seed: int = 0,
    resend_every: int = 10,
    on_sent=None,
) -> DeviceTally:
    """Play one volunteer's shift: download forms, fill, send, resend some."""
    rng = random.Random(seed * 1000 + device_number)
    device_id = f"sim{device_number:03d}{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}"
    client = CollectClient(server_url, device_id)
    forms = [client.download(entry) for entry in client.form_list()]
    if not forms:
        raise CollectError("the server lists no forms to fill")

    tally = DeviceTally(device_id)
    shift_start = datetime.now(_BEIJING) - timedelta(hours=8)
    for number in range(submissions):
        spec, media = rng.choice(forms)
        when = shift_start + timedelta(minutes=number * 7 + rng.randint(0, 5))
        filled = fill(spec, rng, lists=_lists(media), device_id=device_id, when=when)
        _send(client, filled.xml, filled.attachments, tally)
        tally.instance_ids.append(filled.instance_id)
        if resend_every and number % resend_every == resend_every - 1:
            # Collect resends whenever a 201 was lost on the way back.
            _send(client, filled.xml, filled.attachments, tally)
            tally.resent += 1
        if on_sent is not None:
            on_sent()

    return tally


def _send(client, xml, attachments, tally: DeviceTally) -> None:
    answer = client.submit(xml, attachments)
    tally.sent += 1
    tally.statuses[answer.status] = tally.statuses.get(answer.status, 0) + 1


def _lists(media: dict[str, bytes]) -> dict[str, list[dict[str, str]]]:
    lists = {}
    for name, data in media.items():
        if name.endswith(".csv"):
            text = data.decode("utf-8-sig", errors="replace")
            lists[name[:-4]] = list(csv.DictReader(io.StringIO(text)))

    return lists


def _entry(node: Element) -> dict[str, str]:
    return {local_name(c.tag): (c.text or "").strip() for c in node}


def _expect_openrosa(answer: Answer, status: int) -> None:
    if answer.status != status:
        raise CollectError(
            f"expected {status}, got {answer.status}: {answer.body[:200]!r}"
        )
    if answer.headers.get("x-openrosa-version") != "1.0":
        raise CollectError("the server sent no X-OpenRosa-Version header")


def _lower(headers) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _content_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}.get(
        ext, "application/octet-stream"
    )


def _multipart(parts: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, filename, kind, data in parts:
        out.write(f"--{boundary}\r\n".encode())
        out.write(
            f'Content-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
        )
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())

    return out.getvalue(), boundary


@dataclass
class SimulationResult:
    """The tally of a whole simulated shift."""

    devices: list[DeviceTally]
    seconds: float

    @property
    def sent(self) -> int:
        return sum(d.sent for d in self.devices)

    @property
    def resent(self) -> int:
        return sum(d.resent for d in self.devices)

    @property
    def statuses(self) -> dict[int, int]:
        total: dict[int, int] = {}
        for device in self.devices:
            for status, count in device.statuses.items():
                total[status] = total.get(status, 0) + count

        return dict(sorted(total.items()))

    def describe(self) -> str:
        codes = ", ".join(f"{n} x {s}" for s, n in self.statuses.items())
        return (
            f"{len(self.devices)} devices sent {self.sent - self.resent} "
            f"submissions and {self.resent} resends in {self.seconds:.1f} s; "
            f"answers: {codes}"
        )


def run_simulation(
    server_urls: list[str],
    devices: int,
    per_device: int,
    *,
    seed: int = 0,
    on_sent=None,
) -> SimulationResult:
    """Run ``devices`` simulated tablets at once, each on its own thread.

    Tablet n uses ``server_urls[n % len(server_urls)]``: one device URL per
    tablet, as in the field, or one URL shared by all.
    """
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(devices, 32)) as pool:
        futures = [
            pool.submit(
                simulate_device,
                server_urls[n % len(server_urls)],
                n + 1,
                per_device,
                seed=seed,
                on_sent=on_sent,
            )
            for n in range(devices)
        ]
        tallies = [f.result() for f in futures]

    return SimulationResult(tallies, time.perf_counter() - started)
