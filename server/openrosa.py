"""OpenRosa 1.0 as ODK Collect really uses it: form list, forms, submissions.

Collect is the client in the field, so where it and the specification
disagree this follows Collect: ``text/xml`` on lists, 204 on ``HEAD
/submission``, 201 and only 201 for a stored submission, and a first
``<message>`` the volunteer can act on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from email.utils import formatdate
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, g, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from doorstep.sync.ingest import Outcome
from doorstep.sync.ledgers import entity_list_csv
from doorstep.sync.registry import form_id_from_key

log = logging.getLogger(__name__)

EMPTY_ENTITY_LIST = b"name,label,__version\n"

openrosa = Blueprint("openrosa", __name__, url_prefix="/key/<token>")

_STATUS = {
    Outcome.CREATED: 201,
    Outcome.DUPLICATE: 201,
    Outcome.CONFLICT: 409,
    Outcome.EDIT_OUT_OF_DATE: 409,
    Outcome.EDIT_UNKNOWN: 404,
    Outcome.UNKNOWN_FORM: 404,
    Outcome.NOT_ALLOWED: 403,
    Outcome.FORM_CLOSED: 409,
    Outcome.MALFORMED: 400,
}


def openrosa_headers(response: Response) -> Response:
    """Add the headers Collect checks to every response."""
    response.headers["X-OpenRosa-Version"] = "1.0"
    response.headers["Date"] = formatdate(usegmt=True)
    response.headers.setdefault("Content-Language", "en")
    response.headers["X-OpenRosa-Accept-Content-Length"] = str(
        current_app.config["MAX_CONTENT_LENGTH"]
    )

    return response


def openrosa_message(text: str, status: int) -> Response:
    """An OpenRosaResponse whose first message Collect shows the volunteer."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
        f'<message nature="">{escape(text)}</message>'
        "</OpenRosaResponse>"
    )

    return Response(body, status=status, content_type="text/xml; charset=utf-8")


@openrosa.url_value_preprocessor
def _take_token(endpoint: str | None, values: dict | None) -> None:
    g.token = (values or {}).pop("token", "")


@openrosa.url_defaults
def _give_token(endpoint: str, values: dict) -> None:
    values.setdefault("token", g.token)


@openrosa.before_request
def _check_device() -> Response | None:
    device = g.devices.by_token(g.token)
    if device is None or not device.active:
        word = "was revoked" if device is not None else "is not known"
        return openrosa_message(
            f"This device's key {word}. Ask the office for a new QR code and "
            "scan it in Collect's project settings.",
            401,
        )
    g.device = device

    return None


@openrosa.get("/formList")
def form_list() -> Response:
    wanted = request.args.get("formID")
    entries = []
    for form in g.ingest.registry.forms():
        if wanted and form.form_id != wanted:
            continue
        if not g.device.may_use(form.form_id):
            continue
        if g.ingest.registry.state(form.form_id) != "open":
            continue
        entries.append(_form_entry(form))
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<xforms xmlns="http://openrosa.org/xforms/xformsList">'
        + "".join(entries)
        + "</xforms>"
    )

    return Response(body, content_type="text/xml; charset=utf-8")


def _form_entry(form) -> str:
    spec = form.spec
    args = {"form_id": form.key, "version": form.folder.name}
    download = url_for(".form_xml", _external=True, **args)
    manifest = ""
    if form.media() or _entity_lists(form):
        url = url_for(".manifest", _external=True, **args)
        manifest = f"<manifestUrl>{escape(url)}</manifestUrl>"

    return (
        "<xform>"
        f"<formID>{escape(spec.form_id)}</formID>"
        f"<name>{escape(spec.title or spec.form_id)}</name>"
        f"<version>{escape(spec.version)}</version>"
        f"<hash>md5:{spec.md5}</hash>"
        f"<downloadUrl>{escape(download)}</downloadUrl>"
        f"{manifest}"
        "</xform>"
    )


@openrosa.get("/forms/<form_id>/<version>/form.xml")
def form_xml(form_id: str, version: str) -> Response:
    form = _published(form_id, version)
    if form is None:
        return openrosa_message(f"No form {form_id!r} with that version.", 404)

    return _cached(form.spec.xml, "text/xml; charset=utf-8", form.spec.md5)


@openrosa.get("/forms/<form_id>/<version>/manifest")
def manifest(form_id: str, version: str) -> Response:
    form = _published(form_id, version)
    if form is None:
        return openrosa_message(f"No form {form_id!r} with that version.", 404)
    files = []
    lists = _entity_lists(form)
    for name, data in _media_files(form).items():
        digest = hashlib.md5(data).hexdigest()
        url = url_for(
            ".media", form_id=form_id, version=version, name=name, _external=True
        )
        kind = ' type="entityList"' if name in lists else ""
        files.append(
            f"<mediaFile{kind}><filename>{escape(name)}</filename>"
            f"<hash>md5:{digest}</hash><downloadUrl>{escape(url)}</downloadUrl>"
            "</mediaFile>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest xmlns="http://openrosa.org/xforms/xformsManifest">'
        + "".join(files)
        + "</manifest>"
    )

    return Response(body, content_type="text/xml; charset=utf-8")


