"""Running the app under waitress, in the foreground or in a thread."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from flask import Flask
from waitress.server import create_server

log = logging.getLogger(__name__)

# Enough for a shift's worth of tablets syncing at once on a 2-core laptop;
# each thread mostly waits on fsync.
THREADS = 16


@dataclass
class RunningServer:
    """A server started in a background thread; ``stop()`` ends it."""

    url: str
    port: int
    _thread: threading.Thread
    _stop: threading.Event

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def serve(app: Flask, host: str, port: int) -> None:
    """Serve until interrupted."""
    server = create_server(app, host=host, port=port, threads=THREADS)
    log.info("doorstep serving on http://%s:%s", host, server.effective_port)
    server.run()


def start_in_thread(
    app: Flask, host: str = "127.0.0.1", port: int = 0
) -> RunningServer:
    """Start serving in a daemon thread; port 0 picks a free port."""
    server = create_server(app, host=host, port=port, threads=THREADS)
    stop = threading.Event()
    thread = threading.Thread(
        target=_run_until, args=(server, stop), name="doorstep-server", daemon=True
    )
    thread.start()
    bound = server.effective_port

    return RunningServer(f"http://{host}:{bound}", int(bound), thread, stop)


def _run_until(server, stop: threading.Event) -> None:
    # waitress has no stop call that is safe from another thread: closing
    # its socket under a running select() fails. Polling in short rounds
    # and closing in this same thread ends it cleanly.
    while not stop.is_set():
        server.asyncore.loop(timeout=0.1, map=server._map, count=1)
    server.close()
    for channel in list(server._map.values()):
        channel.close()
