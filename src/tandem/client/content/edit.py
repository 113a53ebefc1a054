"""Small edits for the SDK: append a paragraph, insert text, set marks.

Offsets count code points, an embed counting one (pycrdt itself counts ``XmlText``
positions in UTF-8 bytes; JavaScript clients count UTF-16 units — the CRDT does not
care). Marks are written in their current names (docs/content-model.md §1); a
version-1 name (``bold``, ``link``…) is accepted and written as its current one.
"""

from __future__ import annotations

from typing import Any

from pycrdt import XmlElement, XmlFragment, XmlText

from tandem.client.content.model import runs_of
from tandem.client.content.sanitize import check_attrs
from tandem.client.content.schema import LEGACY, is_mark_tag
from tandem.client.content.ydoc import read_fragment, utf8_units, well_formed

# tag -> the version-1 names that read as it (so that removing a mark removes them too)
_ALIASES: dict[str, list[str]] = {}
for _name, (_tag, _value) in LEGACY["marks"].items():
    _ALIASES.setdefault(_tag, []).append(_name)
_ALIASES.setdefault("a", []).append(LEGACY["link_mark"])


def _resolve(name: str, value: Any) -> tuple[str, Any]:
    """A mark name and value as given by a caller -> (current tag, value)."""
    if is_mark_tag(name):
        return name, value
    if name == LEGACY["link_mark"]:
        return "a", {"href": value} if isinstance(value, str) else value
    if name in LEGACY["marks"]:
        tag, legacy_value = LEGACY["marks"][name]
        if value is None:
            return tag, None
        return tag, True if legacy_value is None else legacy_value
    raise ValueError(f"{name!r} is not a mark (see 'marks' in schema.json)")


def write_marks(attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Formatting attributes for marks given as ``{name: True | {attr: value} | None}``.

    None removes a mark (its version-1 names included). Values are checked like values
    read from a collaborator; a mark that keeps no meaning (a ``span`` without
    attributes) is left out.
    """
    out: dict[str, Any] = {}
    for name, value in (attrs or {}).items():
        tag, value = _resolve(name, value)
        for alias in _ALIASES.get(tag, ()):
            out[alias] = None
        if value is None:
            out[tag] = None
            continue
        if isinstance(value, dict):
            clean = check_attrs(tag, value)
            value = clean or True
        if value is True and tag in ("span", "font"):
            continue
        if value is True or isinstance(value, dict):
            out[tag] = value
    return out


def _first_text(node: XmlElement | XmlFragment) -> XmlText | None:
    for child in node.children:
        if isinstance(child, XmlText):
            return child
        if isinstance(child, XmlElement):
            found = _first_text(child)
            if found is not None:
                return found
    return None


def block_text(fragment: XmlFragment, block_index: int) -> XmlText:
    """The first ``XmlText`` of a top-level block (depth first), created if there is none."""
    node = fragment.children[block_index]
    if isinstance(node, XmlText):
        return node
    found = _first_text(node)
    if found is not None:
        return found
    return node.children.insert(0, XmlText())


def to_units(text: XmlText, offset: int) -> int:
    """A code-point offset (an embed counts one) -> pycrdt's index in ``text``."""
    if offset < 0:
        raise IndexError(f"offset {offset} is negative")
    units = 0
    remaining = offset
    for content, _ in text.diff():
        if remaining <= 0:
            break
        if isinstance(content, str):
            part = content[:remaining]
            units += utf8_units(part)
            remaining -= len(part)
        else:
            units += 1
            remaining -= 1
    if remaining > 0:
        raise IndexError(f"offset {offset} is past the end of the text")
    return units


def append_paragraph(fragment: XmlFragment, text: str) -> None:
    """Append ``<p>text</p>`` (``"\\n"`` in ``text`` is a line break)."""
    with fragment.doc.transaction():
        paragraph = fragment.children.append(XmlElement("p"))
        paragraph.children.append(XmlText()).insert(0, well_formed(text), {})


def insert_text(
    fragment: XmlFragment,
    block_index: int,
    offset: int,
    text: str,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Insert ``text`` into the first run of top-level block ``block_index``.

    ``offset`` counts code points. The text carries exactly the marks ``attrs`` (None:
    plain text); marks active to the left are not inherited.
    """
    with fragment.doc.transaction():
        target = block_text(fragment, block_index)
        marks = {k: v for k, v in write_marks(attrs).items() if v is not None}
        # pycrdt ends every format of the left neighbour that the mapping does not name.
        target.insert(to_units(target, offset), well_formed(text), well_formed(marks))


def format_text(
    fragment: XmlFragment, block_index: int, start: int, end: int, attrs: dict[str, Any]
) -> None:
    """Set marks on ``[start, end)`` (code points) of block ``block_index``'s first run.

    A mark set to None is removed; a value replaces the mark's previous value.
    """
    with fragment.doc.transaction():
        target = block_text(fragment, block_index)
        first = to_units(target, start)
        last = to_units(target, end)
        target.format(first, last, well_formed(write_marks(attrs)))


def plain_text(fragment: XmlFragment) -> str:
    """The text content: one line per run, ``<br>`` as a newline, embeds left out."""
    return "\n".join(
        "".join(s["text"] for s in r["run"] if "text" in s)
        for r in runs_of(read_fragment(fragment))
    )
