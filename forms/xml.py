"""Safe XML parsing shared by everything that reads forms and submissions.

Submissions come from devices we do not control, so entity expansion, DTDs
and external references are refused outright (defusedxml), never resolved.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class XMLError(ValueError):
    """XML that cannot be read: malformed, or using refused features."""


def parse_xml(data: bytes | str) -> Element:
    """Parse ``data`` into an element tree, refusing DTDs and entities."""
    try:
        return fromstring(data, forbid_dtd=True)
    except DefusedXmlException as err:
        raise XMLError(
            "the XML declares a DTD or entities, which doorstep refuses"
        ) from err
    except ParseError as err:
        raise XMLError(f"the XML is malformed ({err})") from err


def local_name(tag: str) -> str:
    """The tag without its ``{namespace}`` prefix."""
    return tag.rsplit("}", 1)[-1]
