"""Signing identity tokens with a private key (``tandem token sign``): development and scripts.

Production tokens come from the integrator's back end (``examples/`` has token
endpoints for Node, Python and PHP): it authenticates its own user, decides which
document and role they get, and signs. This module does the same for a developer
who holds the private key, so that a first token needs no back end.

Accepted keys are what ``tandem keys generate`` writes (a PKCS#8 PEM private key),
traditional ``RSA PRIVATE KEY`` / ``EC PRIVATE KEY`` PEM, and a private JWK. The
signature maths is joserfc's (on ``cryptography``); nothing here is hand-written
crypto. A token made here passes ``tandem token check`` for an API key that the
matching public key was added to: the default ``kid`` is the key's RFC 7638
thumbprint, which is the kid ``tandem keys add`` and ``tandem keys generate`` give it.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from tandem.auth.algorithms import SUPPORTED_ALGORITHMS, key_fits
from tandem.auth.claims import DOCUMENT_CLAIM, MAX_NUMERIC_DATE, MAX_SUB_LENGTH, ROLE_CLAIM, ROLES
from tandem.auth.key_import import (
    EC_CURVES,
    JWK_IMPORT_ERRORS,
    MAX_KID_LENGTH,
    MAX_RSA_BITS,
    MIN_RSA_BITS,
)
from tandem.errors import TandemError

DEFAULT_TTL = 600
# The algorithm a key signs with when none is asked for (RSA keys also do RS384/512, PS*).
_DEFAULT_ALG = {"RSA": "RS256", "P-256": "ES256", "P-384": "ES384", "P-521": "ES512",
                "Ed25519": "EdDSA"}  # fmt: skip

SIGNING_CODES: dict[str, str] = {
    "public_key": "a public key (or certificate) was given: signing needs the private key",
    "encrypted_key": "the private key is encrypted with a passphrase",
    "unrecognized_key": "the file is not a PEM private key or a private JWK",
    "unsupported_key": "a key type, curve or size that Tandem does not accept",
    "alg_mismatch": "the requested algorithm does not fit the key",
    "invalid_claim": "sub, document, role, ttl or kid has a value the server would refuse",
}


class SigningError(TandemError):
    """A token could not be signed. ``code`` is one of ``SIGNING_CODES``."""

    code = "signing"


def _fail(code: str, message: str) -> SigningError:
    return SigningError(message, code=code)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key ready for joserfc, with what ``tandem token sign`` needs to know."""

    key: RSAKey | ECKey | OKPKey
    public_jwk: dict[str, Any]  # kty + public members: what key_fits looks at
    default_alg: str
    kid: str  # the JWK's own kid, else the RFC 7638 thumbprint


_PUBLIC_HINT = (
    "this is a PUBLIC key: `tandem token sign` needs the PRIVATE key (e.g. NAME.private.pem "
    "from `tandem keys generate`); the public key is what `tandem keys add` registers"
)


def load_signing_key(text: str) -> SigningKey:
    """Parse a PEM private key or a private JWK (text) into a ``SigningKey``."""
    stripped = text.strip()
    if not stripped:
        raise _fail("unrecognized_key", "no key given (empty input)")
    if stripped.startswith("{"):
        return _from_jwk(stripped)
    if "-----BEGIN" not in stripped:
        raise _fail("unrecognized_key", "not a PEM private key or a private JWK")
    if "PRIVATE KEY-----" not in stripped:
        if "PUBLIC KEY-----" in stripped or "CERTIFICATE-----" in stripped:
            raise _fail("public_key", _PUBLIC_HINT)
        raise _fail("unrecognized_key", "a PEM file without a PRIVATE KEY block")
    if "ENCRYPTED PRIVATE KEY-----" in stripped or "Proc-Type: 4,ENCRYPTED" in stripped:
        raise _fail("encrypted_key", _ENCRYPTED_HINT)
    try:
        private = serialization.load_pem_private_key(stripped.encode("ascii", "replace"), None)
    except TypeError:
        raise _fail("encrypted_key", _ENCRYPTED_HINT) from None
    except (ValueError, UnsupportedAlgorithm) as exc:  # malformed, or an unknown key type
        raise _fail("unrecognized_key", f"cannot read the private key: {exc}") from None
    return _from_private_key(private)


_ENCRYPTED_HINT = (
    "the private key is encrypted: write an unencrypted copy for development with "
    "`openssl pkey -in KEY.pem -out plain.pem`"
)


