"""XLSForm to XForm, with every problem told in the admin's words.

pyxform reports one error at a time as an exception and its warnings as
strings; some forms make it crash outright. All of these become FormProblems
naming the file, and the sheet, row and column where they can be found, so
that ``doorstep forms check`` never shows a traceback.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from pyxform.errors import PyXFormError
from pyxform.xls2json_backends import get_xlsform
from pyxform.xls2xform import convert

from doorstep.forms.spec import FormSpec, SpecError, read_spec
from doorstep.forms.xml import XMLError

XLSFORM_SUFFIXES = (".xlsx", ".xls", ".csv", ".md")
XFORM_SUFFIXES = (".xml",)


@dataclass(frozen=True)
class FormProblem:
    """One error or warning about a form, located as precisely as known."""

    file: str
    sheet: str | None
    row: int | None
    column: str | None
    level: str  # "error" | "warning"
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = [self.file, self.sheet, self.row, self.column]
        place = ":".join(str(part) for part in where if part is not None)
        text = f"{place}: {self.message}"

        return f"{text} - {self.fix}" if self.fix else text

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CompiledForm:
    """The outcome of compiling one form file: the XForm, or why not."""

    source: Path
    xform: str | None = None
    itemsets: str | None = None
    spec: FormSpec | None = None
    problems: list[FormProblem] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)


def compile_form(path: Path) -> CompiledForm:
    """Compile an XLSForm (or read a compiled XForm); never raises for bad forms."""
    path = Path(path)
    form = CompiledForm(source=path)
    unusable = _unusable(path)
    if unusable:
        form.problems.append(_error(path, unusable[0], unusable[1]))
        return form

    if path.suffix.lower() in XFORM_SUFFIXES:
        _read_xform(form)
    else:
        _convert(form)
    if form.spec is not None:
        # Imported here: checks builds on this module's FormProblem.
        from doorstep.forms.checks import check_form

        form.problems.extend(check_form(form))

    return form


def _unusable(path: Path) -> tuple[str, str] | None:
    suffixes = ", ".join(XLSFORM_SUFFIXES + XFORM_SUFFIXES)
    if not path.exists():
        return "the file does not exist", "check the path and the file name"
    if not path.is_file():
        return "this is a folder, not a form file", "give the path of a form file"
    if path.suffix.lower() not in XLSFORM_SUFFIXES + XFORM_SUFFIXES:
        return (
            f"doorstep cannot read {path.suffix or 'files without an extension'}",
            f"save the form as one of {suffixes}",
        )
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as err:
        return f"the file cannot be read ({err.strerror})", "check its permissions"

    return None


def _error(path: Path, message: str, fix: str | None) -> FormProblem:
    return FormProblem(path.name, None, None, None, "error", message, fix)


def _read_xform(form: CompiledForm) -> None:
    try:
        xml = form.source.read_bytes()
        form.spec = read_spec(xml)
    except (SpecError, XMLError) as err:
        form.problems.append(
            _error(form.source, f"this is not a usable XForm: {err}", _XFORM_FIX)
        )
        return

    form.xform = xml.decode("utf-8", errors="replace")


_XFORM_FIX = "export the form again from ODK Central or Kobo as XForm XML"


def _convert(form: CompiledForm) -> None:
    found: list[str] = []
    try:
        # openpyxl and xlrd warn about workbook styling through the warnings
        # module; none of it concerns the form, and it would reach the admin
        # as noise on stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Read once: the rows locate problems, and convert takes the
            # sheets as they were read (reading a large workbook costs
            # a third of compiling it).
            workbook = get_xlsform(str(form.source))
            form.rows = _rows(workbook.survey or [])
            sheets = {f.name: getattr(workbook, f.name) for f in fields(workbook)}
            result = convert(sheets, warnings=found)
    except PyXFormError as err:
        form.problems.append(explain(form.source, str(err), "error", form.rows))
        return
    except Exception as err:  # pyxform crashes on some real forms (TypeError...)
        form.problems.append(_crash(form.source, err))
        return

    form.xform, form.itemsets = result.xform, result.itemsets
    for text in found:
        for line in filter(None, (s.strip() for s in str(text).splitlines())):
            form.problems.append(explain(form.source, line, "warning", form.rows))
    _read_compiled(form)


def _read_compiled(form: CompiledForm) -> None:
    try:
        form.spec = read_spec(form.xform)
    except (SpecError, XMLError) as err:
        form.problems.append(
            _error(
                form.source,
                f"pyxform compiled the form but doorstep cannot read the result: {err}",
                "report this form to the doorstep maintainers",
            )
        )


def _crash(path: Path, err: Exception) -> FormProblem:
    # pyxform's own bug, but the admin can usually get past it: it is almost
    # always an odd cell (a number or formula where text belongs).
    detail = f"{type(err).__name__}: {err}".splitlines()[0][:200]

    return _error(
        path,
        f"pyxform could not read this form and stopped ({detail})",
        "check for headers or cells that are numbers, dates or formulas "
        "where text belongs, and empty or misspelt column headers",
    )


def _rows(sheet: list[dict]) -> dict[str, int]:
    """Spreadsheet row of every survey row, by name, type and path."""
    rows: dict[str, int] = {}
    groups: list[str] = []
    for index, row in enumerate(sheet):
        # pyxform numbers rows as the spreadsheet does: header row 1.
        number = index + 2
        kind = str(row.get("type") or "").strip()
        name = str(row.get("name") or "").strip()
        if kind.startswith("end"):
            groups = groups[:-1]
            continue
        rows.setdefault(f"type:{kind}", number)
        rows.setdefault(f"name:{name}", number)
        rows.setdefault("/".join([*groups, name]), number)
        if kind.startswith("begin"):
            groups.append(name)

    return rows


# --- pyxform's messages in the admin's words ---------------------------------

_ROW = re.compile(r"^\[row : (\d+)\]\s*")
_SHEET = re.compile(r"On the '(\w+)' sheet")
_COLUMN = re.compile(r"the '([^']+)' (?:value|column)")


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern
    message: str
    fix: str
    column: str | None = None
    sheet: str | None = "survey"
    # Where pyxform gives no row: the survey key ("type:{v}", "name:{v}")
    # whose row the problem is on.
    row_key: str | None = None


def _rule(pattern: str, message: str, fix: str, **where) -> _Rule:
    return _Rule(re.compile(pattern, re.S), message, fix, **where)


_RULES = (
    _rule(
        r"Unknown question type '(?P<v>[^']*)'",
        'the question type "{v}" is not an XLSForm type',
        "correct it in the type column (text, integer, select_one <list>, ...); "
        "app-specific types such as db:person do not work in ODK",
        column="type",
        row_key="type:{v}",
    ),
    _rule(
        r"List name not in choices sheet: (?P<v>\S+)",
        'the choice list "{v}" is not on the choices sheet',
        'add its choices with "{v}" in the list_name column of the choices '
        "sheet, or correct the list name in the type column",
        column="type",
    ),
    _rule(
        r"There should be a choices sheet",
        "the form has select questions but no choices sheet",
        "add a sheet named choices with the columns list_name, name and label",
        sheet=None,
    ),
    _rule(
        r"There should be an external_choices sheet",
        "the form has select_one_external questions but no external_choices sheet",
        "add a sheet named external_choices with the columns list_name and name",
        sheet=None,
    ),
    _rule(
        r"The name 'meta' is reserved",
        'the name "meta" is reserved for form metadata',
        "rename the question in the name column",
    ),
    _rule(
        r"'name' value '(?P<v>[^']*)' is invalid\. Questions, groups, and repeats "
        r"must be unique",
        'the name "{v}" is used twice in the same group',
        "give each question its own name in the name column",
        column="name",
    ),
    _rule(
        r"'name' value '(?P<v>[^']*)' is invalid\. Repeat names must unique",
        'the repeat name "{v}" is used twice',
        "give each repeat its own name in the name column",
        column="name",
    ),
    _rule(
        r"Question or group with no name",
        "this question or group has no name",
        "fill in the name column (a letter first, then letters, digits or _)",
        column="name",
    ),
    _rule(
        r"'name' value is invalid\. Names must begin",
        "this name cannot be used as a field name",
        "start it with a letter or _ and use only letters, digits, _, - or .",
        column="name",
    ),
    _rule(
        r"The survey element named '(?P<v>[^']*)' has no label or hint",
        'the question "{v}" has no label',
        "write what the volunteer should read in the label column",
        column="label",
        row_key="name:{v}",
    ),
    _rule(
        r"Unmatched 'begin_(?P<t>\w+)'\. .*name '(?P<v>[^']*)'",
        '"begin {t}" of "{v}" has no matching "end {t}"',
        'add an "end {t}" row after the last question of "{v}"',
        column="type",
    ),
    _rule(
        r"Unmatched 'end_(?P<t>\w+)'\.",
        '"end {t}" has no matching "begin {t}"',
        'add a "begin {t}" row above it, or delete this row',
        column="type",
    ),
    _rule(
        r"On the '(?P<s>\w+)' sheet, the '(?P<c>[\w:]+)' value is invalid\. "
        r"Reference variables must contain a name .* Could not find the name "
        r"'(?P<v>[^']*)'",
        "${{{v}}} refers to a question that does not exist",
        'correct the name inside ${{...}} in the {c} column, or add a question "{v}"',
    ),
    _rule(
        r"Missing calculation",
        "this calculate row has no calculation",
        "write the expression in the calculation column",
        column="calculation",
    ),
    _rule(
        r"Duplicate column header: (?P<v>.+)",
        'the column "{v}" appears twice',
        "delete or rename one of the two columns",
        sheet=None,
    ),
    _rule(
        r"You must have a sheet named 'survey'",
        "the workbook has no sheet named survey, or that sheet is empty",
        "name the sheet that lists the questions survey, with a header row "
        "(type, name, label) and one row per question",
        sheet=None,
    ),
    _rule(
        r"Question with no type\.\s*(?P<v>.*)",
        "a question has a name or label but no type",
        "write its type (text, integer, select_one <list>, ...) in the type "
        "column; a formula there counts as no type",
        column="type",
    ),
    _rule(
        r"When looking for a sheet named '(?P<want>\w+)', the following sheets "
        r"with similar names were found: (?P<v>.+?)\. If you",
        "the sheet {v} looks like a misspelt {want} sheet, so it is ignored",
        "rename it {want}, or start its name with _ if the form should ignore it",
        sheet=None,
    ),
    _rule(
        r"On the 'choices' sheet, the 'name' value is invalid\. Choice names must "
        r"be unique",
        "this choice name is used twice in the same list",
        "give each choice of a list its own name, or write yes under "
        "allow_choice_duplicates on the settings sheet",
        column="name",
        sheet="choices",
    ),
    _rule(
        r"On the 'choices' sheet, the 'name' value is invalid\. Choices must have",
        "this choice has no name",
        "fill in the name column: it is what the submission stores",
        column="name",
        sheet="choices",
    ),
    _rule(
        r"To save entity properties using the save_to column, add an entities",
        "save_to is filled in but the form declares no entity",
        "add an entities sheet with the list_name of the entity list, or clear "
        "the save_to column",
        column="save_to",
    ),
    _rule(
        r"was not recognized as a supported type",
        "the file cannot be opened as a spreadsheet (damaged, or another "
        "format saved under this extension)",
        "open it in Excel or LibreOffice and save it again as .xlsx",
        sheet=None,
    ),
    _rule(
        r"Use the max-pixels parameter",
        "photos from this image question are sent at full size",
        "add max-pixels=1024 in the parameters column",
        column="parameters",
    ),
    _rule(
        r"On the 'choices' sheet, the 'label' value is invalid\. Choices should "
        r"have a label",
        "this choice has no label",
        "write the text the volunteer sees in the label column",
        column="label",
        sheet="choices",
    ),
    _rule(
        r"language declarations do not contain valid machine-readable codes: "
        r"(?P<v>.+?)\. Learn more",
        "the languages {v} have no language code",
        "add the code in brackets to the column names, e.g. label::English (en) "
        "and label::中文 (zh)",
        sheet=None,
    ),
)


def explain(path: Path, text: str, level: str, rows: dict[str, int]) -> FormProblem:
    """Turn one pyxform error or warning into a located FormProblem."""
    text = " ".join(text.split())
    row_match = _ROW.match(text)
    row = int(row_match.group(1)) if row_match else None
    body = text[row_match.end() :] if row_match else text
    for rule in _RULES:
        match = rule.pattern.search(body)
        if match:
            return _by_rule(path, rule, match, row, level, rows)

    sheet = _SHEET.search(body)
    column = _COLUMN.search(body)
    return FormProblem(
        file=path.name,
        sheet=sheet.group(1) if sheet else ("survey" if row else None),
        row=row,
        column=column.group(1) if column else None,
        level=level,
        message=body.rstrip("."),
        fix=None,
    )


def _by_rule(path, rule: _Rule, match, row, level, rows) -> FormProblem:
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    if row is None and rule.row_key:
        row = rows.get(rule.row_key.format(**parts))

    return FormProblem(
        file=path.name,
        sheet=parts.get("s", rule.sheet),
        row=row,
        column=parts.get("c", rule.column),
        level=level,
        message=rule.message.format(**parts),
        fix=rule.fix.format(**parts),
    )
