"""The Flask application that serves one deployment over HTTP."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from doorstep.server.openrosa import openrosa, openrosa_headers, openrosa_message
from doorstep.sync.devices import Device, DeviceRegistry
from doorstep.sync.deployment import Deployment, open_deployment
from doorstep.sync.ingest import Ingest

log = logging.getLogger(__name__)


def create_app(deployment: Deployment | Path) -> Flask:
    """Build the app for a deployment (an opened one, or its directory)."""
    if not isinstance(deployment, Deployment):
        deployment = open_deployment(Path(deployment))

    app = Flask("doorstep")
    app.config["MAX_CONTENT_LENGTH"] = int(
        deployment.setting("server", "max_body_bytes", 10_000_000)
    )
    app.config["DEPLOYMENT"] = deployment
    ingest = Ingest(deployment)
    devices = DeviceCache(DeviceRegistry(deployment.data_dir))

    @app.before_request
    def _attach() -> None:
        g.ingest = ingest
        g.devices = devices

    app.register_blueprint(openrosa)
    app.after_request(openrosa_headers)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(HTTPException, _http_error)
    app.add_url_rule("/health", "health", lambda: {"ok": True})

    return app


class DeviceCache:
    """Tokens looked up in memory, re-read whenever the registry file changes.

    Every request carries a token; reading the TinyDB file under its lock on
    each one would cost more than storing the submission.
    """

    def __init__(self, registry: DeviceRegistry) -> None:
        self.registry = registry
        self._seen: tuple[int, int] | None = None
        self._by_token: dict[str, Device] = {}
        self._lock = threading.Lock()

    def by_token(self, token: str) -> Device | None:
        with self._lock:
            stamp = self._stamp()
            if stamp != self._seen:
                self._by_token = {d.token: d for d in self.registry.devices()}
                self._seen = stamp

            return self._by_token.get(token)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.registry.path.stat()
        except FileNotFoundError:
            return None

        return info.st_mtime_ns, info.st_size


def _too_large(err: RequestEntityTooLarge) -> Response:
    return openrosa_message(
        "The upload is larger than this server accepts. Ask the office to "
        "raise max_body_bytes, or send fewer or smaller photos.",
        413,
    )


def _http_error(err: HTTPException) -> Response:
    return openrosa_message(err.description or err.name, err.code or 500)
