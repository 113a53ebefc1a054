"""Splitting a compact JWS and decoding its parts, strictly.

Rules (docs/troubleshooting.md):

* base64url per RFC 7515 §2: alphabet ``A-Z a-z 0-9 - _`` only, no padding, no
  whitespace, length % 4 != 1, and the unused trailing bits must be zero (the
  canonical encoding), so every token has exactly one spelling.
* JSON: UTF-8 (no BOM), an object at the top level, no duplicate member names,
  no ``NaN``/``Infinity`` literals, bounded nesting.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from tandem.auth.errors import AuthError

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class TokenParts:
    """The three base64url parts of a compact token, still encoded."""

    header: str
    payload: str
    signature: str

    @property
    def signing_input(self) -> bytes:
        return f"{self.header}.{self.payload}".encode("ascii")


def split_token(token: str | bytes, max_bytes: int) -> TokenParts:
    """Size check first (before any decoding), then the part count."""
    if isinstance(token, bytes | bytearray):
        if len(token) > max_bytes:
            raise AuthError("token_too_large", f"{len(token)} bytes > limit {max_bytes}")
        token = bytes(token).decode("latin-1")  # bijective; non-ASCII fails base64 below
    elif not isinstance(token, str):
        raise AuthError("not_enough_parts", f"a token must be a string, not {type(token).__name__}")
    if len(token) > max_bytes:
        raise AuthError("token_too_large", f"{len(token)} characters > limit {max_bytes}")
    count = token.count(".") + 1
    if count < 3:
        raise AuthError("not_enough_parts", f"{count} part(s), a JWT has 3")
    if count > 3:
        detail = f"{count} parts, a signed JWT has 3"
        if count == 5:
            detail += " (5 parts is an encrypted JWE, which RTC does not accept)"
        raise AuthError("too_many_parts", detail)
    header, payload, signature = token.split(".")
    return TokenParts(header, payload, signature)


def b64url_decode(part: str, name: str = "part") -> bytes:
    """Strict base64url without padding; raises AuthError('bad_base64')."""
    if not _B64URL.fullmatch(part):
        raise AuthError("bad_base64", f"the {name} contains characters outside base64url")
    if len(part) % 4 == 1:
        raise AuthError("bad_base64", f"the {name} has an impossible length ({len(part)})")
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex makes it unreachable
        raise AuthError("bad_base64", f"the {name}: {exc}") from None
    if b64url_encode(raw) != part:
        raise AuthError("bad_base64", f"the {name} is not canonically encoded (trailing bits)")
    return raw


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def parse_json_object(raw: bytes, name: str = "part") -> dict[str, Any]:
    """UTF-8 JSON object without duplicate names; raises AuthError('bad_json')."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthError("bad_json", f"the {name} is not UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise AuthError("bad_json", f"the {name}: {exc}") from None
    if not isinstance(value, dict):
        raise AuthError("bad_json", f"the {name} is JSON but not an object")
    return value


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """Header and payload decoded but NOT verified: never trust these values."""

    parts: TokenParts
    header: dict[str, Any]
    payload: dict[str, Any]
    signature: bytes


def decode_token(token: str | bytes, max_bytes: int) -> DecodedToken:
    """Steps 1-3: parts, base64 (all three parts), JSON (header, then payload)."""
    parts = split_token(token, max_bytes)
    header_raw = b64url_decode(parts.header, "header part")
    payload_raw = b64url_decode(parts.payload, "payload part")
    signature = b64url_decode(parts.signature, "signature part")
    header = parse_json_object(header_raw, "header part")
    payload = parse_json_object(payload_raw, "payload part")
    return DecodedToken(parts, header, payload, signature)
