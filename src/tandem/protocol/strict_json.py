"""Strict JSON for client frames: what every parser reads the same way, or nothing.

Refused (``ValueError``): invalid JSON, ``NaN``/``Infinity`` literals, numbers too
large to be finite (``1e999``), duplicate member names (different parsers would
read different values), nesting deeper than ``max_depth``, and strings holding
lone surrogates (``"\\ud800"`` is valid JSON but not encodable as UTF-8: echoed to
other clients it would break their frames).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32


class StrictJSONError(ValueError):
    """The text is not strict JSON; the message says why."""


def _reject_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"the number {text[:20]} is not finite")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictJSONError(f"duplicate member name {key[:40]!r}")
        result[key] = value
    return result


def _check_string(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StrictJSONError("a string holds a lone surrogate") from None


def check_tree(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Depth and string checks over a parsed value, iteratively (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise StrictJSONError(f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_string(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON; raises StrictJSONError (a ValueError)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise StrictJSONError("not valid UTF-8") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite,
        )
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise StrictJSONError(f"not valid JSON ({exc})") from None
    check_tree(value, max_depth)
    return value
