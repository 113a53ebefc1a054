"""A forgiving HTML tree builder on top of the stdlib ``html.parser``.

It turns any string into a tiny tree of :class:`Node` objects and text strings.
It never raises: malformed markup is repaired the simple way (an end tag closes
the nearest matching open element, or is ignored), and elements whose content
must never become document text (``<script>``, ``<style>``, ``<iframe>`` ...)
are dropped together with their content and reported.

This is stage 1 of :mod:`tandem.client.richtext`; it knows nothing of the
content model except which elements to drop wholesale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["DROP_WITH_CONTENT", "VOID_ELEMENTS", "Node", "parse_html"]

#: Elements that never have content or an end tag.
VOID_ELEMENTS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "param", "source", "track", "wbr", "keygen", "frame",
    }
)  # fmt: skip

#: Elements dropped *with* their content (their text never reaches the document).
DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "template", "iframe", "object", "embed", "video",
        "audio", "canvas", "svg", "math", "noscript", "head", "title", "meta",
        "link", "base", "select", "textarea", "button", "input", "option",
        "source", "track", "param", "map", "area", "frame", "frameset",
        "noframes", "applet", "picture", "dialog", "xmp", "plaintext",
        "keygen", "datalist", "output", "progress", "meter",
    }
)  # fmt: skip

# Elements silently ignored when dropped (document scaffolding, not content).
_SILENT_DROP = frozenset({"head", "title", "meta", "link", "base"})

# An open element of this tag is implicitly closed by a new start tag of one of
# the given tags, unless a scope boundary (a list or table) lies in between.
_TABLE_PARTS = frozenset({"tr", "tbody", "thead", "tfoot"})
_IMPLIED_END: dict[str, frozenset[str]] = {
    "li": frozenset({"li"}),
    "td": frozenset({"td", "th"}) | _TABLE_PARTS,
    "th": frozenset({"td", "th"}) | _TABLE_PARTS,
    "tr": _TABLE_PARTS,
    "thead": _TABLE_PARTS - {"tr"},
    "tbody": _TABLE_PARTS - {"tr"},
    "tfoot": _TABLE_PARTS - {"tr"},
}
_CLOSERS = frozenset({"li", "td", "th"}) | _TABLE_PARTS
_LIST_SCOPE = frozenset({"ul", "ol", "table", "td", "th", "blockquote", "figure"})
_TABLE_SCOPE = frozenset({"table"})


@dataclass
class Node:
    """An element of the parsed tree. Children are nodes or text strings."""

    tag: str
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[Node | str] = field(default_factory=list)

    def attr(self, name: str) -> str | None:
        for key, value in self.attrs:
            if key == name:
                return value
        return None


class _TreeBuilder(HTMLParser):
    def __init__(self, notes: list[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root")
        self.stack: list[Node] = [self.root]
        self.notes = notes

    # -- helpers -------------------------------------------------------------
    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _close_implied(self, tag: str) -> None:
        """Close an open ``li`` / table part that the start tag ``tag`` ends implicitly."""
        boundaries = _LIST_SCOPE if tag == "li" else _TABLE_SCOPE
        closed = True
        while closed:
            closed = False
            for index in range(len(self.stack) - 1, 0, -1):
                open_tag = self.stack[index].tag
                if tag in _IMPLIED_END.get(open_tag, frozenset()):
                    del self.stack[index:]
                    closed = True
                    break
                if open_tag in boundaries:
                    return

    # -- HTMLParser callbacks --------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        clean = [(k.lower(), v if v is not None else "") for k, v in attrs]
        if tag in DROP_WITH_CONTENT:
            if tag not in _SILENT_DROP:
                self._note(f"dropped <{tag}> element and its content")
            if tag not in VOID_ELEMENTS:
                # Parsed but detached: its content goes nowhere.
                self.stack.append(Node(tag, clean))
            return
        if tag in _CLOSERS:
            self._close_implied(tag)
        node = Node(tag, clean)
        self.stack[-1].children.append(node)
        if tag not in VOID_ELEMENTS:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag.lower() not in VOID_ELEMENTS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return
        # An end tag without a matching open element is ignored.

    def handle_data(self, data: str) -> None:
        if not data:
            return
        children = self.stack[-1].children
        if children and isinstance(children[-1], str):
            children[-1] += data
        else:
            children.append(data)

    # Comments, doctype, processing instructions, CDATA: ignored.
    def handle_comment(self, data: str) -> None:
        pass

    def handle_decl(self, decl: str) -> None:
        pass

    def handle_pi(self, data: str) -> None:
        pass

    def unknown_decl(self, data: str) -> None:
        pass


def parse_html(html: str, notes: list[str]) -> Node:
    """Parse ``html`` into a tree; append human-readable notes about drops to ``notes``.

    Never raises for any input string.
    """
    # HTML input-stream preprocessing: newlines normalised, NUL removed.
    html = html.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    builder = _TreeBuilder(notes)
    try:
        builder.feed(html)
        builder.close()
    except Exception as exc:  # pragma: no cover - html.parser is lenient; belt and braces
        builder._note(f"HTML parse error, the rest of the input was dropped: {exc}")
    return builder.root
