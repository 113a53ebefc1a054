"""HTML -> the content model (docs/content-model.md §3).

Never fails: what the model cannot keep, or must not keep, is dropped and described in
``notes``. The JavaScript twin is ``clients/tinymce/src/content/parse.js``;
tests/vectors/content.json holds the cases both must agree on, notes included.

The plugin also reads TinyMCE's editing DOM (bogus nodes, caret containers); Python
never sees an editor's DOM, so only the HTML side is here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any

from tandem.client.content.dom import Node, parse_body
from tandem.client.content.jscompat import js_split_space, js_trim, u16len
from tandem.client.content.model import (
    Block,
    Item,
    Marks,
    Run,
    Seg,
    block,
    marks_key,
    run,
    vanishes,
)
from tandem.client.content.sanitize import clean_attributes, iframe_allowed
from tandem.client.content.schema import (
    DROP_WITH_CONTENT,
    EMBED_MAX_DEPTH,
    MEDIA_CHILDREN,
    MEDIA_EMBEDS,
    NONEDITABLE_CLASSES,
    STRUCTURAL,
    STRUCTURAL_CHILDREN,
    VOID_EMBEDS,
    contained,
    is_block_tag,
    is_mark_tag,
    is_structural,
    is_void_block,
    nests,
)
from tandem.client.content.whitespace import collapse_source, model_text


class _NotEmbed(enum.Enum):
    """``embed_of``'s answer for an element that is not an embed (None: a dropped one)."""

    NOT_EMBED = enum.auto()


_NOT_EMBED = _NotEmbed.NOT_EMBED
_ZWNBSP = re.compile("\ufeff")
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_TEXT_SPACES = re.compile("[\t\n\f\r]")
_COMMENT_OK = re.compile("[^<>]*")
#: No mark without attributes for these.
BARE_MARKS = frozenset({"span", "font", "a"})
#: A list item or a definition out of its list gets one (as TinyMCE does); other table and
#: list parts out of place are dropped by HTML parsers, their content kept.
LIST_WRAPPERS = {"li": "ul", "dt": "dl", "dd": "dl"}

Embed = dict[str, Any]


def push_wrapped(items: list[Item], b: Block, wrappers: set[int]) -> None:
    """Put ``b`` in ``items``, wrapping a stray list item in a list (shared with neighbours)."""
    wrap = LIST_WRAPPERS[b["tag"]]
    last = items[-1] if items else None
    if last is not None and id(last) in wrappers and last.get("tag") == wrap:
        last["children"].append(b)
    else:
        w = block(wrap, {}, [b])
        wrappers.add(id(w))
        items.append(w)


def drop_trailing_break(items: list[Item], pre: bool) -> list[Item]:
    """A line break that ends a block shows nothing, and TinyMCE's serializer drops it: so
    does the model — one unformatted "\\n" at the very end, unless another comes before it."""
    if pre or not items:
        return items
    last = items[-1]
    if "run" not in last or not last["run"]:
        return items
    seg = last["run"][-1]
    text = seg.get("text")
    if text is None or not text.endswith("\n") or seg.get("marks"):
        return items
    before: str | None = text[-2] if len(text) >= 2 else None
    if before is None and len(last["run"]) >= 2:
        prev = last["run"][-2]
        before = prev["text"][-1] if "text" in prev else "\ufffc"
    if before == "\n":
        return items
    segs = list(last["run"][:-1])
    if len(text) > 1:
        segs.append({"text": text[:-1], "marks": seg["marks"]})
    out = items[:-1]
    if segs:
        out.append(run(segs))
    return out


def without_own_mark(marks: Marks, embed: Embed) -> Marks:
    """An embed does not carry a mark of its own tag (<a id> in a link would split it)."""
    tag = embed.get("tag")
    if not tag or tag not in marks:
        return marks
    out = dict(marks)
    del out[tag]
    return out


def hoist(b: Block) -> list[Block]:
    """A block HTML would not let hold some of its block children gives them up.

    They follow it; its runs around them stay in pieces of the same block.
    """

    def bad(c: Item) -> bool:
        return "run" not in c and not nests(b["tag"], c["tag"])

    if not any(bad(c) for c in b["children"]):
        return [b]
    out: list[Block] = []
    piece: list[Item] = []

    def close() -> None:
        kept = [c for c in piece if "run" not in c or c["run"]]
        if kept:
            out.append(block(b["tag"], dict(b["attrs"]), kept))
        piece.clear()

    for c in b["children"]:
        if bad(c):
            close()
            out.extend(hoist(c))
        else:
            piece.append(c)
    close()
    return out or [block(b["tag"], dict(b["attrs"]), [run([])])]


