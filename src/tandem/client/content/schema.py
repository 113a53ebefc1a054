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
#: no document — a hostile one included — can exhaust Python's recursion limit. Content
#: from TinyMCE never comes near it. The plugin has no such limit yet (reported).
MAX_DEPTH = 100


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


def mark_order(tag: str) -> tuple[int, bytes]:
    """Sort key of marks when nesting: known ones in schema order, unknown after, by name."""
    return (MARK_RANK.get(tag, len(MARKS)), u16key(tag))
