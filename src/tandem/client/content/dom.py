"""HTML text -> a small DOM, built by an HTML5 tree builder (html5lib).

The TinyMCE plugin parses with the browser's ``DOMParser``; for the model to come out
the same, Python must build the same trees, including for broken or hostile markup
(mutation XSS relies on exactly where a parser closes elements). html5lib implements
the WHATWG tree-construction algorithm; like ``DOMParser`` it runs with scripting
disabled, so ``<noscript>`` content is parsed as elements.

The tree is reduced to what the parser of :mod:`tandem.client.content.parse` reads:
elements (lower-case name, attributes in source order, children), text and comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree import ElementTree

from html5lib import HTMLParser, getTreeBuilder
from html5lib.html5parser import getPhases

from tandem.client.content.schema import DROP_WITH_CONTENT, MAX_DEPTH, VOID_BLOCKS, VOID_EMBEDS

__all__ = ["Node", "parse_body"]

# Attribute namespaces of foreign content, as the DOM's Attr.name spells them.
_ATTR_PREFIX = {
    "http://www.w3.org/1999/xlink": "xlink:",
    "http://www.w3.org/XML/1998/namespace": "xml:",
    "http://www.w3.org/2000/xmlns/": "xmlns:",
}


@dataclass(eq=False)
class Node:
    """A DOM node: an element, a text or a comment."""

    kind: Literal["element", "text", "comment"]
    tag: str = ""
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    data: str = ""

    def get(self, name: str) -> str | None:
        """``getAttribute(name)``."""
        for key, value in self.attrs:
            if key == name:
                return value
        return None

    def text_content(self) -> str:
        """``textContent``: the text of every descendant text node."""
        if self.kind == "text":
            return self.data
        if self.kind == "comment":
            return ""
        return "".join(child.text_content() for child in self.children)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1] if name.startswith("{") else name


def _attr_name(name: str) -> str:
    if name.startswith("{"):
        ns, local = name[1:].split("}", 1)
        return _ATTR_PREFIX.get(ns, "") + local
    return name


def _text(data: str | None) -> list[Node]:
    return [Node("text", data=data)] if data else []


_KEPT_FLAT = VOID_EMBEDS | VOID_BLOCKS | {"br"}


def _is_comment(el: ElementTree.Element) -> bool:
    # typeshed types every child's tag as str; a comment's tag is the Comment factory
    tag: object = el.tag
    return tag is ElementTree.Comment


def _shallow(el: ElementTree.Element) -> Node:
    if _is_comment(el):
        return Node("comment", data=el.text or "")
    tag = _local(str(el.tag)).lower()
    return Node("element", tag, [(_attr_name(k), v) for k, v in el.attrib.items()])


def _content(el: ElementTree.Element) -> list[tuple[ElementTree.Element | None, str | None]]:
    """The children of ``el`` as (element, None) and (None, text), in document order."""
    if _local(str(el.tag)).lower() == "template":
        return []  # a <template>'s content is a separate fragment in the DOM
    out: list[tuple[ElementTree.Element | None, str | None]] = []
    if el.text:
        out.append((None, el.text))
    for child in el:
        if _is_comment(child) or isinstance(child.tag, str):
            out.append((child, None))
        if child.tail:
            out.append((None, child.tail))
    return out


def _flatten(el: ElementTree.Element) -> list[Node]:
    """The content under ``el`` as a flat list, without recursion.

    Used past ``MAX_DEPTH``: wrappers go (their content stays, in order), void elements
    stay, and what is dropped with its content stays childless for the parser to note.
    """
    out: list[Node] = []
    stack = list(reversed(_content(el)))
    while stack:
        child, text = stack.pop()
        if child is None:
            out.extend(_text(text))
            continue
        node = _shallow(child)
        if node.kind == "comment" or node.tag in _KEPT_FLAT:
            out.append(node)  # void or dropped with its content: as it is, childless
        elif node.tag not in DROP_WITH_CONTENT:
            stack.extend(reversed(_content(child)))  # a wrapper: its content stays
        else:
            out.append(node)
    return out


def _convert(el: ElementTree.Element, depth: int) -> Node:
    node = _shallow(el)
    if node.kind != "element":
        return node
    if depth >= MAX_DEPTH:
        node.children = _flatten(el)
        return node
    for child, text in _content(el):
        node.children.extend(_text(text) if child is None else [_convert(child, depth + 1)])
    return node


def _in_body_whitespace(phase: type) -> type:
    """``phase`` processing whitespace by the rules of "in body", as the standard says."""

    def processSpaceCharacters(self: Any, token: Any) -> Any:
        # looked up at each call: "in body" swaps its handler right after <pre>
        return self.parser.phases["inBody"].processSpaceCharacters(token)

    return type(phase.__name__, (phase,), {"processSpaceCharacters": processSpaceCharacters})


# In table cells and captions the standard processes whitespace "using the rules for the
# in body insertion mode"; html5lib 1.1 inserts it directly, so the newline that HTML drops
# right after <pre> is kept there (``<td><pre>\nx`` would read as "\nx" where browsers read
# "x") and formatting elements are not reopened before it.
_PHASES = getPhases(False)
_FIXED_PHASES = {name: _in_body_whitespace(_PHASES[name]) for name in ("inCell", "inCaption")}


def _parser() -> HTMLParser:
    """An html5lib parser, corrected where html5lib 1.1 departs from the standard."""
    parser = HTMLParser(tree=getTreeBuilder("etree"), namespaceHTMLElements=False)
    for name, phase in _FIXED_PHASES.items():
        parser.phases[name] = phase(parser, parser.tree)
    return parser


def parse_body(html: str) -> list[Node]:
    """The child nodes of ``<body>`` for ``html``, as ``DOMParser`` builds them.

    Like the plugin, the HTML is placed in ``<!DOCTYPE html><html><body>…</body></html>``
    after normalising newlines and removing NUL characters.
    """
    html = html.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    root = _parser().parse(f"<!DOCTYPE html><html><body>{html}</body></html>")
    body = root.find("body")
    return _convert(body, 0).children if body is not None else []
