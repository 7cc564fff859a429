"""`doorstep serve` as a child process: for tests, benchmarks and tools.

Starting the real server in its own process is how doorstep checks what an
office laptop runs (waitress, one process, SIGKILL survivable); this is the
one place that knows how to start it and wait until it answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServeProcess:
    """A `doorstep serve` process listening on a loopback port."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])

        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop it as Ctrl-C would, killing it if it does not stop in time."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the crash a laptop's power cut would be."""
        self.process.kill()
        self.process.wait(10)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn_serve(
    root: Path, *, port: int | None = None, log: Path | None = None, wait: float = 30
) -> ServeProcess:
    """Start `doorstep --dir ROOT serve` on loopback and wait until it answers.

    Its log goes to ``log`` (appended) or nowhere.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "doorstep", "--dir", str(root), "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    errors = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
    finally:
        if log is not None:
            errors.close()

    return _wait_until_listening(ServeProcess(process, port), log, wait)


def _wait_until_listening(server: ServeProcess, log: Path | None, wait: float):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            said = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"doorstep serve exited at start: {said}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return server
        except OSError:
            time.sleep(0.05)
    server.kill()

    raise RuntimeError(f"doorstep serve did not answer within {wait:.0f} s")
