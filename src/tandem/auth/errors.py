"""Errors of the identity layer.

``AuthError`` is raised for every token that cannot be accepted; ``KeyImportError``
for every public key that cannot be registered. Each has a stable ``code``. The
``message`` of the seed's errors is used word for word; ``detail`` (never part of
the message) says more for logs and ``tandem token inspect``.
"""

from __future__ import annotations

from tandem.errors import TandemError

# code -> message, in the order the verifier checks them (docs/troubleshooting.md).
AUTH_MESSAGES: dict[str, str] = {
    "token_too_large": "JWT is too large",
    "not_enough_parts": "Not enough parts",
    "too_many_parts": "Too many parts",
    "bad_base64": "A part was not correctly base64 encoded",
    "bad_json": "A part was not valid JSON",
    "missing_alg": "The header part does not specify an algorithm",
    "missing_claims": "The payload part does not contain all required claims",
    "unsupported_alg": "Unsupported JWT signature algorithm",
    "unsupported_header": "The header part requires an unsupported JWT extension",
    "jwks_unavailable": "Unable to retrieve JWK set",
    "bad_signature": "JWT signature is invalid",
    "invalid_claim": "A claim in the payload part has an invalid type or value",
    "issued_in_future": "JWT was issued in the future",
    "not_yet_valid": "JWT is not yet valid",
    "expired": "JWT has expired",
    "wrong_document": "JWT is not valid for this document",
    "invalid_role": 'JWT role claim must be "editor" or "viewer"',
}


class AuthError(TandemError):
    """A token was refused. ``code`` is one of ``AUTH_MESSAGES``."""

    code = "auth"

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(AUTH_MESSAGES[code], code=code)
        self.detail = detail

    def __repr__(self) -> str:
        return f"AuthError({self.code!r}, {self.detail!r})"


class KeyImportError(TandemError):
    """A public key could not be registered (the message says why and what to do)."""

    code = "key_import"


KEY_IMPORT_CODES: dict[str, str] = {
    "private_key": "a private key was given; only public keys are accepted (nothing stored)",
    "weak_key": "RSA key shorter than 2048 bits",
    "symmetric_key": "a symmetric (kty oct) key was given; RTC needs asymmetric keys",
    "unsupported_key": "unknown kty, unsupported curve, or a key type not usable for signing",
    "wrong_use": "the JWK says use=enc, or key_ops without verify",
    "alg_mismatch": "the JWK's alg is unsupported or does not fit the key",
    "invalid_key": "the key material is malformed (bad base64, invalid EC point, ...)",
    "unrecognized_format": "the text is not PEM, base64 DER, a JWK or a JWK set",
    "duplicate_kid": "two keys in one import share a kid",
    "no_keys": "the input contains no key",
}
