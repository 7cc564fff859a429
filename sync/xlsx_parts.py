"""The fixed parts of an xlsx package that xlsx.py writes around its sheets.

Content types, relationships, the workbook part, styles (the indexes
xlsx.HEADER ... xlsx.FLAGGED name), document properties, and the comments
part with its VML drawing.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006"
_OFFICE = "application/vnd.openxmlformats-officedocument"

# Style indexes: 0 plain, 1 bold header, 2 italic grey header, 3 date,
# 4 date and time, 5 a cell in conflict (filled).
_STYLES = f"""{_XML}<styleSheet xmlns="{_MAIN}">
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>
<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/></numFmts>
<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>
<font><b/><sz val="11"/><name val="Calibri"/></font>
<font><i/><sz val="11"/><color rgb="FF595959"/><name val="Calibri"/></font></fonts>
<fills count="3"><fill><patternFill patternType="none"/></fill>
<fill><patternFill patternType="gray125"/></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFFFC7CE"/>
<bgColor rgb="FFFFC7CE"/></patternFill></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>
</borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>
</cellStyleXfs>
<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>
<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0"
 applyNumberFormat="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0"
 applyNumberFormat="1"/>
<xf numFmtId="0" fontId="0" fillId="2" borderId="0" xfId="0" applyFill="1"/>
</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>
</cellStyles></styleSheet>"""

_CORE = f"""{_XML}<cp:coreProperties
 xmlns:cp="{_PKG}/metadata/core-properties"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:dcterms="http://purl.org/dc/terms/"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:creator>doorstep</dc:creator>
<dcterms:created xsi:type="dcterms:W3CDTF">2020-01-01T00:00:00Z</dcterms:created>
<dcterms:modified xsi:type="dcterms:W3CDTF">2020-01-01T00:00:00Z</dcterms:modified>
</cp:coreProperties>"""


def static_parts() -> dict[str, str]:
    """Parts whose content never changes: styles and document properties."""
    return {"xl/styles.xml": _STYLES, "docProps/core.xml": _CORE}


def content_types(sheets: int, commented: list[int]) -> str:
    parts = [
        f'<Override PartName="/xl/worksheets/sheet{n}.xml"'
        f' ContentType="{_OFFICE}.spreadsheetml.worksheet+xml"/>'
        for n in range(1, sheets + 1)
    ]
    parts += [
        f'<Override PartName="/xl/comments{n}.xml"'
        f' ContentType="{_OFFICE}.spreadsheetml.comments+xml"/>'
        for n in commented
    ]

    return (
        f'{_XML}<Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels"'
        ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Default Extension="vml" ContentType="{_OFFICE}.vmlDrawing"/>'
        '<Override PartName="/xl/workbook.xml"'
        f' ContentType="{_OFFICE}.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml"'
        f' ContentType="{_OFFICE}.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml"'
        ' ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        + "".join(parts)
        + "</Types>"
    )


def package_rels() -> str:
    return _relationships(
        [
            ("rId1", f"{_DOC}/relationships/officeDocument", "xl/workbook.xml"),
            (
                "rId2",
                f"{_PKG}/relationships/metadata/core-properties",
                "docProps/core.xml",
            ),
        ]
    )


def workbook_xml(titles: list[str]) -> str:
    sheets = "".join(
        f'<sheet name={quoteattr(title)} sheetId="{n}" r:id="rId{n}"/>'
        for n, title in enumerate(titles, 1)
    )

    return (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}/relationships">'
        f"<sheets>{sheets}</sheets></workbook>"
    )


def workbook_rels(sheets: int) -> str:
    found = [
        (f"rId{n}", f"{_DOC}/relationships/worksheet", f"worksheets/sheet{n}.xml")
        for n in range(1, sheets + 1)
    ]
    found.append((f"rId{sheets + 1}", f"{_DOC}/relationships/styles", "styles.xml"))

    return _relationships(found)


def sheet_rels(number: int) -> str:
    return _relationships(
        [
            (
                "rId1",
                f"{_DOC}/relationships/vmlDrawing",
                f"../drawings/vmlDrawing{number}.vml",
            ),
            ("rId2", f"{_DOC}/relationships/comments", f"../comments{number}.xml"),
        ]
    )


def comments_xml(
    notes: list[tuple[tuple[int, int], str]], letter: Callable[[int], str]
) -> str:
    """The comments part; ``notes`` holds ((0-based row, column), text)."""
    items = "".join(
        f'<comment ref="{letter(c)}{r + 1}" authorId="0"><text>'
        f'<t xml:space="preserve">{escape(text)}</t></text></comment>'
        for (r, c), text in notes
    )

    return (
        f'{_XML}<comments xmlns="{_MAIN}"><authors><author>doorstep</author>'
        f"</authors><commentList>{items}</commentList></comments>"
    )


def vml_xml(notes: list[tuple[tuple[int, int], str]], number: int) -> str:
    """The legacy drawing that holds one hidden note box per comment."""
    shapes = "".join(
        _shape(number * 1024 + i + 1, r, c) for i, ((r, c), _) in enumerate(notes)
    )

    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml"'
        ' xmlns:o="urn:schemas-microsoft-com:office:office"'
        ' xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{number}"/>'
        "</o:shapelayout>"
        '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202"'
        ' path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
        '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
        f"{shapes}</xml>"
    )


def _shape(shape_id: int, row: int, column: int) -> str:
    anchor = f"{column + 1}, 15, {row}, 2, {column + 5}, 15, {row + 6}, 4"
    return (
        f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202"'
        ' style="position:absolute;margin-left:80pt;margin-top:2pt;width:240pt;'
        'height:90pt;z-index:1;visibility:hidden" fillcolor="#ffffe1"'
        ' o:insetmode="auto"><v:fill color2="#ffffe1"/>'
        '<v:shadow on="t" color="black" obscured="t"/>'
        '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
        '<div style="text-align:left"></div></v:textbox>'
        '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>"
        f"<x:Row>{row}</x:Row><x:Column>{column}</x:Column></x:ClientData>"
        "</v:shape>"
    )


def _relationships(items: list[tuple[str, str, str]]) -> str:
    rels = "".join(
        f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/>'
        for rid, kind, target in items
    )

    return f'{_XML}<Relationships xmlns="{_PKG}/relationships">{rels}</Relationships>'