def add_mark(marks: Marks, tag: str, value: Any) -> Marks:
    """Merge a mark into marks: nested elements of one tag combine.

    Inner values win; classes add up.
    """
    out = dict(marks)
    prev = out.get(tag)
    if prev is None or prev is True:
        out[tag] = value
    elif value is True:
        out[tag] = prev
    else:
        merged = {**prev, **value}
        if prev.get("class") and value.get("class") and prev["class"] != value["class"]:
            classes = dict.fromkeys([*prev["class"].split(" "), *value["class"].split(" ")])
            merged["class"] = " ".join(classes)
        out[tag] = merged
    return out


def _has_class(el: Node, classes: Iterable[str]) -> bool:
    tokens = js_split_space(el.get("class") or "")
    return any(c in tokens for c in classes)


def comment_ok(data: str) -> bool:
    """A comment that can be written back as ``<!--data-->`` without escaping it, and not a
    processing instruction browsers used to turn into one (``<?xml …?>``)."""
    return (
        bool(_COMMENT_OK.fullmatch(data))
        and "--" not in data
        and not data.startswith("?")
        and u16len(data) <= 1000
    )


class Parser:
    """Turns DOM nodes into model blocks, collecting notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def attrs(self, tag: str, el: Node) -> dict[str, str]:
        attrs, dropped = clean_attributes(tag, el.attrs)
        for name in dropped:
            if name.startswith("on"):
                self.note(f"removed event handler '{name}' on <{tag}>")
            elif name.startswith("style "):
                self.note(f"removed style '{name[6:]}' on <{tag}>")
            else:
                self.note(f"removed attribute '{name}' on <{tag}>")
        return attrs

    def document(self, nodes: list[Node]) -> list[Block]:
        """Blocks of the document's top-level nodes (inline content is wrapped in <p>)."""
        blocks: list[Block] = []
        for item in self.flow(nodes, {}, False, None):
            if "run" in item:
                if item["run"]:
                    blocks.append(
                        block("p", {}, finish_flow(drop_trailing_break([item], False), False))
                    )
            else:
                blocks.append(item)
        return blocks

    def flow(
        self, nodes: list[Node], marks: Marks, pre: bool, parent_tag: str | None
    ) -> list[Item]:
        """Children of a flow context (inside block ``parent_tag``): runs and blocks."""
        items: list[Item] = []
        wrappers: set[int] = set()
        raw: list[Seg] = []

        def flush() -> None:
            if raw:
                r = clean_run(raw, pre)
                if r["run"]:
                    items.append(r)
                raw.clear()

        def walk(children: list[Node], m: Marks) -> None:
            for node in children:
                if node.kind == "text":
                    text = _TEXT_CONTROLS.sub("", _ZWNBSP.sub("", node.data))
                    if not pre:
                        text = _TEXT_SPACES.sub(" ", text)
                    if text:
                        raw.append({"text": text, "marks": m})
                    continue
                if node.kind == "comment":
                    if comment_ok(node.data):
                        raw.append({"embed": {"comment": node.data}, "marks": m})
                    continue
                tag = node.tag
                if tag in DROP_WITH_CONTENT:
                    self.note(f"removed <{tag}>")
                    continue
                if tag == "br":
                    raw.append({"text": "\n", "marks": m})
                    continue
                if is_block_tag(tag):
                    stray = not contained(parent_tag, tag)
                    if stray and tag not in LIST_WRAPPERS:
                        # a table part out of place: HTML parsers keep only its content
                        walk(node.children, m)
                        continue
                    flush()
                    for b in hoist(self.block(node, tag, m, pre)):
                        if vanishes(b):
                            continue  # an empty list, table or quote: TinyMCE drops it too
                        if stray and b["tag"] == tag:
                            push_wrapped(items, b, wrappers)
                        else:
                            items.append(b)
                    continue
                embed = self.embed_of(node, tag)
                if embed is not _NOT_EMBED:
                    if embed:
                        raw.append({"embed": embed, "marks": without_own_mark(m, embed)})
                    continue
                if is_mark_tag(tag):
                    attrs = self.attrs(tag, node)
                    if tag in BARE_MARKS and not attrs:
                        walk(node.children, m)
                    else:
                        walk(node.children, add_mark(m, tag, attrs or True))
                    continue
                self.note(f"unwrapped <{tag}>")
                walk(node.children, m)

        walk(nodes, marks)
        flush()
        return items

    def embed_of(self, el: Node, tag: str) -> Embed | _NotEmbed | None:
        """An inline element that is one unit of content.

        ``_NOT_EMBED`` when it is not an embed, None when it is one that must be dropped,
        else the embed.
        """
        if tag in VOID_EMBEDS or tag in MEDIA_EMBEDS:
            return self.element(el, tag, 0)
        if not is_mark_tag(tag):
            return _NOT_EMBED  # elements outside the schema are never embeds
        empty = not _has_content(el)
        if (
            not empty
            and (el.get("contenteditable") or "").lower() != "false"
            and not _has_class(el, NONEDITABLE_CLASSES)
        ):
            return _NOT_EMBED
        if empty and not el.attrs:
            return None  # <strong></strong>: nothing
        return self.element(el, tag, 0)

    def element(self, el: Node, tag: str, depth: int) -> Embed | None:
        """An element as embed JSON ``{tag, attrs, children?}``; None when it is dropped."""
        attrs = self.attrs(tag, el)
        if tag == "img" and not attrs.get("src"):
            self.note("removed <img> without a usable src")
            return None
        if tag == "iframe" and not iframe_allowed(attrs):
            self.note("removed <iframe> whose src is not an allowed embed host")
            return None
        if tag in VOID_EMBEDS:
            return {"tag": tag, "attrs": attrs}
        children: list[Any] = []
        if tag != "iframe":
            for child in el.children:
                if child.kind == "text":
                    text = collapse_source(_TEXT_CONTROLS.sub("", _ZWNBSP.sub("", child.data)))
                    if text and not (text == " " and tag in MEDIA_EMBEDS):
                        _append_text(children, text)
                    continue
                if child.kind != "element":
                    continue
                ctag = child.tag
                if ctag in DROP_WITH_CONTENT:
                    self.note(f"removed <{ctag}>")
                    continue
                if tag in MEDIA_EMBEDS and ctag not in MEDIA_CHILDREN:
                    continue  # fallback content
                if ctag == "br":
                    children.append({"tag": "br", "attrs": {}})
                    continue
                # blocks do not go inside an inline embed (a parser would move them out)
                known = (
                    ctag in MEDIA_CHILDREN
                    or is_mark_tag(ctag)
                    or ctag in VOID_EMBEDS
                    or ctag in MEDIA_EMBEDS
                )
                if not known or depth >= EMBED_MAX_DEPTH:
                    text = collapse_source(_ZWNBSP.sub("", child.text_content()))
                    if text:
                        _append_text(children, text)
                    continue
                sub = self.element(child, ctag, depth + 1)
                if sub:
                    children.append(sub)
        # an empty inline element without attributes means nothing (an id="top" refused)
        if not children and is_mark_tag(tag) and not attrs:
            return None
        out: Embed = {"tag": tag, "attrs": attrs}
        if children:
            out["children"] = children
        return out

    def block(self, el: Node, tag: str, marks: Marks, pre: bool) -> Block:
        """A block element (flow, structural or void) with its content."""
        attrs = self.attrs(tag, el)
        if is_void_block(tag):
            return block(tag, attrs, [])
        if is_structural(tag):
            return block(tag, attrs, self.structural(tag, el.children, marks, pre))
        inner_pre = pre or tag == "pre"
        items = drop_trailing_break(self.flow(el.children, marks, inner_pre, tag), inner_pre)
        return block(tag, attrs, finish_flow(items, inner_pre))

    def structural(self, tag: str, nodes: list[Node], marks: Marks, pre: bool) -> list[Item]:
        """Children of a structural element: allowed ones; the rest wrapped in the default."""
        allowed = STRUCTURAL_CHILDREN[tag]
        out: list[Item] = []
        stray: list[Node] = []

        def wrap() -> None:
            meaningful = any(
                n.kind == "element" or (n.kind == "text" and js_trim(_ZWNBSP.sub("", n.data)))
                for n in stray
            )
            if meaningful:
                default = STRUCTURAL[tag]
                if tag == "colgroup":
                    self.note("removed content inside <colgroup>")
                elif is_structural(default):
                    out.append(block(default, {}, self.structural(default, stray, marks, pre)))
                else:
                    items = drop_trailing_break(self.flow(stray, marks, pre, default), pre)
                    out.append(block(default, {}, finish_flow(items, pre)))
            stray.clear()

        for node in nodes:
            if node.kind == "element":
                ctag = node.tag
                if ctag in allowed:
                    wrap()
                    b = self.block(node, ctag, marks, pre)
                    if not vanishes(b):
                        out.append(b)
                    continue
                if ctag in DROP_WITH_CONTENT:
                    self.note(f"removed <{ctag}>")
                    continue
            elif node.kind == "comment":
                continue
            stray.append(node)
        wrap()
        return out


