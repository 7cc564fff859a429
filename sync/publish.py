"""Publishing forms into a deployment: compile, check, store the version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from doorstep.forms.compile import FormProblem, compile_form
from doorstep.sync.deployment import Deployment
from doorstep.sync.registry import FormRegistry, PublishedForm, RegistryError


class PublishError(Exception):
    """A form that was not published; ``problems`` says why, cell by cell."""

    def __init__(self, message: str, problems: list[FormProblem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Published:
    form: PublishedForm
    new: bool
    warnings: list[FormProblem]


def publish_form(
    deployment: Deployment, path: Path, media: list[Path] | None = None
) -> Published:
    """Compile the form at ``path`` and publish it with its media files."""
    compiled = compile_form(path)
    if not compiled.ok:
        errors = [p for p in compiled.problems if p.level == "error"]
        raise PublishError(f"{path.name} has {len(errors)} error(s)", errors)

    files = {p.name: _read(p) for p in media or []}
    if compiled.itemsets:
        # pyxform writes external choices to itemsets.csv beside the form;
        # devices need it as media.
        files.setdefault("itemsets.csv", compiled.itemsets.encode("utf-8"))
    try:
        form, new = FormRegistry(deployment.data_dir).publish(compiled.xform, files)
    except RegistryError as err:
        raise PublishError(f"{path.name}: {err}") from err

    warnings = [p for p in compiled.problems if p.level != "error"]
    warnings += _media_warnings(deployment, path, form)

    return Published(form, new, warnings)


def _media_warnings(deployment: Deployment, path: Path, form) -> list[FormProblem]:
    """Files the form uses but was not given, and files given but unused."""
    registry = FormRegistry(deployment.data_dir)
    lists = {
        f"{entity.dataset}.csv"
        for published in registry.forms()
        for entity in published.spec.entities
    }
    held, used = set(form.media()), set(form.spec.media)
    missing = sorted(used - held - lists)
    unused = sorted(held - used - {"itemsets.csv"})

    return [
        _warning(
            path,
            f"the form uses {name}, which was not published with it",
            f"publish it again with --media {name}, or publish the form "
            "that creates that entity list",
        )
        for name in missing
    ] + [
        _warning(
            path,
            f"the media file {name} is not used by the form",
            "check the file name against the form",
        )
        for name in unused
    ]


def _warning(path: Path, message: str, fix: str) -> FormProblem:
    return FormProblem(path.name, None, None, None, "warning", message, fix)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise PublishError(f"media file {path} cannot be read: {err}") from err