def _from_private_key(private: Any, kid: str | None = None) -> SigningKey:
    if isinstance(private, rsa.RSAPrivateKey):
        bits = private.key_size
        if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
            raise _fail(
                "unsupported_key",
                f"RSA key of {bits} bits: Tandem accepts {MIN_RSA_BITS} to {MAX_RSA_BITS} bits",
            )
        key: RSAKey | ECKey | OKPKey = RSAKey.import_key(private)
        default = _DEFAULT_ALG["RSA"]
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        crv = EC_CURVES.get(private.curve.name)
        if crv is None:
            raise _fail(
                "unsupported_key",
                f"EC curve {private.curve.name} is not supported (use P-256, P-384 or P-521)",
            )
        key = ECKey.import_key(private)
        default = _DEFAULT_ALG[crv]
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        key = OKPKey.import_key(private)
        default = _DEFAULT_ALG["Ed25519"]
    else:
        raise _fail(
            "unsupported_key",
            f"{type(private).__name__.lstrip('_')} keys are not "
            "supported (use RSA, EC P-256/P-384/P-521 or Ed25519)",
        )
    public = key.as_dict(private=False)
    return SigningKey(key, public, default, kid if kid is not None else key.thumbprint())


def _from_jwk(text: str) -> SigningKey:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _fail("unrecognized_key", f"invalid JSON: {exc}") from None
    if not isinstance(value, dict) or "keys" in value:
        raise _fail("unrecognized_key", "expected one private JWK (a JSON object), not a set")
    if value.get("kty") == "oct":
        raise _fail(
            "unsupported_key",
            'symmetric (kty "oct") keys are refused: tokens are '
            "signed with an asymmetric private key",
        )
    if "d" not in value:
        raise _fail("public_key", _PUBLIC_HINT)
    kid = value.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise _fail("invalid_claim", "the JWK's kid must be a non-empty string")
    try:
        key = JWKRegistry.import_key(value)
    except JWK_IMPORT_ERRORS as exc:
        raise _fail("unrecognized_key", f"invalid private JWK: {exc}") from None
    private = getattr(key, "private_key", None)
    if private is None:
        raise _fail("unrecognized_key", "the JWK holds no usable private key")
    signing = _from_private_key(private, kid)
    if value.get("alg") is None:
        return signing
    alg = choose_algorithm(signing, value["alg"])  # the JWK's own alg must fit the key
    return SigningKey(signing.key, signing.public_jwk, alg, signing.kid)


def choose_algorithm(key: SigningKey, alg: str | None) -> str:
    """``alg`` if it fits the key, else an error; ``None``: the key's default algorithm."""
    if alg is None:
        return key.default_alg
    spec = SUPPORTED_ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if spec is None:
        raise _fail(
            "alg_mismatch",
            f"unsupported algorithm {alg!r}; accepted: {', '.join(SUPPORTED_ALGORITHMS)}",
        )
    if not key_fits(key.public_jwk, spec):
        kind = key.public_jwk["kty"] + (
            f"/{key.public_jwk['crv']}" if "crv" in key.public_jwk else ""
        )
        raise _fail(
            "alg_mismatch", f"alg {alg} does not fit this {kind} key (it signs {key.default_alg})"
        )
    return alg


def build_claims(
    sub: str,
    *,
    document: str | None = None,
    role: str | None = None,
    ttl: int = DEFAULT_TTL,
    now: int | None = None,
) -> dict[str, Any]:
    """``sub``, ``iat``, ``exp`` (= iat + ttl) and the optional Tiny RTC claims."""
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_LENGTH:
        raise _fail("invalid_claim", f"sub must be 1 to {MAX_SUB_LENGTH} characters")
    if document is not None and not document:
        raise _fail("invalid_claim", "document must be a non-empty document id")
    if role is not None and role not in ROLES:
        raise _fail("invalid_claim", f"role must be one of {', '.join(ROLES)}")
    issued = int(time.time()) if now is None else now
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise _fail("invalid_claim", "ttl must be a positive number of seconds")
    if issued + ttl > MAX_NUMERIC_DATE:
        raise _fail("invalid_claim", "ttl puts exp after the year 9999")
    claims: dict[str, Any] = {"sub": sub, "iat": issued, "exp": issued + ttl}
    if document is not None:
        claims[DOCUMENT_CLAIM] = document
    if role is not None:
        claims[ROLE_CLAIM] = role
    return claims


def sign_token(
    key: SigningKey, claims: dict[str, Any], *, alg: str | None = None, kid: str | None = None
) -> str:
    """A compact JWS over ``claims`` with header ``{alg, kid, typ: JWT}``."""
    chosen = choose_algorithm(key, alg)
    use_kid = key.kid if kid is None else kid
    if not use_kid or len(use_kid) > MAX_KID_LENGTH:
        raise _fail("invalid_claim", f"kid must be 1 to {MAX_KID_LENGTH} characters")
    header = {"alg": chosen, "kid": use_kid, "typ": "JWT"}
    with warnings.catch_warnings():
        # joserfc warns that RFC 9864 deprecates the name "EdDSA"; it is the name
        # Tandem's verifier (and Tiny's) accepts for Ed25519, so it is used on purpose.
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        return jwt.encode(header, claims, key.key, algorithms=[chosen])
