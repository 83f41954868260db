"""The XML form of Open311 documents, built from the same data as the JSON form.

GeoReport v2's JSON is "a programmatic mapping of the XML"; we go the other way: one nested
structure of dicts and lists, rendered to JSON as is and to XML here, so both can never differ.
ElementTree escapes text and never resolves entities on output, which is all we need.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

# The spec's element names for the members of each list.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS[element.tag]
        for child in value:
            _fill(ET.SubElement(element, item_tag), child)
    else:
        element.text = _text(value)


def render(root_tag: str, value: Any) -> bytes:
    """The document as UTF-8 XML with a declaration: `root_tag` wraps a dict or a list."""
    root = ET.Element(root_tag)
    _fill(root, value)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
