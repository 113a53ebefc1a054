"""The content model <-> the Yjs ``XmlFragment`` ``"content"`` (docs/content-model.md §1).

* Block -> ``XmlElement(tag)`` whose attributes are the model's (HTML names, ``style:PROP``)
* Run   -> ``XmlText``: characters, ``"\\n"`` for ``<br>``, embeds; marks as formatting
  attributes

Reading is defensive: a Yjs document comes from collaborators, any of whom may write any
structure (a malicious key holder does not need TinyMCE). :func:`read_fragment` returns a
clean model whatever the document holds — version-1 marks, embeds and attributes
included — exactly as ``readFragment`` of ``clients/tinymce/src/content/ydoc.js``.

pycrdt counts ``XmlText`` positions in UTF-8 bytes (an embed is one); the model counts
characters. Writers here track both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from pycrdt import XmlElement, XmlFragment, XmlText

from tandem.client.content.jscompat import js_number_string
from tandem.client.content.model import (
    Block,
    Item,
    Marks,
    Run,
    Seg,
    append_seg,
    block,
    is_run,
    run,
    vanishes,
)
from tandem.client.content.parse import (
    BARE_MARKS,
    LIST_WRAPPERS,
    comment_ok,
    finish_flow,
    hoist,
    push_wrapped,
    without_own_mark,
)
from tandem.client.content.sanitize import STYLE_PREFIX, check_attrs, iframe_allowed
from tandem.client.content.schema import (
    DROP_WITH_CONTENT,
    EMBED_MAX_DEPTH,
    LEGACY,
    MAX_DEPTH,
    MEDIA_CHILDREN,
    MEDIA_EMBEDS,
    STRUCTURAL,
    STRUCTURAL_CHILDREN,
    VOID_EMBEDS,
    contained,
    is_block_tag,
    is_mark_tag,
    is_structural,
    is_void_block,
)

_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufeff]")
_PRE_SPACES = re.compile("[\t\r\f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNIT_SUFFIX = re.compile(r"[a-z%]\Z", re.IGNORECASE | re.ASCII)
_LEGACY_BLOCK_STYLES = frozenset(LEGACY["block_styles"])
_LEGACY_MARKS: dict[str, list[Any]] = LEGACY["marks"]
_LINK_MARK: str = LEGACY["link_mark"]

Parent = XmlFragment | XmlElement


# -- writing ------------------------------------------------------------------------------


def utf8_units(text: str) -> int:
    """The length pycrdt gives ``text`` in an ``XmlText``."""
    return len(text.encode("utf-8", "surrogatepass"))


def well_formed(value: Any) -> Any:
    """``value`` with lone surrogates as U+FFFD, as JavaScript's encoder stores them.

    A JavaScript string may hold a lone surrogate and Yjs writes it as U+FFFD; a Python
    string may hold one too (from JSON, say), and pycrdt refuses it.
    """
    if isinstance(value, str):
        if not _SURROGATE.search(value):
            return value
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {well_formed(k): well_formed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [well_formed(v) for v in value]
    return value


def mark_attrs(marks: Marks | None) -> dict[str, Any]:
    """Formatting attributes for inserting a segment: exactly its marks.

    pycrdt (like Yjs) ends the formats active to the left that are not in the mapping.
    """
    return dict(marks or {})


def write_run(text: XmlText, segs: list[Seg], at: int = 0) -> int:
    """Insert segments into ``text`` at pycrdt index ``at``; returns the index after them."""
    index = at
    for s in segs:
        marks = well_formed(mark_attrs(s["marks"]))
        if "embed" in s:
            text.insert_embed(index, well_formed(s["embed"]), marks)
            index += 1
        elif s["text"]:
            chars = well_formed(s["text"])
            text.insert(index, chars, marks)
            index += utf8_units(chars)
    return index


def insert_items(parent: Parent, index: int, items: list[Item]) -> None:
    """Insert model items (blocks or runs) into a Yjs parent at ``index``.

    Call inside a transaction. Formatting attributes need an integrated text, so each
    element is integrated first and filled afterwards.
    """
    for offset, item in enumerate(items):
        if is_run(item):
            text = parent.children.insert(index + offset, XmlText())
            write_run(text, item["run"])
        else:
            attrs = {k: item["attrs"][k] for k in sorted(item["attrs"])}
            attrs = well_formed(attrs)
            el = parent.children.insert(index + offset, XmlElement(item["tag"], attrs))
            insert_items(el, 0, item["children"])


def write_fragment(fragment: XmlFragment, blocks: list[Block]) -> None:
    """Replace the fragment's content with ``blocks`` (one transaction)."""
    with fragment.doc.transaction():
        count = len(fragment.children)
        if count:
            del fragment.children[0:count]
        insert_items(fragment, 0, blocks)


