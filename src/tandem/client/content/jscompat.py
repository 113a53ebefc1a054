"""What JavaScript's string and regex primitives mean, spelled out for Python.

The model must come out identical in both languages, so where JavaScript and Python
disagree on a primitive the JavaScript meaning is written here once:

* ``\\s`` and ``String.prototype.trim`` (Python's ``str.isspace`` also counts U+001C–U+001F
  and U+0085, and not U+FEFF);
* ``length`` and sort order count UTF-16 code units (Python counts code points);
* ``$`` at the end of a pattern matches only at the end (Python's also before a final
  newline);
* ``String(number)`` of a number read from Yjs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

#: JavaScript's ``\\s``: WhiteSpace and LineTerminator of ECMAScript.
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TRIM = re.compile(f"^[{JS_SPACE}]+|[{JS_SPACE}]+\\Z")
_SPACES = re.compile(f"[{JS_SPACE}]+")


def js_trim(text: str) -> str:
    """``String.prototype.trim``."""
    return _TRIM.sub("", text)


def js_split_space(text: str) -> list[str]:
    """``text.split(/\\s+/)`` (empty strings kept, as in JavaScript)."""
    return _SPACES.split(text)


def js_collapse_space(text: str) -> str:
    """``text.replace(/\\s+/g, ' ')``."""
    return _SPACES.sub(" ", text)


def u16len(text: str) -> int:
    """``text.length`` in JavaScript: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def u16key(text: str) -> bytes:
    """Sort key giving JavaScript's default string order (by UTF-16 code unit)."""
    return text.encode("utf-16-be", "surrogatepass")


def js_sorted(keys: Iterable[str]) -> list[str]:
    """``Object.keys(...).sort()``."""
    return sorted(keys, key=u16key)


def js_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A JavaScript regex source (of the subset both languages share) for Python.

    A final ``$`` becomes ``\\Z``: in Python ``$`` also matches before a trailing newline,
    which would let ``"location\\n"`` pass an identifier pattern.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, flags)


def js_number_string(value: float) -> str:
    """``String(Math.trunc(value))`` for a finite number."""
    whole = math.trunc(value)
    if abs(whole) < 1e21:
        return str(int(whole))
    return repr(float(whole))  # JavaScript switches to exponent notation here: "1e+21"