@openrosa.get("/forms/<form_id>/<version>/media/<name>")
def media(form_id: str, version: str, name: str) -> Response:
    form = _published(form_id, version)
    data = _media_files(form).get(name) if form is not None else None
    if data is None:
        return openrosa_message(f"No media file {name!r} for this form.", 404)
    kind = (
        "text/csv; charset=utf-8"
        if name.endswith(".csv")
        else ("application/octet-stream")
    )

    return _cached(data, kind, hashlib.md5(data).hexdigest())


def _entity_lists(form) -> set[str]:
    """CSV files the form reads that are entity lists some form declares."""
    datasets = {
        entity.dataset
        for published in g.ingest.registry.forms()
        for entity in published.spec.entities
    }

    return {name for name in form.spec.media if name.removesuffix(".csv") in datasets}


def _media_files(form) -> dict[str, bytes]:
    # Entity lists come from the last merge, so a tablet's list follows the
    # ledgers; the md5 is of the real content, so an unchanged list is not
    # downloaded again. Before any merge the list is empty but well-formed.
    files = {name: path.read_bytes() for name, path in form.media().items()}
    deployment = current_app.config["DEPLOYMENT"]
    for name in _entity_lists(form):
        merged = entity_list_csv(deployment, name.removesuffix(".csv"))
        files[name] = merged if merged is not None else EMPTY_ENTITY_LIST

    return files


@openrosa.route("/submission", methods=["HEAD", "GET"])
def submission_probe() -> Response:
    return Response(status=204)


TOO_LARGE = (
    "The upload is larger than this server accepts. Ask the office to raise "
    "max_body_bytes, or send fewer or smaller photos."
)


class _Refused(Exception):
    """An upload refused before ingest, with the answer for the volunteer."""

    def __init__(self, outcome: str, message: str, status: int) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.status = status


@openrosa.post("/submission")
def submission() -> Response:
    started = time.perf_counter()
    try:
        xml, attachments = _read_upload()
    except _Refused as refused:
        _log_submission(started, refused.outcome)
        return openrosa_message(refused.message, refused.status)

    result = g.ingest.submit(
        xml,
        attachments,
        device_id=request.args.get("deviceID", ""),
        device_name=g.device.name,
        allowed=g.device.may_use,
    )
    _log_submission(started, result.outcome.value, result.form_id, result.instance_id)

    return openrosa_message(result.message, _STATUS[result.outcome])


def _read_upload() -> tuple[bytes, dict[str, bytes]]:
    """The submission XML and attachments, keyed by the device's file names."""
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise _Refused(
            "not_multipart",
            f"The upload was {request.mimetype or 'untyped'}, not a multipart "
            "form, so there was nothing to store. Send the form again from "
            "ODK Collect.",
            400,
        )
    try:
        xml = _xml_part()
        attachments = {
            (part.filename or key, key): part.read()
            for key, part in request.files.items(multi=True)
            if key != "xml_submission_file"
        }
    except RequestEntityTooLarge as err:
        raise _Refused("too_large", TOO_LARGE, 413) from err

    return xml, attachments


def _xml_part() -> bytes:
    # Any declared type will do: the XML parser decides what is XML. Some
    # clients send the part as a plain field without a file name.
    upload = request.files.get("xml_submission_file")
    if upload is not None:
        xml = upload.read()
    elif "xml_submission_file" in request.form:
        xml = request.form["xml_submission_file"].encode("utf-8")
    else:
        raise _Refused(
            "no_xml_part",
            "The upload had no complete xml_submission_file part, so there "
            "was nothing to store; it may have been cut off on the way. Send "
            "the form again from the device.",
            400,
        )
    if not xml.strip():
        raise _Refused(
            "empty_xml",
            "The xml_submission_file part was empty, so there was nothing to "
            "store. Send the form again from the device.",
            400,
        )

    return xml


def _log_submission(
    started: float,
    outcome: str,
    form_id: str | None = None,
    instance_id: str | None = None,
) -> None:
    # Ids and timings only: values in the XML are residents' personal data.
    log.info(
        "submission device=%s form=%s instance=%s outcome=%s ms=%.1f",
        g.device.name,
        form_id or "-",
        instance_id or "-",
        outcome,
        (time.perf_counter() - started) * 1000,
    )


def _published(key: str, version: str):
    # URLs carry the form's folder name, never the raw id (see the registry).
    form_id = form_id_from_key(key)
    if form_id is None or not g.device.may_use(form_id):
        return None
    for form in g.ingest.registry.versions(form_id):
        if form.folder.name == version:
            return form

    return None


def _cached(data: bytes, content_type: str, md5: str) -> Response:
    response = Response(data, content_type=content_type)
    response.set_etag(md5)

    return response.make_conditional(request)
