"""Shared parts of doorstep's benchmarks: a server process, its CPU, clients.

The server always runs as `doorstep serve` (waitress) in its own process, so
what is measured is what an office laptop runs; the clients are plain
``http.client`` connections kept alive, as Collect's HTTP client keeps them,
and cheap enough not to steal the server's CPU on a small machine.
"""

from __future__ import annotations

import http.client
import uuid
from pathlib import Path

from doorstep.server.process import ServeProcess, spawn_serve

BOUNDARY = "doorstep-bench-boundary"


def start_server(root: Path, log: Path) -> ServeProcess:
    """Start `doorstep serve` on a free loopback port and wait until it answers."""
    return spawn_serve(root, log=log)


def multipart(xml: bytes, files: dict[str, bytes] | None = None) -> bytes:
    """A Collect-shaped body: the XML part first, then one part per file."""
    body = [_part("xml_submission_file", "submission.xml", "text/xml", xml)]
    for name, data in (files or {}).items():
        body.append(_part(name, name, "application/octet-stream", data))
    body.append(f"--{BOUNDARY}--\r\n".encode())

    return b"".join(body)


def _part(field: str, filename: str, kind: str, data: bytes) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
    )

    return head.encode() + data + b"\r\n"


def with_instance_id(xml: bytes, old: str, new: str | None = None) -> tuple[bytes, str]:
    """The same filled form under a fresh instanceID: distinct, cheap to make."""
    new = new or f"uuid:{uuid.uuid4()}"

    return xml.replace(old.encode(), new.encode()), new


class Tablet:
    """One client: a kept-alive connection sending as Collect does.

    Collect sends ``HEAD /submission`` once per upload session and remembers
    the answer for every form sent after it; ``head_each`` sends one before
    every POST instead, the stricter load.
    """

    def __init__(
        self, port: int, token: str, device_id: str, head_each: bool = False
    ) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path = f"/key/{token}/submission?deviceID={device_id}"
        self.head_each = head_each
        self.probed = False

    def send(self, body: bytes) -> int:
        """One form: HEAD when due, then the POST; the POST's status."""
        if self.head_each or not self.probed:
            self._request("HEAD", None)
            self.probed = True

        return self._request("POST", body)

    def close(self) -> None:
        self.connection.close()

    def _request(self, method: str, body: bytes | None) -> int:
        headers = {}
        if body is not None:
            headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
        self.connection.request(method, self.path, body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()

        return response.status
