"""Constants and claim builders shared by the auth tests."""

from __future__ import annotations

from typing import Any

NOW = 1_750_000_000.0
API_KEY = "ak_test"


def claims(**extra: Any) -> dict[str, Any]:
    """Valid claims at NOW; pass ``name=...`` (Ellipsis) to drop a claim."""
    base: dict[str, Any] = {"sub": "user-1", "exp": NOW + 600, "iat": NOW - 5}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not ...}
