"""The content model -> canonical HTML (docs/content-model.md §6).

Deterministic: the same string as the JavaScript twin
(``clients/tinymce/src/content/html.js``) for the same model.
"""

from __future__ import annotations

from typing import Any

from tandem.client.content.jscompat import u16key
from tandem.client.content.model import Block, Marks, Run, is_embed, is_run, sorted_json
from tandem.client.content.sanitize import STYLE_PREFIX, style_text
from tandem.client.content.schema import MEDIA_CHILDREN, VOID_BLOCKS, VOID_EMBEDS, mark_order
from tandem.client.content.whitespace import display_text

VOID_TAGS = VOID_EMBEDS | VOID_BLOCKS | MEDIA_CHILDREN | {"br"}


def escape_text(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\u00a0", "&nbsp;")
    )


def escape_attr(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\u00a0", "&nbsp;")
    )


def attrs_html(attrs: dict[str, str]) -> str:
    """`` name="value"`` pairs: attributes by name, ``style`` made of the ``style:`` keys."""
    pairs = [(k, v) for k, v in attrs.items() if not k.startswith(STYLE_PREFIX)]
    if len(pairs) < len(attrs):
        pairs.append(("style", style_text(attrs)))
    pairs.sort(key=lambda pair: u16key(pair[0]))
    return "".join(f' {k}="{escape_attr(v)}"' for k, v in pairs)


def embed_html(embed: dict[str, Any]) -> str:
    """HTML of an embed (an element as JSON, or a comment)."""
    if "comment" in embed:
        return f"<!--{embed['comment']}-->"
    tag = embed["tag"]
    start = f"<{tag}{attrs_html(embed.get('attrs') or {})}>"
    if tag in VOID_TAGS:
        return start
    inner = "".join(
        escape_text(c) if isinstance(c, str) else embed_html(c) for c in embed.get("children") or []
    )
    return f"{start}{inner}</{tag}>"


def ordered_marks(marks: Marks | None) -> list[tuple[str, Any, str]]:
    """Marks as (tag, value, key) in nesting order (outermost first)."""
    present = marks or {}
    return [
        (tag, present[tag], f"{tag}={sorted_json(present[tag])}")
        for tag in sorted(present, key=mark_order)
    ]


def _open_mark(tag: str, value: Any) -> str:
    return f"<{tag}>" if value is True else f"<{tag}{attrs_html(value)}>"


def run_html(r: Run, pre: bool, first: bool = False) -> str:
    """HTML of a run's content (not wrapped); ``first``: the first child of a ``<pre>``."""
    flat = "".join("\ufffc" if is_embed(s) else s["text"] for s in r["run"])
    shown = flat if pre else display_text(flat)
    out: list[str] = []
    stack: list[tuple[str, Any, str]] = []
    pos = 0
    for s in r["run"]:
        size = 1 if is_embed(s) else len(s["text"])
        if not size:
            continue
        wanted = ordered_marks(s["marks"])
        keep = 0
        while keep < len(stack) and keep < len(wanted) and stack[keep][2] == wanted[keep][2]:
            keep += 1
        while len(stack) > keep:
            out.append(f"</{stack.pop()[0]}>")
        for w in wanted[keep:]:
            out.append(_open_mark(w[0], w[1]))
            stack.append(w)
        if is_embed(s):
            out.append(embed_html(s["embed"]))
        else:
            text = shown[pos : pos + size]
            if pre and first and pos == 0 and text.startswith("\n"):
                # a newline that opens a <pre> is dropped by HTML parsers (and by some
                # serializers): it is written as <br>, which reads back as the same "\n"
                out.append("<br>" + escape_text(text[1:]))
            elif pre:
                out.append(escape_text(text))
            else:
                out.append("<br>".join(map(escape_text, text.split("\n"))))
        pos += size
    while stack:
        out.append(f"</{stack.pop()[0]}>")
    return "".join(out)


def block_html(b: Block, pre: bool = False) -> str:
    """HTML of a block."""
    start = f"<{b['tag']}{attrs_html(b['attrs'])}>"
    if b["tag"] in VOID_BLOCKS:
        return start
    inner_pre = pre or b["tag"] == "pre"
    inner = "".join(
        run_html(c, inner_pre, b["tag"] == "pre" and i == 0)
        if is_run(c)
        else block_html(c, inner_pre)
        for i, c in enumerate(b["children"])
    )
    return f"{start}{inner}</{b['tag']}>"


def model_to_html(blocks: list[Block]) -> str:
    """Canonical HTML of a document: top-level blocks joined by ``"\\n"``."""
    return "\n".join(block_html(b) for b in blocks)
