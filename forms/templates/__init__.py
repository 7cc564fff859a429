"""The community forms that ship with doorstep, bilingual (中文 and English).

Each form is kept here as a markdown XLSForm (``<name>.md``): one table per
sheet, the first cell of a table naming the sheet. Markdown is the diffable
source of truth; admins get an ``.xlsx`` copy to edit in Excel.

Conventions every template keeps:

- Labels, hints and constraint messages in the columns ``::中文 (zh)`` and
  ``::English (en)``, Chinese the default language.
- Choices carry stable English names; only labels are translated.
- A form that feeds a building ledger has a field named ``building`` whose
  choices are the compound's buildings ``1`` .. ``6`` (labelled 1号楼 ..);
  an admin edits that list to match the compound. Flats add ``unit`` and
  ``room``.
- ``supplies_stock`` counts stock where it is kept: its ``building`` is one
  of the buildings or ``office`` (社区办公室), so the office store has a
  ledger of its own beside the buildings'.
- Entity ids are natural keys: a household is ``building-unit-room`` and a
  resident ``building-unit-room-name``, so registrations of one flat made
  offline by two volunteers meet in one entity.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

TEMPLATES: tuple[str, ...] = (
    "household_registration",
    "returnee_registration",
    "quarantine_followup",
    "gate_log",
    "disinfection_log",
    "vulnerable_needs",
    "supplies_stock",
)

_HERE = Path(__file__).resolve().parent


class TemplateError(LookupError):
    """A template name doorstep does not ship."""


def source_path(name: str) -> Path:
    """The markdown XLSForm of template ``name``."""
    if name not in TEMPLATES:
        raise TemplateError(
            f"There is no template named {name!r}; "
            f"choose one of: {', '.join(TEMPLATES)}."
        )

    return _HERE / f"{name}.md"


def read_sheets(path: Path) -> dict[str, list[list[str]]]:
    """The tables of a markdown XLSForm: sheet name -> rows of cell text.

    The first row of each sheet is its header. Lines outside tables (titles,
    notes) are the template's documentation and belong to no sheet.
    """
    sheets: dict[str, list[list[str]]] = {}
    rows: list[list[str]] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            rows = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0]:
            rows = sheets.setdefault(cells[0], [])
        elif rows is not None:
            rows.append(cells[1:])

    return sheets


def write_xlsx(name: str, dest: Path) -> Path:
    """Write template ``name`` as an Excel workbook at ``dest``.

    ``dest`` is a file path, or a folder to write ``<name>.xlsx`` into. Every
    cell is written as text, exactly as the markdown holds it.
    """
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"{name}.xlsx"

    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet, rows in read_sheets(source_path(name)).items():
        worksheet = workbook.create_sheet(sheet)
        for row in rows:
            worksheet.append([cell or None for cell in row])
    workbook.save(dest)

    return dest


def copy_templates(dest_dir: Path) -> list[Path]:
    """Write every template as ``<name>.xlsx`` into ``dest_dir``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)

    return [write_xlsx(name, dest_dir / f"{name}.xlsx") for name in TEMPLATES]
