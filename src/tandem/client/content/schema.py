"""The content model's vocabulary (docs/content-model.md), read from ``schema.json``.

The TinyMCE plugin reads the same file (``clients/tinymce/src/content/schema.js``): one
list of elements, attributes, URL schemes and CSS properties for both languages. Nothing
in this package repeats an entry of it.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from tandem.client.content.jscompat import u16key

SCHEMA: dict[str, Any] = json.loads(
    files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
)

ROOT_NAME: str = SCHEMA["root"]
FLOW_BLOCKS = frozenset(SCHEMA["flow_blocks"])
#: structural tag -> its default child
STRUCTURAL: dict[str, str] = dict(SCHEMA["structural_blocks"])
STRUCTURAL_CHILDREN: dict[str, frozenset[str]] = {
    tag: frozenset(children) for tag, children in SCHEMA["structural_children"].items()
}
VOID_BLOCKS = frozenset(SCHEMA["void_blocks"])
BLOCKS = FLOW_BLOCKS | frozenset(STRUCTURAL) | VOID_BLOCKS
#: Marks in nesting order, outermost first.
MARKS: tuple[str, ...] = tuple(SCHEMA["marks"])
MARK_RANK = {mark: rank for rank, mark in enumerate(MARKS)}
VOID_EMBEDS = frozenset(SCHEMA["void_embeds"])
MEDIA_EMBEDS = frozenset(SCHEMA["media_embeds"])
MEDIA_CHILDREN = frozenset(SCHEMA["media_children"])
NONEDITABLE_CLASSES: tuple[str, ...] = tuple(SCHEMA["noneditable_classes"])
DROP_WITH_CONTENT = frozenset(SCHEMA["drop_with_content"])
LEGACY: dict[str, Any] = SCHEMA["legacy"]
EMBED_MAX_DEPTH: int = SCHEMA["embed_max_depth"]
#: Elements nested deeper than this are flattened (their content kept, in order), so that
#: no document — a hostile one included — can exhaust a recursion limit. Content from
#: TinyMCE never comes near it.
MAX_DEPTH: int = SCHEMA["max_depth"]
#: Blocks that hold only inline content in HTML (a block inside one is split out).
PHRASING_BLOCKS = frozenset(SCHEMA["phrasing_blocks"])
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
#: Table parts and list items: only inside these parents.
CONTAINED: dict[str, frozenset[str]] = {
    tag: frozenset(parents) for tag, parents in SCHEMA["contained_blocks"].items()
}


def is_block_tag(tag: str) -> bool:
    """A block element of the model (not an inline element, mark or embed)."""
    return tag in BLOCKS


def is_flow_block(tag: str) -> bool:
    return tag in FLOW_BLOCKS


def is_structural(tag: str) -> bool:
    return tag in STRUCTURAL


def is_void_block(tag: str) -> bool:
    return tag in VOID_BLOCKS


def is_mark_tag(tag: str) -> bool:
    return tag in MARK_RANK


def nests(parent: str, child: str) -> bool:
    """May block ``child`` sit in block ``parent`` without an HTML parser moving it out?"""
    if parent not in PHRASING_BLOCKS:
        return True
    return parent != "p" and child not in _HEADINGS


def contained(parent: str | None, tag: str, depth: int = 0) -> bool:
    """Can ``tag`` sit in ``parent``, directly or once wrapped in its default children?"""
    parents = CONTAINED.get(tag)
    if parents is None or parent in parents:
        return True
    return _accepts(parent, tag, depth)


def _accepts(parent: str | None, tag: str, depth: int) -> bool:
    if parent is None or parent not in STRUCTURAL or depth > 3:
        return False
    if tag in STRUCTURAL_CHILDREN[parent]:
        return True
    return _accepts(STRUCTURAL[parent], tag, depth + 1)


def mark_order(tag: str) -> tuple[int, bytes]:
    """Sort key of marks when nesting: known ones in schema order, unknown after, by name."""
    return (MARK_RANK.get(tag, len(MARKS)), u16key(tag))
