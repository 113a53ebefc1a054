"""The intermediate content model (docs/content-model.md §1–§2), as plain data.

Shared by the parser, the renderer and the Yjs mapping, and shaped exactly like the
JSON of the JavaScript twin (``clients/tinymce/src/content/model.js``)::

    Block = {"tag": str, "attrs": {name: str}, "children": [Block | Run]}
    Run   = {"run": [Seg]}
    Seg   = {"text": str, "marks": Marks} | {"embed": Embed, "marks": Marks}
    Marks = {tag: True | {attr: str}}
    Embed = {"tag": str, "attrs": {...}, "children"?: [str | Embed]} | {"comment": str}

Equality is structural: ``a == b`` on the dicts, or :func:`signature`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tandem.client.content.schema import SCHEMA, is_void_block, mark_order

Block = dict[str, Any]
Run = dict[str, Any]
Item = dict[str, Any]  # a Block or a Run
Seg = dict[str, Any]
Marks = dict[str, Any]


def block(
    tag: str, attrs: dict[str, str] | None = None, children: list[Item] | None = None
) -> Block:
    return {"tag": tag, "attrs": attrs if attrs is not None else {}, "children": children or []}


def run(segs: list[Seg] | None = None) -> Run:
    return {"run": segs if segs is not None else []}


def is_run(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("run"), list)


def is_embed(seg: Seg) -> bool:
    return "embed" in seg


def sorted_json(value: Any) -> str:
    """A canonical string for a JSON value (keys sorted)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def marks_key(marks: Marks | None) -> str:
    """Canonical key of a marks object (equal marks, equal keys)."""
    if not marks:
        return ""
    return ";".join(f"{n}={sorted_json(marks[n])}" for n in sorted(marks, key=mark_order))


def embed_key(embed: Any) -> str:
    return sorted_json(embed)


def run_text(r: Run) -> str:
    """Flat text of a run: characters, embeds as U+FFFC."""
    return "".join("\ufffc" if is_embed(s) else s["text"] for s in r["run"])


def run_length(r: Run) -> int:
    """Number of units of a run (code points; an embed is one)."""
    return sum(1 if is_embed(s) else len(s["text"]) for s in r["run"])


def append_seg(segs: list[Seg], seg: Seg) -> None:
    """Append a segment, merging text into a previous text segment with equal marks."""
    last = segs[-1] if segs else None
    if (
        "text" in seg
        and last is not None
        and "text" in last
        and marks_key(last["marks"]) == marks_key(seg["marks"])
    ):
        segs[-1] = {"text": last["text"] + seg["text"], "marks": last["marks"]}
    else:
        segs.append(seg)


def signature(item: Item) -> str:
    """A canonical string for a model item (equal items, equal signatures)."""
    if is_run(item):
        parts = [
            ("E" + embed_key(s["embed"]) if is_embed(s) else "T" + json.dumps(s["text"]))
            + "@"
            + marks_key(s["marks"])
            for s in item["run"]
        ]
        return "r" + "".join(parts)
    inner = ",".join(signature(c) for c in item["children"])
    return f"b{item['tag']}{sorted_json(item['attrs'])}({inner})"


def runs_of(items: Iterable[Item], out: list[Run] | None = None) -> list[Run]:
    """Every run of a list of items, depth first (document order)."""
    if out is None:
        out = []
    for item in items:
        if is_run(item):
            out.append(item)
        else:
            runs_of(item["children"], out)
    return out


# TinyMCE's parser removes a list, a table, a tbody or a blockquote that holds no content, and
# pads the blocks of _PADDED (so they always hold some): the model keeps what TinyMCE keeps.
_REMOVED_WHEN_EMPTY = frozenset(SCHEMA["removed_when_empty"])
_PADDED = frozenset(SCHEMA["padded_blocks"])


def holds_content(item: Item) -> bool:
    """Is an item content to TinyMCE's parser (text, an embed, a padded or void block, an id)?"""
    if is_run(item):
        return bool(item["run"])
    if item["tag"] in _PADDED or is_void_block(item["tag"]):
        return True
    if any(holds_content(c) for c in item["children"]):
        return True
    # <ul id="x"></ul>
    return "id" in item["attrs"] and all(is_run(c) for c in item["children"])


def vanishes(b: Block) -> bool:
    """A block TinyMCE's parser would remove (an empty list, table, tbody or blockquote)."""
    return b["tag"] in _REMOVED_WHEN_EMPTY and not holds_content(b)
