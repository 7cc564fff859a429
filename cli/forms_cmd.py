"""`doorstep forms check`: what is wrong with a form, before tablets see it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from doorstep.forms.checks import check_forms
from doorstep.forms.compile import CompiledForm


@click.group("forms")
def forms() -> None:
    """Check, publish and list the deployment's forms."""


@forms.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def check(paths: tuple[Path, ...], as_json: bool) -> None:
    """Compile XLSForms (or read XForms) and list every error and warning.

    Exits 1 when any form has an error, so it can guard a publishing script.
    """
    compiled = check_forms(list(paths))
    if as_json:
        click.echo(json.dumps([_as_dict(f) for f in compiled], ensure_ascii=False))
    else:
        for form in compiled:
            for problem in form.problems:
                click.echo(str(problem))
        click.echo(_summary(compiled))

    if not all(form.ok for form in compiled):
        raise SystemExit(1)


def _as_dict(form: CompiledForm) -> dict:
    return {
        "file": str(form.source),
        "ok": form.ok,
        "problems": [p.to_dict() for p in form.problems],
    }


def _summary(compiled: list[CompiledForm]) -> str:
    problems = [p for form in compiled for p in form.problems]
    errors = sum(p.level == "error" for p in problems)
    failed = sum(not form.ok for form in compiled)
    forms_word = "form" if len(compiled) == 1 else "forms"

    return (
        f"{len(compiled)} {forms_word} checked: {len(compiled) - failed} ok, "
        f"{failed} failed; {errors} errors, {len(problems) - errors} warnings"
    )
