"""The rich-text content model: TinyMCE HTML <-> a Yjs ``XmlFragment`` (pycrdt).

The mapping is specified in ``docs/content-model.md``; the TinyMCE plugin
implements the same mapping with the ``yjs`` library. In short:

* The root ``XmlFragment`` named ``"content"`` holds block ``XmlElement`` nodes
  only (``p``, ``h1``-``h6``, ``pre``, ``blockquote``, ``ul``, ``ol``,
  ``table``, ``figure``, ``hr``).
* A *text block* (``p``, ``h1``-``h6``, ``pre``, ``caption``, ``figcaption``)
  holds exactly one ``XmlText``.
* A *container* (``blockquote``, ``li``, ``td``, ``th``, ``figure``) mirrors the
  HTML: a sequence of ``XmlText`` (inline runs) and block ``XmlElement`` nodes.
* Inline formatting is ``XmlText`` formatting attributes (``bold``, ``italic``,
  ``underline``, ``strikethrough``, ``code``, ``subscript``, ``superscript``:
  ``True``; ``link``: ``{"href": ..., "title"?, "target"?, "rel"?}``).
  ``<br>`` is the character ``"\\n"``; an image is the embed
  ``{"img": {"src": ..., "alt"?, "width"?, "height"?}}``.
* Block attributes are a whitelist; style properties are stored one attribute
  per CSS property (``"text-align": "center"``).

Parsing happens in two stages: :func:`tandem.client.html_parse.parse_html`
builds a forgiving tree; this module turns it into the model (dropping and
reporting what the model cannot hold) and writes it into the fragment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pycrdt
from pycrdt import XmlElement, XmlFragment, XmlText

from tandem.client.html_parse import Node, parse_html

__all__ = [
    "MARKS",
    "ROOT_NAME",
    "append_paragraph",
    "content_root",
    "format_text",
    "fragment_to_html",
    "html_to_fragment",
    "insert_text",
    "normalize_html",
    "plain_text",
]

ROOT_NAME = "content"

# --------------------------------------------------------------------------
# The vocabulary
# --------------------------------------------------------------------------

#: Inline marks in canonical nesting order (outermost first).
MARKS = ("link", "bold", "italic", "underline", "strikethrough", "subscript", "superscript", "code")

_MARK_OPEN = {
    "bold": "<strong>",
    "italic": "<em>",
    "underline": '<span style="text-decoration: underline;">',
    "strikethrough": "<s>",
    "subscript": "<sub>",
    "superscript": "<sup>",
    "code": "<code>",
}
_MARK_CLOSE = {
    "link": "</a>",
    "bold": "</strong>",
    "italic": "</em>",
    "underline": "</span>",
    "strikethrough": "</s>",
    "subscript": "</sub>",
    "superscript": "</sup>",
    "code": "</code>",
}
_TAG_MARKS = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "sub": "subscript",
    "sup": "superscript",
}

TEXT_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "caption", "figcaption"})
CONTAINERS = frozenset({"blockquote", "li", "td", "th", "figure"})
LISTS = frozenset({"ul", "ol"})
TABLE_SECTIONS = frozenset({"thead", "tbody", "tfoot"})
#: Every element tag that may appear in the model.
MODEL_TAGS = TEXT_BLOCKS | CONTAINERS | LISTS | TABLE_SECTIONS | {"table", "tr", "hr"}

# Block-level elements that are unwrapped (content kept, element dropped).
_BLOCK_UNWRAP = frozenset(
    {
        "div", "section", "article", "aside", "header", "footer", "main", "nav",
        "address", "center", "details", "summary", "dl", "dt", "dd", "form",
        "fieldset", "legend", "hgroup", "search", "menu", "html", "body",
    }
)  # fmt: skip
# Unwrapped without a note: document scaffolding and harmless semantic wrappers.
_BOLD_WEIGHTS = frozenset({"bold", "bolder", "600", "700", "800", "900"})
_SILENT_UNWRAP = frozenset({"html", "body", "span", "#root"})
_STRAY_TABLE_PARTS = frozenset({"tr", "td", "th", "thead", "tbody", "tfoot"})

# -- attribute whitelist -----------------------------------------------------

_LENGTH = re.compile(r"^(0|\d{1,5}(\.\d{1,3})?(px|em|rem|pt|%))$")
_INT = re.compile(r"^-?\d{1,9}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\- ]{1,100}$")
_ALIGN = frozenset({"left", "center", "right", "justify"})
_LIST_STYLES = frozenset(
    {
        "disc", "circle", "square", "decimal", "decimal-leading-zero", "lower-alpha",
        "upper-alpha", "lower-latin", "upper-latin", "lower-roman", "upper-roman",
        "lower-greek", "none",
    }
)  # fmt: skip


def _v_align(value: str) -> str | None:
    value = value.strip().lower()
    return value if value in _ALIGN else None


def _v_length(value: str) -> str | None:
    value = value.strip().lower()
    return value if _LENGTH.match(value) else None


def _v_list_style(value: str) -> str | None:
    value = value.strip().lower()
    return value if value in _LIST_STYLES else None


def _v_collapse(value: str) -> str | None:
    value = value.strip().lower()
    return value if value in {"collapse", "separate"} else None


def _v_span(value: str) -> str | None:
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        return None
    return str(int(value))


def _v_int(value: str) -> str | None:
    value = value.strip()
    return str(int(value)) if _INT.match(value) else None


def _v_border(value: str) -> str | None:
    value = value.strip()
    return str(int(value)) if value.isdigit() and len(value) <= 3 else None


def _v_dimension(value: str) -> str | None:
    value = value.strip()
    return str(int(value)) if value.isdigit() and len(value) <= 6 else None


def _v_text(value: str) -> str | None:
    return value


def _v_target(value: str) -> str | None:
    value = value.strip()
    return value if _TOKEN.match(value) else None


_UNSAFE_SCHEMES = frozenset({"javascript", "vbscript", "file"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


def _v_href(value: str) -> str | None:
    value = value.strip()
    match = _SCHEME.match(_URL_NOISE.sub("", value).lower())
    if match and (match.group(1) in _UNSAFE_SCHEMES or match.group(1) == "data"):
        return None
    return value


def _v_src(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    squashed = _URL_NOISE.sub("", value).lower()
    match = _SCHEME.match(squashed)
    if match and match.group(1) in _UNSAFE_SCHEMES:
        return None
    if match and match.group(1) == "data" and not squashed.startswith("data:image/"):
        return None
    return value


Validator = Callable[[str], str | None]

_BLOCK_STYLE: dict[str, Validator] = {"text-align": _v_align, "padding-left": _v_length}
_CELL_STYLE: dict[str, Validator] = {"text-align": _v_align}
#: Allowed HTML attributes per model tag (stored under the same name).
ELEMENT_ATTRS: dict[str, dict[str, Validator]] = {
    "ol": {"start": _v_int},
    "td": {"colspan": _v_span, "rowspan": _v_span},
    "th": {"colspan": _v_span, "rowspan": _v_span},
    "table": {"border": _v_border},
}
#: Allowed CSS properties per model tag (each stored as an attribute named like the property).
ELEMENT_STYLES: dict[str, dict[str, Validator]] = {
    **{tag: _BLOCK_STYLE for tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "pre")},
    "blockquote": {"padding-left": _v_length},
    "li": {"text-align": _v_align},
    "td": _CELL_STYLE,
    "th": _CELL_STYLE,
    "ul": {"list-style-type": _v_list_style, "padding-left": _v_length},
    "ol": {"list-style-type": _v_list_style, "padding-left": _v_length},
    "table": {"width": _v_length, "border-collapse": _v_collapse},
}
#: Keys of the link mark value, in canonical attribute order.
LINK_ATTRS: dict[str, Validator] = {
    "href": _v_href,
    "title": _v_text,
    "target": _v_target,
    "rel": _v_target,
}
#: Keys of the image embed value, in canonical attribute order.
IMG_ATTRS: dict[str, Validator] = {
    "src": _v_src,
    "alt": _v_text,
    "width": _v_dimension,
    "height": _v_dimension,
}
# Attributes dropped without a note (editor internals and harmless noise).
_SILENT_ATTR = re.compile(r"^(data-mce-.*|data-mce|contenteditable|spellcheck|dir|lang|id)$")


# --------------------------------------------------------------------------
# Intermediate model (between the parsed tree and the Y types)
# --------------------------------------------------------------------------

Marks = dict[str, Any]
Segment = tuple[str | dict[str, Any], Marks]  # (text | image embed, marks)
Run = list[Segment]


@dataclass
class _Block:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Block | Run] = field(default_factory=list)


class _Flow:
    """Collects a sequence of inline segments and blocks, in document order."""

    def __init__(self) -> None:
        self.items: list[_Block | Run] = []
        self.current: Run = []

    def add(self, segment: Segment) -> None:
        self.current.append(segment)

    def boundary(self) -> None:
        if self.current:
            self.items.append(self.current)
            self.current = []

    def add_block(self, block: _Block) -> None:
        self.boundary()
        self.items.append(block)

    def finish(self) -> list[_Block | Run]:
        self.boundary()
        return self.items


_COLLAPSIBLE = re.compile(r"[ \t\n\f\r]+")


def _clean_run(run: Run, pre: bool) -> Run:
    """Apply HTML whitespace rules and merge equal neighbours; may return []."""
    out: list[list[Any]] = []  # [content, marks]

    def push(content: Any, marks: Marks) -> None:
        if isinstance(content, str) and out and isinstance(out[-1][0], str) and out[-1][1] == marks:
            out[-1][0] += content
        else:
            out.append([content, marks])

    if pre:
        for content, marks in run:
            if content != "":
                push(content, marks)
        return [(c, m) for c, m in out]

    prev_space = True  # at start of the run: leading spaces are dropped
    for content, marks in run:
        if not isinstance(content, str):
            push(content, marks)
            prev_space = False
            continue
        chars: list[str] = []
        for ch in content:
            if ch == " ":
                if prev_space:
                    continue
                prev_space = True
            elif ch == "\n":
                if chars and chars[-1] == " ":
                    chars.pop()
                elif not chars:
                    _drop_trailing_space(out)
                prev_space = True
            else:
                prev_space = False
            chars.append(ch)
        if chars:
            push("".join(chars), marks)
    _drop_trailing_space(out)
    return [(c, m) for c, m in out if c != ""]


def _drop_trailing_space(out: list[list[Any]]) -> None:
    for item in reversed(out):
        if not isinstance(item[0], str):
            return
        if item[0] == "":
            continue
        if item[0].endswith(" "):
            item[0] = item[0][:-1]
        return


class _Converter:
    """Stage 2: parsed tree -> intermediate model, collecting notes."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # -- attributes ----------------------------------------------------------
    def block_attrs(self, node: Node, tag: str) -> dict[str, str]:
        allowed = ELEMENT_ATTRS.get(tag, {})
        styles = ELEMENT_STYLES.get(tag, {})
        result: dict[str, str] = {}
        for name, value in node.attrs:
            if name == "style":
                for prop, prop_value in _parse_style(value):
                    check = styles.get(prop)
                    clean = check(prop_value) if check else None
                    if clean is None:
                        self.note(f"dropped style '{prop}: {prop_value}' on <{node.tag}>")
                    else:
                        result[prop] = clean
            elif name in allowed:
                clean = allowed[name](value)
                if clean is None:
                    self.note(f'dropped invalid {name}="{value}" on <{node.tag}>')
                else:
                    result[name] = clean
            else:
                self.drop_attr(name, node.tag)
        return result

    def drop_attr(self, name: str, tag: str) -> None:
        if not _SILENT_ATTR.match(name):
            self.note(f"dropped attribute '{name}' on <{tag}>")

    def checked_attrs(self, node: Node, tag: str, allowed: dict) -> dict[str, str]:
        """The node's attributes that ``allowed`` knows and accepts; notes the rest."""
        value: dict[str, str] = {}
        for name, raw in node.attrs:
            check = allowed.get(name)
            if check is None:
                self.drop_attr(name, tag)
                continue
            clean = check(raw)
            if clean is None:
                self.note(f'dropped unsafe or invalid {name}="{raw}" on <{tag}>')
            else:
                value[name] = clean
        return {key: value[key] for key in allowed if key in value}

    def link_value(self, node: Node) -> dict[str, str] | None:
        value = self.checked_attrs(node, "a", LINK_ATTRS)
        return value if "href" in value else None

    def image_value(self, node: Node) -> dict[str, Any] | None:
        value = self.checked_attrs(node, "img", IMG_ATTRS)
        if "src" not in value:
            self.note("dropped <img> without a usable src")
            return None
        return {"img": value}

    def span_marks(self, node: Node, marks: Marks) -> Marks:
        marks = dict(marks)
        for name, value in node.attrs:
            if name != "style":
                self.drop_attr(name, node.tag)
                continue
            for prop, prop_value in _parse_style(value):
                words = prop_value.lower().split()
                if prop in ("text-decoration", "text-decoration-line") and words:
                    known = {"underline": "underline", "line-through": "strikethrough"}
                    for word in words:
                        if word in known:
                            marks[known[word]] = True
                        elif word != "none":
                            self.note(f"dropped style '{prop}: {prop_value}' on <{node.tag}>")
                elif (
                    prop == "font-weight"
                    and words
                    and words[0] in ("bold", "bolder", "600", "700", "800", "900")
                ):
                    marks["bold"] = True
                elif prop == "font-style" and words and words[0] in ("italic", "oblique"):
                    marks["italic"] = True
                elif prop == "vertical-align" and words and words[0] in ("sub", "super"):
                    marks["subscript" if words[0] == "sub" else "superscript"] = True
                else:
                    self.note(f"dropped style '{prop}: {prop_value}' on <{node.tag}>")
        return marks

    # -- flow ------------------------------------------------------------------
    def walk(self, children: Iterable[Node | str], marks: Marks, flow: _Flow, pre: bool) -> None:
        for child in children:
            if isinstance(child, str):
                text = child if pre else _COLLAPSIBLE.sub(" ", child)
                flow.add((text, marks))
                continue
            tag = child.tag
            if tag == "br":
                flow.add(("\n", marks))
            elif tag == "img":
                embed = self.image_value(child)
                if embed is not None:
                    flow.add((embed, marks))
            elif tag in _TAG_MARKS:
                self.check_no_attrs(child)
                self.walk(child.children, {**marks, _TAG_MARKS[tag]: True}, flow, pre)
            elif tag == "a":
                link = self.link_value(child)
                inner = {**marks, "link": link} if link is not None else marks
                self.walk(child.children, inner, flow, pre)
            elif tag == "span":
                self.walk(child.children, self.span_marks(child, marks), flow, pre)
            elif tag in MODEL_TAGS and tag not in _STRAY_TABLE_PARTS:
                for block in self.block(child, marks):
                    flow.add_block(block)
            elif tag in _STRAY_TABLE_PARTS:
                self.note(f"unwrapped <{tag}> outside a table (content kept)")
                flow.boundary()
                self.walk(child.children, marks, flow, pre)
                flow.boundary()
            elif tag in _BLOCK_UNWRAP:
                if tag not in _SILENT_UNWRAP:
                    self.note(f"unwrapped <{tag}> (content kept)")
                flow.boundary()
                self.walk(child.children, marks, flow, pre)
                flow.boundary()
            elif tag == "wbr":
                continue
            else:
                self.note(f"unwrapped unsupported element <{tag}> (content kept)")
                self.walk(child.children, marks, flow, pre)

    def check_no_attrs(self, node: Node) -> None:
        for name, _ in node.attrs:
            self.drop_attr(name, node.tag)

    # -- blocks ----------------------------------------------------------------
    def block(self, node: Node, marks: Marks) -> list[_Block]:
        """Convert one block-level element; may yield several blocks (lifting)."""
        tag = node.tag
        if tag == "li" or tag in CONTAINERS:
            if tag == "li":
                return [_Block("ul", {}, [self.container(node, marks)])]
            return [self.container(node, marks)]
        if tag in TEXT_BLOCKS:
            return self.text_block(node, marks)
        if tag in LISTS:
            return [self.list_block(node, marks)]
        if tag == "table":
            return [self.table(node, marks)]
        if tag == "hr":
            self.check_no_attrs(node)
            return [_Block("hr")]
        raise AssertionError(tag)  # pragma: no cover

    def text_block(self, node: Node, marks: Marks) -> list[_Block]:
        attrs = self.block_attrs(node, node.tag)
        pre = node.tag == "pre"
        children = list(node.children)
        if pre and children and isinstance(children[0], str) and children[0].startswith("\n"):
            children[0] = children[0][1:]  # HTML drops a newline right after <pre>
        flow = _Flow()
        self.walk(children, marks, flow, pre)
        result: list[_Block] = []
        lifted = False
        for item in flow.finish():
            if isinstance(item, _Block):
                lifted = True
                result.append(item)
            else:
                run = _clean_run(item, pre)
                if run:
                    result.append(_Block(node.tag, dict(attrs), [run]))
        if not result and not lifted:
            result.append(_Block(node.tag, attrs, [[]]))
        return result

    def container(self, node: Node, marks: Marks) -> _Block:
        attrs = self.block_attrs(node, node.tag)
        flow = _Flow()
        self.walk(node.children, marks, flow, False)
        children: list[_Block | Run] = []
        for item in flow.finish():
            if isinstance(item, _Block):
                children.append(item)
            else:
                run = _clean_run(item, False)
                if run:
                    children.append(run)
        # Two inline runs side by side (split by an unwrapped block such as a
        # <div>) would merge when rendered: such runs become paragraphs.
        is_run = [not isinstance(child, _Block) for child in children] + [False]
        for index, child in enumerate(children):
            after_run = index > 0 and is_run[index - 1]
            if is_run[index] and (after_run or is_run[index + 1]):
                children[index] = _Block("p", {}, [child])
        return _Block(node.tag, attrs, children or [[]])

    def list_block(self, node: Node, marks: Marks) -> _Block:
        attrs = self.block_attrs(node, node.tag)
        items: list[Node] = []
        for child in node.children:
            if isinstance(child, Node) and child.tag == "li":
                items.append(child)
            elif isinstance(child, str) and not _COLLAPSIBLE.sub("", child):
                continue
            elif items:
                items[-1] = Node("li", items[-1].attrs, [*items[-1].children, child])
            else:
                items.append(Node("li", [], [child]))
        return _Block(node.tag, attrs, [self.container(item, marks) for item in items])

    def table(self, node: Node, marks: Marks) -> _Block:
        attrs = self.block_attrs(node, "table")
        children: list[_Block | Run] = []
        loose_rows: list[Node | str] = []

        def flush_rows() -> None:
            if loose_rows:
                children.append(self.section(Node("tbody", [], list(loose_rows)), marks))
                loose_rows.clear()

        for child in node.children:
            if isinstance(child, str):
                if _COLLAPSIBLE.sub("", child):
                    self.note("dropped text inside <table> outside a cell")
                continue
            if child.tag in TABLE_SECTIONS:
                flush_rows()
                children.append(self.section(child, marks))
            elif child.tag in ("tr", "td", "th"):
                loose_rows.append(child)
            elif child.tag == "caption":
                flush_rows()
                parts = self.text_block(child, marks)
                captions = [part for part in parts if part.tag == "caption"]
                if len(parts) != len(captions[:1]):
                    self.note("dropped content of <caption> beyond its first line of text")
                children.extend(captions[:1])
            elif child.tag in ("colgroup", "col"):
                self.note(f"dropped <{child.tag}> (column widths)")
            else:
                self.note(f"dropped <{child.tag}> inside <table> outside a cell")
        flush_rows()
        return _Block("table", attrs, children)

    def section(self, node: Node, marks: Marks) -> _Block:
        self.check_no_attrs(node)
        rows: list[_Block | Run] = []
        loose_cells: list[Node | str] = []

        def flush_cells() -> None:
            if loose_cells:
                rows.append(self.row(Node("tr", [], list(loose_cells)), marks))
                loose_cells.clear()

        for child in node.children:
            if isinstance(child, Node) and child.tag == "tr":
                flush_cells()
                rows.append(self.row(child, marks))
            elif isinstance(child, Node) and child.tag in ("td", "th"):
                loose_cells.append(child)
            elif isinstance(child, str) and not _COLLAPSIBLE.sub("", child):
                continue
            else:
                self.note(f"dropped content inside <{node.tag}> outside a cell")
        flush_cells()
        return _Block(node.tag, {}, rows)

    def row(self, node: Node, marks: Marks) -> _Block:
        self.check_no_attrs(node)
        cells: list[_Block | Run] = []
        for child in node.children:
            if isinstance(child, Node) and child.tag in ("td", "th"):
                cells.append(self.container(child, marks))
            elif isinstance(child, str) and not _COLLAPSIBLE.sub("", child):
                continue
            else:
                self.note("dropped content inside <tr> outside a cell")
        return _Block("tr", {}, cells)

    def document(self, root: Node) -> list[_Block]:
        flow = _Flow()
        self.walk(root.children, {}, flow, False)
        blocks: list[_Block] = []
        for item in flow.finish():
            if isinstance(item, _Block):
                blocks.append(item)
            else:
                run = _clean_run(item, False)
                if run:
                    blocks.append(_Block("p", {}, [run]))
        return blocks


