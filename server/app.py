"""The Flask application that serves one deployment over HTTP."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from doorstep.server.openrosa import (
    TOO_LARGE,
    openrosa,
    openrosa_headers,
    openrosa_message,
)
from doorstep.sync.deployment import Deployment, open_deployment
from doorstep.sync.devices import Device, DeviceRegistry
from doorstep.sync.ingest import Ingest

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"/key/[^/]+")


def create_app(deployment: Deployment | Path) -> Flask:
    """Build the app for a deployment (an opened one, or its directory)."""
    if not isinstance(deployment, Deployment):
        deployment = open_deployment(Path(deployment))

    app = Flask("doorstep")
    app.config["MAX_CONTENT_LENGTH"] = int(
        deployment.setting("server", "max_body_bytes", 10_000_000)
    )
    # Collect starts a new POST before 100 files; a bound stops a client
    # from making the server parse an endless list of tiny parts.
    app.config["MAX_FORM_PARTS"] = 200
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
    app.register_error_handler(Exception, _unexpected)
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
    return openrosa_message(TOO_LARGE, 413)


def _http_error(err: HTTPException) -> Response:
    messages = {
        400: "The server could not read this upload. Send it again from the "
        "device; if it keeps failing, tell the office.",
        404: "There is nothing at this address. Check the server URL in "
        "Collect's project settings, or scan the office's QR code again.",
        405: f"This address does not accept {request.method} requests. Check "
        "the server URL in Collect's project settings.",
    }
    code = err.code or 500

    return openrosa_message(messages.get(code, err.description or err.name), code)


def _unexpected(err: Exception) -> Response:
    # Logged once, here, with the token masked: the traceback is for the
    # operator; the volunteer only needs to know nothing was stored.
    path = _TOKEN.sub("/key/<token>", request.path)
    log.exception("unexpected error answering %s %s", request.method, path)

    return openrosa_message(
        "Something went wrong on the server and nothing was stored. Try again "
        "later; if it keeps happening, tell the office.",
        500,
    )
