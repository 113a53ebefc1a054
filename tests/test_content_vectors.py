"""tests/vectors/content.json: the Python content model gives what the JavaScript one gives.

The vectors are generated from the plugin's implementation (the reference) by
``clients/tinymce/test/make-content-vectors.mjs``; the plugin's suite reads the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pycrdt
import pytest
from pycrdt import XmlElement, XmlFragment, XmlText

from tandem.client.content.model import sorted_json
from tandem.client.content.parse import html_to_model
from tandem.client.content.render import model_to_html
from tandem.client.content.whitespace import display_text, model_text
from tandem.client.content.ydoc import read_fragment, utf8_units
from tandem.client.richtext import content_root

VECTORS = json.loads((Path(__file__).parent / "vectors" / "content.json").read_text("utf-8"))


def build_yjs(fragment: XmlFragment, items: list[dict[str, Any]]) -> None:
    """Build Yjs content from the vectors' description language (``buildYjs`` in JS).

    ``{"el": tag, "attrs"?, "children"?}`` is an element, ``{"text": [[insert, attrs?]…]}``
    a text whose inserts are strings or embeds. Values go in as they are, hostile ones
    included.
    """

    def make(parent: XmlFragment | XmlElement, index: int, item: dict[str, Any]) -> None:
        if "text" in item:
            text = parent.children.insert(index, XmlText())
            at = 0
            for insert, *rest in item["text"]:
                attrs = rest[0] if rest else {}
                if isinstance(insert, str):
                    text.insert(at, insert, attrs)
                    at += utf8_units(insert)
                else:
                    text.insert_embed(at, insert, attrs)
                    at += 1
            return
        el = parent.children.insert(index, XmlElement(item["el"], dict(item.get("attrs", {}))))
        for i, child in enumerate(item.get("children", [])):
            make(el, i, child)

    with fragment.doc.transaction():
        for i, item in enumerate(items):
            make(fragment, i, item)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case.get("name") or repr(case.get("text")) for case in cases]


def test_vectors_file_is_the_current_version() -> None:
    assert VECTORS["version"] == 2
    assert VECTORS["html"] and VECTORS["yjs"] and VECTORS["whitespace"]


@pytest.mark.parametrize("case", VECTORS["html"], ids=_ids(VECTORS["html"]))
def test_html_case(case: dict[str, Any]) -> None:
    model, notes = html_to_model(case["html"])
    assert sorted_json(model) == sorted_json(case["model"])
    assert model_to_html(model) == case["canonical"]
    assert notes == case["notes"]


@pytest.mark.parametrize("case", VECTORS["yjs"], ids=_ids(VECTORS["yjs"]))
def test_yjs_case(case: dict[str, Any]) -> None:
    fragment = content_root(pycrdt.Doc())
    build_yjs(fragment, case["yjs"])
    model = read_fragment(fragment)
    assert sorted_json(model) == sorted_json(case["model"])
    assert model_to_html(model) == case["canonical"]


@pytest.mark.parametrize("case", VECTORS["whitespace"], ids=_ids(VECTORS["whitespace"]))
def test_whitespace_case(case: dict[str, Any]) -> None:
    assert display_text(case["text"]) == case["display"]
    assert model_text(case["text"]) == case["model"]


@pytest.mark.parametrize("case", VECTORS["html"], ids=_ids(VECTORS["html"]))
def test_canonical_html_is_a_fixed_point(case: dict[str, Any]) -> None:
    """Parsing the canonical HTML gives the same model back, without a note."""
    model, notes = html_to_model(case["canonical"])
    assert sorted_json(model) == sorted_json(case["model"])
    assert notes == []
