"""Claim checks: presence (step 5), types, times, document and role.

* ``sub`` (non-empty string, at most 1024 characters) and ``exp`` are required.
* ``exp``, ``nbf``, ``iat`` are NumericDates: an int or float, not a bool, finite,
  0 <= value <= 253402300799 (9999-12-31). Anything else is ``invalid_claim``;
  a present-but-wrong claim is never treated as absent.
* Times, with leeway L: ``iat > now + L`` -> issued_in_future; ``nbf > now + L``
  -> not_yet_valid; ``now >= exp + L`` -> expired (so a token is accepted up to,
  but not at, exactly L seconds after ``exp``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tandem.auth.errors import AuthError

DOCUMENT_CLAIM = "https://claims.tiny.cloud/rtc/document"
ROLE_CLAIM = "https://claims.tiny.cloud/rtc/role"
REQUIRED_CLAIMS = ("sub", "exp")
ROLES = ("editor", "viewer")
DEFAULT_ROLE = "editor"
MAX_NUMERIC_DATE = 253402300799
MAX_SUB_LENGTH = 1024


def require_claims(payload: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_CLAIMS if name not in payload]
    if missing:
        raise AuthError("missing_claims", f"missing: {', '.join(missing)} (required: sub, exp)")


def _numeric_date(payload: dict[str, Any], name: str) -> float | None:
    if name not in payload:
        return None
    value = payload[name]
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_NUMERIC_DATE
    )
    if not ok:
        raise AuthError(
            "invalid_claim",
            f'"{name}" must be a number of seconds since 1970 (got {_show(value)})',
        )
    return float(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class TypedClaims:
    sub: str
    exp: float
    nbf: float | None
    iat: float | None
    document: str | None
    role: Any  # checked by check_role


def typed_claims(payload: dict[str, Any]) -> TypedClaims:
    """Type checks of the claims Tandem reads (after the signature check)."""
    sub = payload["sub"]
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_LENGTH:
        raise AuthError(
            "invalid_claim",
            f'"sub" must be a non-empty string of at most {MAX_SUB_LENGTH} '
            f"characters (got {_show(sub)})",
        )
    exp = _numeric_date(payload, "exp")
    assert exp is not None
    nbf = _numeric_date(payload, "nbf")
    iat = _numeric_date(payload, "iat")
    document = payload.get(DOCUMENT_CLAIM)
    if DOCUMENT_CLAIM in payload and (not isinstance(document, str) or not document):
        raise AuthError(
            "invalid_claim",
            f'"{DOCUMENT_CLAIM}" must be a non-empty string (got {_show(document)})',
        )
    role = payload.get(ROLE_CLAIM, DEFAULT_ROLE)
    return TypedClaims(sub, exp, nbf, iat, document, role)


def check_times(claims: TypedClaims, now: float, leeway: float) -> None:
    if claims.iat is not None and claims.iat > now + leeway:
        raise AuthError(
            "issued_in_future",
            f"iat is {claims.iat - now:.0f} s in the future (leeway {leeway:g} s)",
        )
    if claims.nbf is not None and claims.nbf > now + leeway:
        raise AuthError(
            "not_yet_valid", f"nbf is {claims.nbf - now:.0f} s in the future (leeway {leeway:g} s)"
        )
    if now >= claims.exp + leeway:
        raise AuthError(
            "expired", f"exp is {now - claims.exp:.0f} s in the past (leeway {leeway:g} s)"
        )


def check_document(claims: TypedClaims, document_id: str | None) -> None:
    if document_id is not None and claims.document is not None and claims.document != document_id:
        raise AuthError(
            "wrong_document",
            f"the token is for document {claims.document!r}, not {document_id!r}",
        )


def check_role(claims: TypedClaims) -> str:
    role = claims.role
    if not isinstance(role, str) or role not in ROLES:
        raise AuthError("invalid_role", f'"{ROLE_CLAIM}" is {_show(role)}')
    return role
