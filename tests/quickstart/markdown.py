"""Fenced code blocks of a Markdown section, as a reader copies them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
_SAVE_AS = re.compile(r"[Ss]ave (?:this|it) as `([\w.-]+)`:\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    save_as: str | None  # "Save this as `NAME`:" right before the block


def section(text: str, heading: str) -> str:
    """The body of ``## heading`` up to the next heading of level 2 (or the end)."""
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(r"^## ", text[start:], re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def blocks(text: str) -> list[Block]:
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n")
        last_line = before.rsplit("\n", 1)[-1]
        saved = _SAVE_AS.search(last_line)
        found.append(Block(match.group(1), match.group(2), saved.group(1) if saved else None))
    return found
