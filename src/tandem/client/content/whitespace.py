"""The one whitespace rule (docs/content-model.md §4).

Shared by the parser, the renderer and the JavaScript twin
(``clients/tinymce/src/content/whitespace.js``).

Model text is what the user sees. Outside ``<pre>``, HTML collapses ASCII whitespace, so a
space that would collapse — first or last of a run, after a space or a line break, before
a line break — is rendered as U+00A0; reading turns a U+00A0 in such a place back into a
space, and so it does with a U+00A0 next to another space or U+00A0 (browsers type
``"a&nbsp; b"`` for two spaces: they are spaces). A U+00A0 between two other characters
(``"10&nbsp;km"``) stays. Both directions change one character for one character, so
positions never shift, and reading what was rendered gives the model back.
"""

from __future__ import annotations

import re

NBSP = "\u00a0"
OBJECT = "\ufffc"  # stands for an embed in flat text

_ASCII_WS = re.compile("[\t\n\f\r ]+")


def collapsible(prev: str | None, next_: str | None, i: int, n: int) -> bool:
    """Would a space at ``i`` collapse, given the model characters around it?"""
    return i == 0 or i == n - 1 or prev == " " or prev == "\n" or next_ == "\n"


def _at(text: str | list[str], i: int) -> str | None:
    return text[i] if 0 <= i < len(text) else None


def display_text(flat: str) -> str:
    """Model text -> displayed text (spaces that HTML would collapse become U+00A0)."""
    n = len(flat)
    out = []
    for i, ch in enumerate(flat):
        shown = ch == " " and collapsible(_at(flat, i - 1), _at(flat, i + 1), i, n)
        out.append(NBSP if shown else ch)
    return "".join(out)


def _is_space(ch: str | None) -> bool:
    return ch == " " or ch == NBSP


def model_text(flat: str) -> str:
    """Displayed text -> model text.

    A U+00A0 where a space would collapse, or next to another space, is a space.
    """
    n = len(flat)
    out: list[str] = []
    for i, ch in enumerate(flat):
        prev = _at(out, i - 1)
        nxt = _at(flat, i + 1)
        space = ch == NBSP and (collapsible(prev, nxt, i, n) or _is_space(prev) or _is_space(nxt))
        out.append(" " if space else ch)
    return "".join(out)


def collapse_source(text: str) -> str:
    """HTML source text outside ``<pre>``: every run of ASCII whitespace is one space."""
    return _ASCII_WS.sub(" ", text)