# -- reading ------------------------------------------------------------------------------


def _legacy_mark(name: str, value: Any) -> tuple[str, Any] | None:
    if name == _LINK_MARK:
        return "a", {"href": value} if isinstance(value, str) else value
    definition = _LEGACY_MARKS.get(name)
    if definition is None:
        return None
    tag, mark_value = definition
    return tag, True if mark_value is None else mark_value


def _mark_name_order(name: str) -> tuple[int, str]:
    # Version-1 names first, so that a current name on the same text wins (as for block
    # attributes); JavaScript sorts the same way.
    return (0 if not is_mark_tag(name) else 1, name)


def read_marks(attributes: dict[str, Any] | None) -> Marks:
    """Clean marks from Yjs formatting attributes (legacy names mapped, unknown ignored)."""
    marks: Marks = {}
    if not attributes:
        return marks
    for name in sorted(attributes, key=_mark_name_order):
        tag, value = name, attributes[name]
        if value is None or value is False:
            continue
        if not is_mark_tag(tag):
            legacy = _legacy_mark(name, value)
            if legacy is None:
                continue
            tag, value = legacy
        if value is True:
            if tag not in BARE_MARKS:
                marks.setdefault(tag, True)
            continue
        if not isinstance(value, dict):
            continue
        clean = check_attrs(tag, value)
        if not clean:
            if tag not in BARE_MARKS and tag not in marks:
                marks[tag] = True
            continue
        previous = marks.get(tag)
        marks[tag] = {**previous, **clean} if isinstance(previous, dict) else clean
    return marks