def _parse_style(style: str) -> list[tuple[str, str]]:
    result = []
    for declaration in style.split(";"):
        if ":" not in declaration:
            continue
        prop, value = declaration.split(":", 1)
        prop = prop.strip().lower()
        value = value.strip()
        if prop:
            result.append((prop, value))
    return result


# --------------------------------------------------------------------------
# Writing the model into Y types
# --------------------------------------------------------------------------


def _write_run(text: XmlText, run: Run) -> None:
    previous: Marks = {}
    for content, marks in run:
        attrs: dict[str, Any] = dict(marks)
        for key in previous:
            if key not in attrs:
                attrs[key] = None  # explicitly end marks that are active to the left
        if isinstance(content, str):
            text.insert(len(text), content, attrs or None)
        else:
            text.insert_embed(len(text), content, attrs or None)
        previous = marks


def _write_block(parent: XmlFragment | XmlElement, block: _Block) -> None:
    element = parent.children.append(XmlElement(block.tag, dict(sorted(block.attrs.items()))))
    for child in block.children:
        if isinstance(child, _Block):
            _write_block(element, child)
        else:
            _write_run(element.children.append(XmlText()), child)


# --------------------------------------------------------------------------
# Rendering Y types as canonical HTML
# --------------------------------------------------------------------------