def _append_text(children: list[Any], text: str) -> None:
    if children and isinstance(children[-1], str):
        children[-1] += text
    else:
        children.append(text)


def _has_content(el: Node) -> bool:
    """Does an element hold anything (text, a comment, an element) — so it can be a mark?"""
    for c in el.children:
        if c.kind == "text" and _ZWNBSP.sub("", c.data) != "":
            return True
        if c.kind == "comment":
            return True
        if c.kind == "element" and c.tag not in DROP_WITH_CONTENT:
            return True
    return False


def finish_flow(items: list[Item], pre: bool = False) -> list[Item]:
    """A flow block's children: an empty block holds one empty run.

    TinyMCE pads an empty block with ``&nbsp;``: outside ``<pre>``, a block holding just one
    unformatted space is empty.
    """
    if not items:
        return [run([])]
    only = items[0] if len(items) == 1 else None
    if (
        not pre
        and only
        and "run" in only
        and len(only["run"]) == 1
        and only["run"][0].get("text") == " "
        and not only["run"][0].get("marks")
    ):
        return [run([])]
    return items


def clean_run(raw: list[Seg], pre: bool) -> Run:
    """Raw segments -> a clean run.

    Outside ``<pre>``, the whitespace rule (spaces that would collapse are dropped, a
    U+00A0 where a space would collapse reads as a space); equal neighbours merge.
    """
    # units: [char | None, embed | None, marks]
    units: list[tuple[str | None, Any, Marks]] = []
    for s in raw:
        if "embed" in s:
            units.append((None, s["embed"], s["marks"]))
        else:
            units.extend((ch, None, s["marks"]) for ch in s["text"])
    if not pre:
        kept: list[tuple[str | None, Any, Marks]] = []
        for u in units:
            if u[0] == " ":
                prev = kept[-1][0] if kept else None
                if not kept or prev == " " or prev == "\n":
                    continue
            elif u[0] == "\n":
                while kept and kept[-1][0] == " ":
                    kept.pop()
            kept.append(u)
        while kept and kept[-1][0] == " ":
            kept.pop()
        read = model_text("".join("\ufffc" if u[0] is None else u[0] for u in kept))
        units = [u if u[0] is None else (read[i], None, u[2]) for i, u in enumerate(kept)]
    segs: list[Seg] = []
    for ch, embed, marks in units:
        last = segs[-1] if segs else None
        if ch is None:
            segs.append({"embed": embed, "marks": marks})
        elif last is not None and "text" in last and marks_key(last["marks"]) == marks_key(marks):
            last["text"] += ch
        else:
            segs.append({"text": ch, "marks": marks})
    return run(segs)


def dom_to_model(nodes: list[Node]) -> tuple[list[Block], list[str]]:
    """DOM nodes -> (blocks, notes)."""
    parser = Parser()
    blocks = parser.document(nodes)
    return blocks, parser.notes


def html_to_model(html: str) -> tuple[list[Block], list[str]]:
    """HTML -> (blocks, notes). Never raises for any string."""
    return dom_to_model(parse_body(str(html or "")))


__all__ = [
    "BARE_MARKS",
    "LIST_WRAPPERS",
    "Parser",
    "add_mark",
    "clean_run",
    "comment_ok",
    "dom_to_model",
    "finish_flow",
    "hoist",
    "html_to_model",
    "push_wrapped",
    "without_own_mark",
]