def read_embed(value: Any, depth: int = 0) -> dict[str, Any] | None:
    """A clean embed from a Yjs embed value, or None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("comment"), str):
        comment = value["comment"]
        return {"comment": comment} if comment_ok(comment) else None
    if isinstance(value.get("img"), dict | list) and "tag" not in value:
        return read_embed({"tag": LEGACY["image_embed"], "attrs": value["img"]}, depth)
    tag = value["tag"].lower() if isinstance(value.get("tag"), str) else ""
    allowed = (
        tag in VOID_EMBEDS
        or tag in MEDIA_EMBEDS
        or is_mark_tag(tag)
        or (depth > 0 and (tag in MEDIA_CHILDREN or tag == "br"))
    )
    if not allowed or tag in DROP_WITH_CONTENT or depth > EMBED_MAX_DEPTH:
        return None
    attrs = check_attrs(tag, value.get("attrs"))
    if tag == "img" and not attrs.get("src"):
        return None
    if tag == "iframe" and not iframe_allowed(attrs):
        return None
    out: dict[str, Any] = {"tag": tag, "attrs": attrs}
    if tag in VOID_EMBEDS or tag == "br" or tag == "iframe" or tag in MEDIA_CHILDREN:
        return out
    children: list[Any] = []
    raw_children = value.get("children")
    if isinstance(raw_children, list):
        for c in raw_children:
            if isinstance(c, str):
                text = _BAD_TEXT.sub("", c)
                if not text:
                    continue
                if children and isinstance(children[-1], str):
                    children[-1] += text
                else:
                    children.append(text)
                continue
            if tag in MEDIA_EMBEDS and not (
                isinstance(c, dict)
                and isinstance(c.get("tag"), str)
                and c["tag"].lower() in MEDIA_CHILDREN
            ):
                continue
            sub = read_embed(c, depth + 1)
            if sub is not None and "comment" not in sub:
                children.append(sub)
    if not children and is_mark_tag(tag) and not attrs:
        return None
    if children:
        out["children"] = children
    return out


def read_text(text: XmlText, pre: bool) -> Run:
    """The segments of an ``XmlText`` (one character for one character)."""
    segs: list[Seg] = []
    for insert, attributes in text.diff():
        marks = read_marks(attributes)
        if isinstance(insert, str):
            chars = _BAD_TEXT.sub("\ufffd", insert)
            if not pre:
                chars = _PRE_SPACES.sub(" ", chars)
            if chars:
                append_seg(segs, {"text": chars, "marks": marks})
            continue
        # An embed we cannot show still takes its place (one unit), as U+FFFD.
        embed = read_embed(insert)
        if embed is not None:
            segs.append({"embed": embed, "marks": without_own_mark(marks, embed)})
        else:
            append_seg(segs, {"text": "\ufffd", "marks": marks})
    return run(segs)


def _attribute_value(value: Any) -> Any:
    # Another client may have stored a number (pycrdt reads JavaScript numbers as floats).
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return js_number_string(value)
    return value


def _attribute_pairs(el: XmlElement) -> Iterator[tuple[str, Any]]:
    # pycrdt annotates XmlAttributesView.__iter__ as returning an Iterable; it is an iterator
    yield from el.attributes.__iter__()


def _block_attrs(el: XmlElement, tag: str) -> dict[str, str]:
    raw = {k: _attribute_value(v) for k, v in _attribute_pairs(el)}
    obj: dict[str, str] = {}
    for k, value in raw.items():
        if not isinstance(value, str):
            continue
        key = k
        if k in _LEGACY_BLOCK_STYLES:
            key = STYLE_PREFIX + k
        elif (
            k == "width"
            and tag == "table"
            and LEGACY["table_width_style"]
            and STYLE_PREFIX + "width" not in raw
            and _UNIT_SUFFIX.search(value)
        ):
            key = STYLE_PREFIX + "width"
        if key != k and key in raw:
            continue  # the current name wins over the version-1 one
        obj[key] = value
    return check_attrs(tag, obj)


def _read_flow_children(
    parent: Parent, pre: bool, depth: int, parent_tag: str | None
) -> list[Item]:
    items: list[Item] = []
    wrappers: set[int] = set()
    for child in parent.children:
        if isinstance(child, XmlText):
            items.append(read_text(child, pre))
        elif isinstance(child, XmlElement):
            tag = (child.tag or "").lower()
            stray = (
                tag in LIST_WRAPPERS and not contained(parent_tag, tag) and depth + 1 <= MAX_DEPTH
            )
            for b in read_element(child, pre, depth + 1, parent_tag):
                if stray and b.get("tag") == tag:
                    push_wrapped(items, b, wrappers)
                else:
                    items.append(b)
    return items


def _read_flat(el: XmlElement, pre: bool) -> list[Item]:
    """The texts under ``el`` in document order, without recursion (past ``MAX_DEPTH``)."""
    items: list[Item] = []
    stack: list[Any] = [el]
    while stack:
        node = stack.pop()
        if isinstance(node, XmlText):
            items.append(read_text(node, pre))
        elif isinstance(node, XmlElement) and (node.tag or "").lower() not in DROP_WITH_CONTENT:
            stack.extend(reversed(list(node.children)))
    return [x for x in items if _nonempty(x)]


def _nonempty(item: Item) -> bool:
    return not is_run(item) or bool(item["run"])


def read_element(
    el: XmlElement, pre: bool = False, depth: int = 1, parent_tag: str | None = None
) -> list[Item]:
    """A Yjs element as model items (usually one block; unknown wrappers, and table parts
    outside a table, give their children — as an HTML parser would).

    ``depth`` is the element's nesting level (1 at the top).
    """
    tag = (el.tag or "").lower()
    if tag in DROP_WITH_CONTENT:
        return []
    if depth > MAX_DEPTH:
        return _read_flat(el, pre)
    if not is_block_tag(tag) or (not contained(parent_tag, tag) and tag not in LIST_WRAPPERS):
        # Not a block here: keep what it holds (as the parser unwraps unknown elements).
        return [x for x in _read_flow_children(el, pre, depth, parent_tag) if _nonempty(x)]
    attrs = _block_attrs(el, tag)
    if is_void_block(tag):
        return [block(tag, attrs, [])]
    if is_structural(tag):
        allowed = STRUCTURAL_CHILDREN[tag]
        kids: list[Item] = []
        stray: list[Item] = []

        def wrap() -> None:
            meaningful = [x for x in stray if _nonempty(x)]
            if meaningful and tag != "colgroup":
                default = STRUCTURAL[tag]
                if is_structural(default):
                    kids.append(block(default, {}, _wrap_structural(default, meaningful)))
                else:
                    kids.append(block(default, {}, finish_flow(_merge_runs(meaningful), pre)))
            stray.clear()

        for item in _read_flow_children(el, pre, depth, tag):
            if not is_run(item) and item["tag"] in allowed:
                wrap()
                kids.append(item)
            else:
                stray.append(item)
        wrap()
        b = block(tag, attrs, kids)
        # an empty list or table (left by concurrent edits) is nothing
        return [] if vanishes(b) else [b]
    inner_pre = pre or tag == "pre"
    items = _read_flow_children(el, inner_pre, depth, tag)
    blocks = hoist(block(tag, attrs, finish_flow(_merge_runs(items), inner_pre)))
    return [b for b in blocks if not vanishes(b)]


def _wrap_structural(tag: str, items: list[Item]) -> list[Item]:
    allowed = STRUCTURAL_CHILDREN[tag]
    out: list[Item] = []
    stray: list[Item] = []

    def wrap() -> None:
        if stray:
            default = STRUCTURAL[tag]
            if is_structural(default):
                out.append(block(default, {}, _wrap_structural(default, list(stray))))
            else:
                out.append(block(default, {}, finish_flow(_merge_runs(list(stray)), False)))
        stray.clear()

    for item in items:
        if not is_run(item) and item["tag"] in allowed:
            wrap()
            out.append(item)
        else:
            stray.append(item)
    wrap()
    return out


def _merge_runs(items: list[Item]) -> list[Item]:
    """Adjacent runs merge; empty runs next to blocks go."""
    out: list[Item] = []
    for item in items:
        if is_run(item) and out and is_run(out[-1]):
            segs = list(out[-1]["run"])
            for s in item["run"]:
                append_seg(segs, s)
            out[-1] = run(segs)
        else:
            out.append(item)
    if len(out) > 1:
        return [x for x in out if _nonempty(x)]
    return out


def read_top_node(node: Any) -> list[Block]:
    """One top-level Yjs node as model blocks (a bare top-level text is a paragraph)."""
    if isinstance(node, XmlText):
        r = read_text(node, False)
        return [block("p", {}, finish_flow([r] if r["run"] else [], False))]
    if isinstance(node, XmlElement):
        tag = (node.tag or "").lower()
        out: list[Block] = []
        wrappers: set[int] = set()
        for item in read_element(node, False):
            if is_run(item):
                if item["run"]:
                    out.append(block("p", {}, finish_flow([item], False)))
            elif item["tag"] in LIST_WRAPPERS and item["tag"] == tag:
                push_wrapped(out, item, wrappers)
            else:
                out.append(item)
        return out
    return []


def read_fragment(fragment: XmlFragment) -> list[Block]:
    """The whole fragment as clean model blocks."""
    with fragment.doc.transaction():
        return [b for node in fragment.children for b in read_top_node(node)]
