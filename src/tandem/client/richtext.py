"""The rich-text content model: TinyMCE HTML <-> a Yjs ``XmlFragment`` (pycrdt).

A thin façade over :mod:`tandem.client.content` (one module per concern, twins of the
TinyMCE plugin's ``src/content/``); the mapping is specified in
``docs/content-model.md``. Content read from the document is untrusted — any key
holder can write any Yjs structure — so :func:`fragment_to_html` re-checks everything
against the allow-lists of ``schema.json`` before printing it.
"""

from __future__ import annotations

from typing import Any

import pycrdt
from pycrdt import XmlFragment

from tandem.client.content.edit import append_paragraph, format_text, insert_text, plain_text
from tandem.client.content.model import Block
from tandem.client.content.parse import html_to_model
from tandem.client.content.render import model_to_html
from tandem.client.content.schema import MARKS, ROOT_NAME
from tandem.client.content.ydoc import (
    insert_items,
    read_fragment,
    read_top_node,
    write_fragment,
)

__all__ = [
    "MARKS",
    "ROOT_NAME",
    "append_paragraph",
    "content_root",
    "format_text",
    "fragment_to_html",
    "fragment_to_model",
    "html_to_fragment",
    "insert_text",
    "morph_fragment",
    "normalize_html",
    "plain_text",
]


def content_root(doc: pycrdt.Doc[Any]) -> XmlFragment:
    """The document's rich-text root, the ``XmlFragment`` named :data:`ROOT_NAME`."""
    root: XmlFragment = doc.get(ROOT_NAME, type=XmlFragment)
    return root


def html_to_fragment(html: str, fragment: XmlFragment) -> list[str]:
    """Replace the fragment's content with ``html`` (one transaction).

    Never raises for any string. Returns human-readable notes about what the model did
    not keep (removed elements, attributes, styles; unwrapped unknown elements).
    """
    blocks, notes = html_to_model(html)
    write_fragment(fragment, blocks)
    return notes


def fragment_to_model(fragment: XmlFragment) -> list[Block]:
    """The fragment as clean model blocks, whatever a collaborator wrote into it."""
    return read_fragment(fragment)


def fragment_to_html(fragment: XmlFragment) -> str:
    """Canonical HTML for the fragment: deterministic, escaped, checked (§5, §6)."""
    return model_to_html(read_fragment(fragment))


def normalize_html(html: str) -> str:
    """``html`` -> model -> Yjs (scratch document) -> canonical HTML: what the model keeps."""
    fragment = content_root(pycrdt.Doc())
    html_to_fragment(html, fragment)
    return fragment_to_html(fragment)


def morph_fragment(fragment: XmlFragment, target: XmlFragment) -> int:
    """Make ``fragment`` show what ``target`` shows, as one edit that touches only the
    top-level blocks that differ (a common prefix and suffix stay as they are, so
    concurrent edits inside them survive). Returns the number of blocks replaced."""

    def rendered(node: object) -> tuple[str, list[Block]]:
        blocks = read_top_node(node)
        return model_to_html(blocks), blocks

    have = [rendered(child) for child in fragment.children]
    want = [rendered(child) for child in target.children]
    prefix = 0
    while prefix < min(len(have), len(want)) and have[prefix][0] == want[prefix][0]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(have), len(want)) - prefix and have[-1 - suffix][0] == want[-1 - suffix][0]
    ):
        suffix += 1
    removed = have[prefix : len(have) - suffix]
    added = want[prefix : len(want) - suffix]
    if not removed and not added:
        return 0
    with fragment.doc.transaction():
        if removed:
            del fragment.children[prefix : prefix + len(removed)]
        insert_items(fragment, prefix, [b for _html, blocks in added for b in blocks])
    return max(len(removed), len(added))
