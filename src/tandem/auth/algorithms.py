"""The accepted signature algorithms, which keys fit them, and the signature check.

Only asymmetric algorithms are accepted. Signature maths is done by joserfc (on
top of ``cryptography``); this module only decides *which* key may be tried for
*which* algorithm, so that e.g. an RSA key is never used for ES256 and no key is
ever used as an HMAC secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

from tandem.auth.errors import AuthError


@dataclass(frozen=True, slots=True)
class AlgorithmSpec:
    name: str
    kty: str
    crv: str | None  # required curve for EC/OKP keys
    signature_bytes: int | None = None  # exact raw signature length (ECDSA r||s, EdDSA)
    order: int | None = None  # ECDSA group order (r and s must be in [1, order-1])


_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P384_N = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
    "581A0DB248B0A77AECEC196ACCC52973",
    16,
)
_P521_N = int(
    "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
    "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
    16,
)

SUPPORTED_ALGORITHMS: dict[str, AlgorithmSpec] = {
    "RS256": AlgorithmSpec("RS256", "RSA", None),
    "RS384": AlgorithmSpec("RS384", "RSA", None),
    "RS512": AlgorithmSpec("RS512", "RSA", None),
    "PS256": AlgorithmSpec("PS256", "RSA", None),
    "PS384": AlgorithmSpec("PS384", "RSA", None),
    "PS512": AlgorithmSpec("PS512", "RSA", None),
    "ES256": AlgorithmSpec("ES256", "EC", "P-256", 64, _P256_N),
    "ES384": AlgorithmSpec("ES384", "EC", "P-384", 96, _P384_N),
    "ES512": AlgorithmSpec("ES512", "EC", "P-521", 132, _P521_N),
    "EdDSA": AlgorithmSpec("EdDSA", "OKP", "Ed25519", 64),
}

# Header parameters this verifier understands (RFC 7515 §4.1). ``jwk``, ``jku``,
# ``x5u``, ``x5c``, ``x5t`` are understood to the extent that they are ignored:
# keys come only from the API key's JWK set.
_KNOWN_CRIT: frozenset[str] = frozenset()  # no extension is implemented


def require_alg(header: dict[str, Any]) -> None:
    """Step 4: ``alg`` absent, ``null`` or ``""`` -> missing_alg.

    Any other value that is not exactly one of ``SUPPORTED_ALGORITHMS``
    (case-sensitive, so ``none``, ``NONE``, ``HS256``, ``rs256``, numbers...) is
    refused later by ``supported_algorithm`` (step 6, unsupported_alg).
    """
    alg = header.get("alg")
    if alg is None or alg == "":
        raise AuthError("missing_alg", 'the header has no "alg" member')


def supported_algorithm(header: dict[str, Any]) -> AlgorithmSpec:
    alg = header.get("alg")
    spec = SUPPORTED_ALGORITHMS.get(alg) if isinstance(alg, str) else None
    if spec is None:
        shown = alg if isinstance(alg, str) else repr(alg)
        raise AuthError(
            "unsupported_alg",
            f"alg {shown!r}; accepted: {', '.join(SUPPORTED_ALGORITHMS)}",
        )
    return spec


def check_extensions(header: dict[str, Any]) -> str | None:
    """``crit``/``b64``/``kid`` checks; returns the kid (an opaque string) or None."""
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
            raise AuthError("unsupported_header", '"crit" must be a non-empty list of names')
        unknown = [c for c in crit if c not in _KNOWN_CRIT]
        if unknown:
            raise AuthError(
                "unsupported_header", f"critical extension(s) {unknown} not implemented"
            )
    if "b64" in header and header["b64"] is not True:
        raise AuthError("unsupported_header", 'unencoded payloads ("b64": false) are not accepted')
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise AuthError("unsupported_header", '"kid" must be a non-empty string')
    return kid


def key_fits(jwk: dict[str, Any], spec: AlgorithmSpec) -> bool:
    """May this public JWK be tried for this algorithm?"""
    if jwk.get("kty") != spec.kty:
        return False
    if spec.crv is not None and jwk.get("crv") != spec.crv:
        return False
    if jwk.get("alg") not in (None, spec.name):
        return False
    return jwk.get("use") in (None, "sig")


def _ecdsa_scalars_in_range(signature: bytes, spec: AlgorithmSpec) -> bool:
    assert spec.order is not None
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    return 0 < r < spec.order and 0 < s < spec.order


def signature_valid(spec: AlgorithmSpec, key: Key, signing_input: bytes, signature: bytes) -> bool:
    """Verify with joserfc. ``key`` is a joserfc public key that ``key_fits`` the alg.

    ECDSA signatures must be raw ``r || s`` of the exact length (a DER signature
    is refused) with 0 < r, s < n; EdDSA signatures are exactly 64 bytes.
    """
    if spec.signature_bytes is not None and len(signature) != spec.signature_bytes:
        return False
    if spec.order is not None and not _ecdsa_scalars_in_range(signature, spec):
        return False
    algorithm = JWSRegistry.algorithms[spec.name]
    try:
        algorithm.check_key(key)
        return bool(algorithm.verify(signing_input, signature, key))
    except (JoseError, ValueError, TypeError):  # a key that does not fit: a failed check
        return False