def _escape_text(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\xa0", "&nbsp;")
    )


def _escape_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\xa0", "&nbsp;")
    )


def _clean_dict(value: Any, spec: dict[str, Validator]) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    result = {}
    for key, check in spec.items():
        raw = value.get(key)
        if isinstance(raw, str):
            clean = check(raw)
            if clean is not None:
                result[key] = clean
    return result


def _render_marks(attrs: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The valid marks of a chunk, canonical order, as comparable (name, value) pairs."""
    if not attrs:
        return []
    result: list[tuple[str, Any]] = []
    for name in MARKS:
        value = attrs.get(name)
        if name == "link":
            if isinstance(value, str):
                value = {"href": value}
            link = _clean_dict(value, LINK_ATTRS)
            if "href" in link:
                result.append(("link", tuple(link.items())))
        elif value is True:
            result.append((name, True))
    return result


def _open_mark(name: str, value: Any) -> str:
    if name == "link":
        attrs = "".join(f' {key}="{_escape_attr(val)}"' for key, val in value)
        return f"<a{attrs}>"
    return _MARK_OPEN[name]


def _render_image(value: Any) -> str:
    img = _clean_dict(value.get("img") if isinstance(value, dict) else None, IMG_ATTRS)
    if "src" not in img:
        return ""
    return "<img" + "".join(f' {key}="{_escape_attr(val)}"' for key, val in img.items()) + ">"


def _render_inline(chunks: list[tuple[Any, dict[str, Any] | None]], pre: bool) -> str:
    # A flat view of the characters decides where a space would collapse.
    flat = "".join(c if isinstance(c, str) else "\ufffc" for c, _ in chunks)
    out: list[str] = []
    if pre and flat.startswith("\n"):
        out.append("\n")  # survive the newline that HTML drops after <pre>
    stack: list[tuple[str, Any]] = []
    position = 0
    for content, attrs in chunks:
        size = len(content) if isinstance(content, str) else 1
        if size == 0:
            continue
        wanted = _render_marks(attrs)
        keep = 0
        while keep < len(stack) and keep < len(wanted) and stack[keep] == wanted[keep]:
            keep += 1
        while len(stack) > keep:
            out.append(_MARK_CLOSE[stack.pop()[0]])
        for name, value in wanted[keep:]:
            out.append(_open_mark(name, value))
            stack.append((name, value))
        if not isinstance(content, str):
            out.append(_render_image(content))
        elif pre:
            out.append(_escape_text(content))
        else:
            for offset, ch in enumerate(content):
                index = position + offset
                if ch == "\n":
                    out.append("<br>")
                elif ch == " " and (
                    index == 0
                    or index == len(flat) - 1
                    or flat[index - 1] in " \n"
                    or flat[index + 1] == "\n"
                ):
                    out.append("&nbsp;")
                else:
                    out.append(_escape_text(ch))
        position += size
    while stack:
        out.append(_MARK_CLOSE[stack.pop()[0]])
    return "".join(out)


def _element_attrs(element: XmlElement, tag: str) -> str:
    stored = dict(element.attributes)
    parts: list[str] = []
    for name, check in ELEMENT_ATTRS.get(tag, {}).items():
        value = stored.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(int(value))
        if isinstance(value, str) and (clean := check(value)) is not None:
            parts.append(f' {name}="{_escape_attr(clean)}"')
    styles: list[str] = []
    for prop, check in ELEMENT_STYLES.get(tag, {}).items():
        value = stored.get(prop)
        if isinstance(value, str) and (clean := check(value)) is not None:
            styles.append(f"{prop}: {clean};")
    if styles:
        parts.append(f' style="{_escape_attr(" ".join(styles))}"')
    return "".join(parts)


def _render_node(node: Any, pre: bool) -> str:
    if isinstance(node, XmlText):
        return _render_inline(node.diff(), pre)
    if not isinstance(node, XmlElement):
        return ""
    tag = (node.tag or "").lower()
    if tag == "hr":
        return "<hr>"
    inner_pre = pre or tag == "pre"
    inner = "".join(_render_node(child, inner_pre) for child in node.children)
    if tag not in MODEL_TAGS:
        return inner  # unknown element from a peer: render its content only
    return f"<{tag}{_element_attrs(node, tag)}>{inner}</{tag}>"


def fragment_to_html(fragment: XmlFragment) -> str:
    """Canonical HTML for the fragment: deterministic, escaped, whitelisted.

    Top-level blocks are separated by ``"\\n"``. Stray inline text at the top
    level (which the model does not produce) is rendered inside ``<p>``.
    """
    parts: list[str] = []
    for node in fragment.children:
        if isinstance(node, XmlText):
            parts.append(f"<p>{_render_node(node, False)}</p>")
        else:
            html = _render_node(node, False)
            if html:
                parts.append(html)
    return "\n".join(parts)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def content_root(doc: pycrdt.Doc) -> XmlFragment:
    """The document's rich-text root, the ``XmlFragment`` named :data:`ROOT_NAME`."""
    return doc.get(ROOT_NAME, type=XmlFragment)


def html_to_fragment(html: str, fragment: XmlFragment) -> list[str]:
    """Replace the fragment's content with ``html`` (one transaction).

    Never raises for any string. Returns human-readable notes about content the
    model cannot hold and that was dropped (or unwrapped), without duplicates.
    """
    notes: list[str] = []
    blocks = _Converter(notes).document(parse_html(html, notes))
    with fragment.doc.transaction():
        count = len(fragment.children)
        if count:
            del fragment.children[0:count]
        for block in blocks:
            _write_block(fragment, block)
    return notes


def normalize_html(html: str) -> str:
    """``html`` -> model (scratch document) -> canonical HTML: what the model keeps."""
    doc = pycrdt.Doc()
    fragment = content_root(doc)
    html_to_fragment(html, fragment)
    return fragment_to_html(fragment)


def append_paragraph(fragment: XmlFragment, text: str) -> None:
    """Append ``<p>text</p>`` (``"\\n"`` in ``text`` is a line break)."""
    with fragment.doc.transaction():
        paragraph = fragment.children.append(XmlElement("p"))
        paragraph.children.append(XmlText()).insert(0, text)


def _block_text(fragment: XmlFragment, block_index: int) -> XmlText:
    """The first ``XmlText`` of a top-level block (depth first), created if there is none."""
    block = fragment.children[block_index]
    if isinstance(block, XmlText):
        return block
    found = _first_text(block)
    if found is not None:
        return found
    return block.children.insert(0, XmlText())


def _first_text(node: Any) -> XmlText | None:
    for child in node.children:
        if isinstance(child, XmlText):
            return child
        if isinstance(child, XmlElement):
            found = _first_text(child)
            if found is not None:
                return found
    return None


def _to_units(text: XmlText, offset: int) -> int:
    """Convert a code-point offset (embeds count 1) into pycrdt's UTF-8 index."""
    units = 0
    remaining = offset
    for content, _ in text.diff():
        if remaining <= 0:
            break
        if isinstance(content, str):
            part = content[:remaining]
            units += len(part.encode("utf-8"))
            remaining -= len(part)
        else:
            units += 1
            remaining -= 1
    if remaining > 0:
        raise IndexError(f"offset {offset} is past the end of the text")
    return units


def insert_text(
    fragment: XmlFragment,
    block_index: int,
    offset: int,
    text: str,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Insert ``text`` into the first text of top-level block ``block_index``.

    ``offset`` counts code points (an image counts as one). The inserted text
    carries exactly ``attrs`` (marks; ``None`` means plain text): marks active
    to the left that are not in ``attrs`` are ended.
    """
    with fragment.doc.transaction():
        target = _block_text(fragment, block_index)
        index = _to_units(target, offset)
        explicit: dict[str, Any] = {name: None for name in MARKS}
        explicit.update(attrs or {})
        target.insert(index, text, explicit)


def format_text(
    fragment: XmlFragment, block_index: int, start: int, end: int, attrs: dict[str, Any]
) -> None:
    """Set marks on ``[start, end)`` (code points) of block ``block_index``'s first text.

    A mark set to ``None`` is removed.
    """
    with fragment.doc.transaction():
        target = _block_text(fragment, block_index)
        first = _to_units(target, start)
        last = _to_units(target, end)
        target.format(first, last, attrs)


def plain_text(fragment: XmlFragment) -> str:
    """The text content: one line per text block / inline run, ``<br>`` as ``"\\n"``."""
    lines: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, XmlText):
            lines.append("".join(c for c, _ in node.diff() if isinstance(c, str)))
        elif isinstance(node, XmlElement):
            for child in node.children:
                visit(child)

    for node in fragment.children:
        visit(node)
    return "\n".join(lines)
