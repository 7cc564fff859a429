"""doorstep's own warnings about forms, beyond what pyxform checks.

They concern how doorstep uses a form: filing submissions in building
ledgers, updating entities that another form creates, bilingual labels, and
personal numbers typed in the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from doorstep.forms.compile import CompiledForm, FormProblem, compile_form
from doorstep.forms.personal import is_personal
from doorstep.forms.spec import Field, FormSpec

# pyxform writes "-" for a translation the form leaves empty.
_NO_LABEL = ("", "-")


def check_form(form: CompiledForm) -> list[FormProblem]:
    """Warnings about one compiled form that need no other form."""
    if form.spec is None:
        return []

    return [
        *_missing_translations(form),
        *_no_building(form),
        *_unchecked_personal_numbers(form),
    ]


def check_forms(paths: Iterable[Path]) -> list[CompiledForm]:
    """Compile every form, then warn about entity lists no form creates."""
    forms = [compile_form(Path(p)) for p in paths]
    created = {
        entity.dataset
        for form in forms
        if form.spec is not None
        for entity in form.spec.entities
        if _creates(entity.create, entity.update)
    }
    for form in forms:
        form.problems.extend(_uncreated_lists(form, created))

    return forms


def _warning(form: CompiledForm, path: str | None, message: str, fix: str):
    # Paths miss when pyxform moved a row (e.g. into meta); the name still fits.
    row = None
    if path:
        row = form.rows.get(path) or form.rows.get(f"name:{path.rsplit('/')[-1]}")

    return FormProblem(
        form.source.name,
        "survey" if form.rows else None,
        row,
        None,
        "warning",
        message,
        fix,
    )


def _missing_translations(form: CompiledForm) -> list[FormProblem]:
    spec: FormSpec = form.spec
    if len(spec.languages) < 2:
        return []

    gaps: list[tuple[Field, list[str]]] = []
    for field in spec.fields:
        labels = field.labels.items()
        labelled = {lang for lang, text in labels if text not in _NO_LABEL}
        if labelled:
            gaps.append((field, [x for x in spec.languages if x not in labelled]))
    # A language with no label anywhere is one mistake, not one per question.
    empty = [
        lang
        for lang in spec.languages
        if gaps and all(lang in missing for _, missing in gaps)
    ]

    return [
        *(_empty_language(form, lang) for lang in empty),
        *(
            _missing_label(form, field, [m for m in missing if m not in empty])
            for field, missing in gaps
            if set(missing) - set(empty)
        ),
    ]


def _empty_language(form: CompiledForm, language: str) -> FormProblem:
    return _warning(
        form,
        None,
        f'the language "{language}" has no labels at all',
        f"fill in the label::{language} column, or delete it",
    )


def _missing_label(form: CompiledForm, field: Field, missing: list[str]):
    return _warning(
        form,
        field.path,
        f'the question "{field.name}" has no label in ' + ", ".join(missing),
        "fill in its label::<language> column for every language",
    )


def _no_building(form: CompiledForm) -> list[FormProblem]:
    spec: FormSpec = form.spec
    if spec.entities or any(f.name == "building" for f in spec.fields):
        return []

    return [
        _warning(
            form,
            None,
            "the form has no field named building, and ledgers need a building "
            "field to file each submission under its building",
            "add a question named building (or declare entities), or name the "
            "building field for this form in the ledger settings",
        )
    ]


def _unchecked_personal_numbers(form: CompiledForm) -> list[FormProblem]:
    return [
        _warning(
            form,
            field.path,
            f'the question "{field.name}" takes an ID card or phone number '
            "but has no constraint, so typing mistakes go unnoticed",
            "add a constraint, e.g. regex(., '^1[0-9]{10}$') for a mobile number "
            "or regex(., '^[0-9]{17}[0-9X]$') for an ID card number",
        )
        for field in form.spec.fields
        if _personal(field) and not field.constraint
    ]


def _personal(field: Field) -> bool:
    # Values the device fills in itself (preloads, calculations) need no check.
    if field.calculate or field.preload or field.readonly:
        return False

    return is_personal(field)


def _creates(create: str | None, update: str | None) -> bool:
    return create is not None or update is None


def _uncreated_lists(form: CompiledForm, created: set[str]) -> list[FormProblem]:
    if form.spec is None:
        return []

    own = {e.dataset for e in form.spec.entities if _creates(e.create, e.update)}
    updated = {e.dataset for e in form.spec.entities if e.update is not None}
    read = {
        Path(f.choice_file).stem
        for f in form.spec.fields
        if f.choice_file and f.choice_file.lower().endswith(".csv")
    }
    lonely = sorted((updated | read) - own - created)

    return [
        _warning(
            form,
            None,
            f'the form updates or reads the entity list "{name}", which none '
            "of the checked forms creates",
            f'check it together with the form that registers "{name}"; if '
            f"{name}.csv is a plain list, attach it when publishing the form",
        )
        for name in lonely
    ]
