"""The envelope of a submission: what a server needs before it reads values.

A submission is matched to its form by the root's ``id`` and ``version``
attributes, never by the root element's name: devices and older servers use
the form's own name as the root (``<tutorial id="tutorial">``) where pyxform
writes ``<data>``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from doorstep.forms.xml import XMLError, local_name, parse_xml


class InstanceError(ValueError):
    """A submission that cannot be identified; the message is for the volunteer."""


@dataclass(frozen=True)
class Instance:
    """A parsed submission envelope: identity and metadata, plus the tree."""

    form_id: str
    version: str
    instance_id: str
    deprecated_id: str | None
    time_end: str | None
    id_derived: bool
    root: Element
    xml: bytes

    def text(self, path: str) -> str | None:
        """Text of the element at ``path`` (relative to the root), or None."""
        node = find(self.root, path)
        if node is None:
            return None

        return node.text or ""


def find(root: Element, path: str) -> Element | None:
    """Find ``path`` ("a/b/c") below ``root``, ignoring namespaces."""
    node = root
    for step in path.strip("/").split("/"):
        node = next((c for c in node if local_name(c.tag) == step), None)
        if node is None:
            return None

    return node


def parse_instance(xml: bytes) -> Instance:
    """Read a submission's envelope, raising InstanceError when it is unusable."""
    try:
        root = parse_xml(xml)
    except XMLError as err:
        raise InstanceError(f"The submission could not be read: {err}.") from err

    form_id = root.get("id")
    if not form_id:
        raise InstanceError(
            "The submission does not say which form it belongs to "
            "(its root element has no id attribute)."
        )

    meta = _meta(root)
    instance_id = _child_text(meta, "instanceID")
    derived = not instance_id
    if derived:
        # Old devices and exports leave meta/instanceID out. The content hash
        # keeps such a submission, and a resend of it stays one submission.
        instance_id = "sha256:" + hashlib.sha256(xml).hexdigest()

    return Instance(
        form_id=form_id,
        version=root.get("version") or "",
        instance_id=instance_id,
        deprecated_id=_child_text(meta, "deprecatedID") or None,
        time_end=_child_text(meta, "timeEnd") or None,
        id_derived=derived,
        root=root,
        xml=xml,
    )


def _meta(root: Element) -> Element | None:
    # Some old forms put the block under orx:meta; either name counts.
    return next((c for c in root if local_name(c.tag) == "meta"), None)


def _child_text(parent: Element | None, name: str) -> str | None:
    if parent is None:
        return None
    node = next((c for c in parent if local_name(c.tag) == name), None)
    if node is None:
        return None

    return (node.text or "").strip()
